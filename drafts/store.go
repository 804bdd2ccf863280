package drafts

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// lockName is the lock file in the drafts directory that serializes writers across processes. It
// stays in the directory; it holds no data.
const lockName = ".postmortemd.lock"

// Outcome says what Store.Write did.
type Outcome string

// The outcomes of a write.
const (
	// Created: there was no draft for the incident; the file was written.
	Created Outcome = "created"
	// Merged: the draft was brought up to date; only machine-owned blocks changed.
	Merged Outcome = "merged"
	// Unchanged: the draft (or an identical version beside it) already says this; nothing written.
	Unchanged Outcome = "unchanged"
	// WrittenBeside: the draft could not be merged safely (see Merge); it is untouched and the new
	// version was written beside it, e.g. 2026-11-23-highlatency-9f86d081.regenerated-20261123T145130Z.md.
	WrittenBeside Outcome = "written_beside"
)

// Result is what Store.Write did and where.
type Result struct {
	// Path is the file written, or the file that already held the content (Unchanged).
	Path    string
	Outcome Outcome
	// Reason says why the draft could not be merged (WrittenBeside, or Unchanged when an identical
	// version already lies beside it); report it so a person merges by hand.
	Reason string
}

// Store writes drafts into a directory (--drafts-dir), one file per incident (FileName). Writes are
// atomic (a temporary file in the same directory, fsync, rename, fsync of the directory) and
// serialized across goroutines and processes by an advisory lock on a lock file in the directory,
// so several replicas sharing the directory produce one draft and readers never see a torn file.
type Store struct {
	// Dir is the drafts directory; it is created if missing.
	Dir string
	// Now names versions written beside a draft. Default time.Now.
	Now func() time.Time
	// Logger, if set, gets a warning when a postmortem's front matter does not parse.
	Logger *slog.Logger

	lib library // the front matter of the files, for List, Get and Save
}

// Write stores content, a draft freshly rendered for inc. With no draft on disk it creates one;
// otherwise it merges content into it (Merge), or, when that is not safe, leaves the draft untouched
// and writes content beside it. The read, merge and write happen under the directory's lock.
//
// It returns an error wrapping timeline.ErrConflict when the file already holds another incident's
// draft, and wrapping timeline.ErrInvalid when content is not a well-formed draft.
func (s *Store) Write(inc timeline.Incident, content []byte) (res Result, err error) {
	if s.Dir == "" {
		return res, errors.New("write draft: no drafts directory configured")
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return res, fmt.Errorf("write draft: %w", err)
	}
	unlock, err := lockDir(s.Dir)
	if err != nil {
		return res, fmt.Errorf("write draft: lock %s: %w", s.Dir, err)
	}
	defer unlock()

	// A person may have renamed the draft: it is found by the id in its front matter.
	name, err := s.fileOf(inc.ID)
	if err != nil {
		return res, fmt.Errorf("write draft: %w", err)
	}
	if name == "" {
		name = FileName(inc)
	}
	path := filepath.Join(s.Dir, name)
	existing, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := parseChecked(content); err != nil {
			return res, fmt.Errorf("write draft %s: %w: regenerated draft: %w", path, timeline.ErrInvalid, err)
		}
		if err := writeAtomic(path, content); err != nil {
			return res, err
		}
		return Result{Path: path, Outcome: Created}, nil
	case err != nil:
		return res, fmt.Errorf("write draft: %w", err)
	}
	if id := frontMatterID(existing); id != "" && id != inc.ID {
		return res, fmt.Errorf("write draft %s: %w: the file holds the draft of incident %q", path, timeline.ErrConflict, id)
	}
	merged, conflict, err := merge(existing, content)
	if err != nil {
		return res, fmt.Errorf("write draft %s: %w: %w", path, timeline.ErrInvalid, err)
	}
	if conflict == "" {
		if bytes.Equal(merged, existing) {
			return Result{Path: path, Outcome: Unchanged}, nil
		}
		if err := writeAtomic(path, merged); err != nil {
			return res, err
		}
		return Result{Path: path, Outcome: Merged}, nil
	}
	base := strings.TrimSuffix(name, ".md")
	// Another replica (or an earlier run) may already have written this very version beside it.
	others, _ := filepath.Glob(filepath.Join(s.Dir, base+".regenerated-*.md"))
	for _, o := range others {
		if b, err := os.ReadFile(o); err == nil && bytes.Equal(b, content) {
			return Result{Path: o, Outcome: Unchanged, Reason: conflict}, nil
		}
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	stamp := now().UTC().Format("20060102T150405Z")
	beside := filepath.Join(s.Dir, base+".regenerated-"+stamp+".md")
	for n := 2; fileExists(beside); n++ {
		beside = filepath.Join(s.Dir, base+".regenerated-"+stamp+"-"+strconv.Itoa(n)+".md")
	}
	if err := writeAtomic(beside, content); err != nil {
		return res, err
	}
	return Result{Path: beside, Outcome: WrittenBeside, Reason: conflict}, nil
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// writeAtomic replaces path with data so that readers see the old file or the new one, never a
// mix, and the new one survives a crash once writeAtomic returns.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write draft: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write draft %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable. Some systems cannot fsync a directory; the rename is still atomic.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
