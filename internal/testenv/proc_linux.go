//go:build linux

package testenv

import "syscall"

// sysProcAttr makes the kernel kill a started server when the test binary
// dies without running its cleanups (for example on a test timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
