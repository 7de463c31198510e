//go:build unix

package msmtest

import (
	"os"
	"syscall"
)

var (
	stopSignal os.Signal = syscall.SIGSTOP
	contSignal os.Signal = syscall.SIGCONT
	// warmSignal makes memcached save its memory file's metadata and exit.
	warmSignal os.Signal = syscall.SIGUSR1
)
