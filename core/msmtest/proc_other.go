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

// listening cannot be checked here: Start probes the port right away.
func listening(pid, port int) bool { return true }
