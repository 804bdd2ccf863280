//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package drafts

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive flock(2) on the directory's lock file, waiting for other writers
// (goroutines too: each call opens the file anew, and flock excludes open file descriptions). The
// kernel drops the lock if the process dies.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
