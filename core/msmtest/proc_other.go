//go:build !linux

package msmtest

import (
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// waitStopped gives the kernel a moment to stop the process; only Linux
// lets us check.
func waitStopped(int) { time.Sleep(10 * time.Millisecond) }
