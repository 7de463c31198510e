//go:build !linux

package main

import "syscall"

// sysProcAttr: only Linux can tie memcached's life to the demo's; elsewhere
// the demo kills its memcached processes when it exits normally.
func sysProcAttr() *syscall.SysProcAttr { return nil }
