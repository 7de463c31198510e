//go:build unix

package msmtest

import (
	"os"
	"syscall"
)

var (
	stopSignal os.Signal = syscall.SIGSTOP
	contSignal os.Signal = syscall.SIGCONT
)
