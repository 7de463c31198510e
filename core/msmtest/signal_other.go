//go:build !unix

package msmtest

import "os"

// Pause and Resume need SIGSTOP and SIGCONT, and WarmRestart SIGUSR1,
// which only Unix has.
var stopSignal, contSignal, gracefulSignal os.Signal
