//go:build !unix

package msmtest

import "os"

// Pause and Resume need SIGSTOP and SIGCONT, which only Unix has.
var stopSignal, contSignal os.Signal
