//go:build unix

package msmtest

import (
	"os"
	"syscall"
)

var (
	stopSignal os.Signal = syscall.SIGSTOP
	contSignal os.Signal = syscall.SIGCONT
	// gracefulSignal makes memcached save its metadata and exit, for a
	// warm restart.
	gracefulSignal os.Signal = syscall.SIGUSR1
)
