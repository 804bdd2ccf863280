//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package drafts

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// lockMu serializes this process's writers; the exclusive-create lock file serializes processes.
var lockMu sync.Mutex

// lockDir is the fallback where flock(2) is missing: a lock file created with O_EXCL. A lock file
// older than two minutes is taken to be left by a crashed writer and removed (a write takes
// milliseconds).
func lockDir(dir string) (unlock func(), err error) {
	lockMu.Lock()
	p := filepath.Join(dir, lockName+".excl")
	deadline := time.Now().Add(30 * time.Second)
	for {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(p); lockMu.Unlock() }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			lockMu.Unlock()
			return nil, err
		}
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > 2*time.Minute {
			os.Remove(p)
			continue
		}
		if time.Now().After(deadline) {
			lockMu.Unlock()
			return nil, errors.New("timed out waiting for " + p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
