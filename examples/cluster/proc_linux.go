package main

import "syscall"

// sysProcAttr makes the kernel kill memcached when the demo dies without
// cleaning up (kill -9 of the demo, a crash), so no orphan keeps a port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
