//go:build !linux

package testenv

import "syscall"

// sysProcAttr returns the attributes of started servers; outside Linux there
// is no parent-death signal, so a crashed test binary may leave them behind.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
