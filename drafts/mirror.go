package drafts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// mirrorStateName is the mirror's record, in its directory, of the version of each file it last
// wrote there: a file that differs from it was edited by a person.
const mirrorStateName = ".postmortemd-mirror.json"

// DefaultMirrorInterval is how often a Mirror looks for changes when MirrorOptions.Interval is zero.
const DefaultMirrorInterval = 5 * time.Second

// MirrorOptions configures a Mirror. Dir, Store and Lease are required.
type MirrorOptions struct {
	// Dir is the mirror directory (--drafts-dir), e.g. a Git checkout.
	Dir string
	// Store is the shared store the documents live in.
	Store *SharedStore
	// Lease takes or renews this replica's lease on the mirror and reports whether it holds it;
	// only the holder writes. A holder that dies stops renewing, and another replica takes over.
	Lease func(ctx context.Context) (bool, error)
	// Release, if set, gives the lease up when Run ends (a replica shutting down), so another
	// replica takes over at once.
	Release func()
	// Interval is the time between passes. Default DefaultMirrorInterval.
	Interval time.Duration
	// Logger gets a line per edit taken in, per conflicting edit kept beside, and per failure.
	Logger *slog.Logger
	// Now names the versions kept beside a document. Default time.Now.
	Now func() time.Time
}

// Mirror keeps a directory of files in step with a SharedStore for people who keep postmortems in
// Git: each document (and each version kept beside it) is written there after it changes, and a
// file a person edited there is taken in as an edit of the version the mirror wrote, with the
// edit's rules: when the document changed in the meantime (an edit over HTTP, a merge of new
// facts), the file's version is kept beside the document, never lost, and the file is brought up
// to date. A file whose edit is not a well-formed postmortem is left as it is until it is fixed.
type Mirror struct {
	o   MirrorOptions
	log *slog.Logger
	// invalid remembers, by file, the version whose edit was refused, so it is logged once.
	invalid map[string]string
	// pending holds, during a pass, the names of the versions kept beside each postmortem.
	pending map[string][]string
	// first is closed when Run's first pass has ended (or found the lease held elsewhere).
	first     chan struct{}
	firstOnce sync.Once
	// seen caches, by file, the size and time of a file found in step, so an unchanged file is not
	// read again every pass.
	seen map[string]seenFile
}

type seenFile struct {
	size int64
	mod  time.Time
	etag string
}

// NewMirror returns a Mirror; it does nothing until Run or Sync is called.
func NewMirror(o MirrorOptions) *Mirror {
	m := &Mirror{o: o, log: o.Logger, invalid: map[string]string{}, pending: map[string][]string{},
		seen: map[string]seenFile{}, first: make(chan struct{})}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("component", "mirror", "dir", o.Dir)
	if m.o.Interval <= 0 {
		m.o.Interval = DefaultMirrorInterval
	}
	if m.o.Now == nil {
		m.o.Now = time.Now
	}
	return m
}

// Run makes a pass at once and then every interval until ctx is done. Failures are logged and
// tried again on the next pass.
func (m *Mirror) Run(ctx context.Context) {
	t := time.NewTicker(m.o.Interval)
	defer t.Stop()
	held := false
	defer func() {
		if held && m.o.Release != nil {
			m.o.Release()
		}
	}()
	defer m.firstOnce.Do(func() { close(m.first) })
	for {
		ok, err := m.o.Lease(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				m.log.Warn("mirror lease not renewed; trying again", "err", err)
			}
		case ok != held:
			held = ok
			if ok {
				m.log.Info("this replica now keeps the mirror directory")
			} else {
				m.log.Info("another replica keeps the mirror directory now")
			}
		}
		if err == nil && ok {
			if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("mirror pass failed; trying again on the next pass", "err", err)
			}
		}
		m.firstOnce.Do(func() { close(m.first) })
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// FirstPass is closed once Run's first pass has ended, whether this replica held the lease or not,
// so that files left in the directory are taken in before the worker drafts the same incidents.
func (m *Mirror) FirstPass() <-chan struct{} { return m.first }

// Sync makes one pass over every document, without checking the lease.
func (m *Mirror) Sync(ctx context.Context) error {
	if err := os.MkdirAll(m.o.Dir, 0o755); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	state := m.readState()
	// The index says each document's version: a document whose file already holds it costs a
	// read of the file, not of the document.
	ictx, cancel := m.o.Store.ctx()
	index, err := m.o.Store.Records.DocumentIndex(ictx)
	if err == nil {
		var pending map[string][]string
		if pending, err = m.o.Store.Records.BesideIndex(ictx); err == nil {
			for id, names := range pending {
				m.pending[id] = names
			}
		}
	}
	cancel()
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	var errs []error
	known := make(map[string]string, len(index)) // incident id -> file name
	for id, raw := range index {
		if err := ctx.Err(); err != nil {
			return err
		}
		meta, err := readMeta(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("mirror %s: index record: %w", id, err))
			continue
		}
		known[id] = meta.File
		if err := m.syncOne(id, meta, state); err != nil {
			errs = append(errs, err)
		}
	}
	clear(m.pending)
	if err := m.takeInNew(known, state); err != nil {
		errs = append(errs, err)
	}
	if err := m.writeState(state); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// syncOne brings one document and its file into step. state maps file names to the version last
// written there.
func (m *Mirror) syncOne(id string, meta docMeta, state map[string]string) error {
	if meta.File == "" || filepath.Base(meta.File) != meta.File || strings.HasPrefix(meta.File, ".") {
		return nil // not a name this directory can hold
	}
	sum := Summary{ID: id, File: meta.File}
	path := filepath.Join(m.o.Dir, meta.File)
	info, err := os.Stat(path)
	if c, ok := m.seen[meta.File]; ok && err == nil && meta.ETag != "" && c.etag == meta.ETag &&
		c.size == info.Size() && c.mod.Equal(info.ModTime()) {
		state[meta.File] = meta.ETag // unchanged on both sides since the last pass
		return m.syncBesideNames(id, m.pending[id], state)
	}
	onDisk, err := os.ReadFile(path)
	if err == nil && meta.ETag != "" && ETag(onDisk) == meta.ETag {
		state[meta.File] = meta.ETag
		if info != nil {
			m.seen[meta.File] = seenFile{size: info.Size(), mod: info.ModTime(), etag: meta.ETag}
		}
		return m.syncBesideNames(id, m.pending[id], state)
	}
	delete(m.seen, meta.File)
	doc, derr := m.o.Store.Get(id)
	if derr != nil {
		return fmt.Errorf("mirror %s: %w", meta.File, derr)
	}
	written, known := state[sum.File]
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Never written, or removed by a person: the document is the truth.
	case err != nil:
		return fmt.Errorf("mirror %s: %w", sum.File, err)
	case ETag(onDisk) == doc.ETag:
		state[sum.File] = doc.ETag
		return m.syncBeside(doc.ID, state)
	case known && ETag(onDisk) == written:
		// Untouched since the mirror wrote it: the document moved on.
	case known:
		// A person edited the file: take it in as an edit of the version the mirror wrote.
		saved, err := m.o.Store.Save(sum.ID, onDisk, written)
		switch {
		case err == nil:
			state[sum.File] = saved.ETag
			delete(m.invalid, sum.File)
			m.log.Info("an edit of the mirror's file was taken in", "incident_id", sum.ID, "file", sum.File)
			return m.syncBeside(saved.ID, state)
		case errors.Is(err, timeline.ErrInvalid):
			if m.invalid[sum.File] != ETag(onDisk) {
				m.invalid[sum.File] = ETag(onDisk)
				m.log.Warn("an edit of the mirror's file is not a well-formed postmortem; it is left as it is until it is fixed",
					"incident_id", sum.ID, "file", sum.File, "err", err)
			}
			return nil
		case errors.Is(err, timeline.ErrPrecondition):
			if err := m.keepBeside(doc, sum.File, onDisk); err != nil {
				return err
			}
		default:
			return fmt.Errorf("mirror %s: take in the edit: %w", sum.File, err)
		}
	default:
		// A file the mirror never wrote (a copy from elsewhere): keep it beside, then replace it.
		if err := m.keepBeside(doc, sum.File, onDisk); err != nil {
			return err
		}
	}
	if err := writeAtomic(path, doc.Content); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	state[sum.File] = doc.ETag
	return m.syncBeside(doc.ID, state)
}

// takeInNew stores the postmortems that people put into the directory for incidents the store has
// no postmortem of (written by hand, or left by the files store before the switch to the shared
// one), under their file names. A file for an incident the store has a postmortem of is left to
// syncOne when it has the postmortem's name; under another name (a copy, or a file written before
// the postmortem was drafted in the store) it is kept beside the postmortem once, if it differs.
func (m *Mirror) takeInNew(known map[string]string, state map[string]string) error {
	des, err := os.ReadDir(m.o.Dir)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	var errs []error
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !isDraftFile(name) || strings.Contains(name, ".edited-") {
			continue // versions kept beside a postmortem are not postmortems
		}
		if _, ok := state[name]; ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(m.o.Dir, name))
		if err != nil || len(b) > maxDraftSize {
			continue
		}
		sum, err := summarize(b)
		if err != nil || sum.ID == "" {
			continue
		}
		if file, ok := known[sum.ID]; ok {
			if file == name {
				continue
			}
			doc, err := m.o.Store.Get(sum.ID)
			if err != nil {
				errs = append(errs, fmt.Errorf("mirror %s: %w", name, err))
				continue
			}
			if !bytes.Equal(doc.Content, b) {
				if err := m.keepBeside(doc, name, b); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			state[name] = ETag(b) // seen; changes to it later are not edits of the postmortem
			continue
		}
		if _, err := validate(sum.ID, b); err != nil {
			if m.invalid[name] != ETag(b) {
				m.invalid[name] = ETag(b)
				m.log.Warn("a postmortem file in the mirror directory is not well-formed; it is taken in once it is fixed",
					"file", name, "err", err)
			}
			continue
		}
		ctx, cancel := m.o.Store.ctx()
		err = m.o.Store.Records.StoreDocument(ctx, sum.ID, ETag(b), "", b, m.o.Store.meta(sum.ID, name, b))
		cancel()
		switch {
		case err == nil:
			state[name] = ETag(b)
			known[sum.ID] = name
			m.log.Info("a postmortem file in the mirror directory was taken in", "incident_id", sum.ID, "file", name)
		case errors.Is(err, timeline.ErrPrecondition):
			// Drafted meanwhile: the next pass compares the file with it.
		default:
			errs = append(errs, fmt.Errorf("mirror %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// keepBeside keeps a conflicting edit of file beside doc in the store, so that the file can be
// brought up to date without losing it.
func (m *Mirror) keepBeside(doc Document, file string, content []byte) error {
	ctx, cancel := m.o.Store.ctx()
	defer cancel()
	base := strings.TrimSuffix(file, ".md")
	stamp := m.o.Now().UTC().Format("20060102T150405Z")
	for n := 1; n < 100; n++ {
		name := base + ".edited-" + stamp + ".md"
		if n > 1 {
			name = fmt.Sprintf("%s.edited-%s-%d.md", base, stamp, n)
		}
		added, err := m.o.Store.Records.AddBesideDocument(ctx, doc.ID, doc.ETag, name, content)
		if err != nil {
			return fmt.Errorf("mirror %s: keep the conflicting edit beside the postmortem: %w", file, err)
		}
		if added {
			m.log.Warn("an edit of the mirror's file conflicts with a newer version of the postmortem; it is kept beside it, merge by hand",
				"incident_id", doc.ID, "file", file, "kept_as", name)
			return nil
		}
	}
	return fmt.Errorf("mirror %s: no free name for the conflicting edit", file)
}

// syncBesideNames brings the versions kept beside incident id's postmortem, named names, into
// step with the directory; it reads them from the store only when one is missing from the directory.
func (m *Mirror) syncBesideNames(id string, names []string, state map[string]string) error {
	for _, name := range names {
		if _, err := os.Lstat(filepath.Join(m.o.Dir, name)); err != nil {
			return m.syncBeside(id, state)
		}
	}
	return nil
}

// syncBeside writes the versions kept beside incident id's postmortem that the directory does not
// have yet. One the mirror wrote there and a person deleted since is merged or dismissed: it is
// removed from the store too, as deleting a *.regenerated-*.md file does with the files store.
func (m *Mirror) syncBeside(id string, state map[string]string) error {
	beside, err := m.o.Store.Beside(id)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", id, err)
	}
	for name, content := range beside {
		if filepath.Base(name) != name || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(m.o.Dir, name)
		if _, err := os.Lstat(path); err == nil {
			continue // written before; a person may be merging it
		}
		if _, wrote := state[name]; wrote {
			if err := m.o.Store.Dismiss(id, name); err != nil {
				return fmt.Errorf("mirror %s: %w", name, err)
			}
			delete(state, name)
			m.log.Info("a version kept beside a postmortem was deleted from the mirror directory; it is dismissed",
				"incident_id", id, "file", name)
			continue
		}
		if err := writeAtomic(path, content); err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
		state[name] = ETag(content)
	}
	return nil
}

func (m *Mirror) readState() map[string]string {
	state := map[string]string{}
	b, err := os.ReadFile(filepath.Join(m.o.Dir, mirrorStateName))
	if err == nil {
		if err := json.Unmarshal(b, &state); err != nil {
			m.log.Warn("the mirror's state file does not parse; every file that differs from its postmortem is kept beside it", "err", err)
			state = map[string]string{}
		}
	}
	return state
}

func (m *Mirror) writeState(state map[string]string) error {
	b, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(filepath.Join(m.o.Dir, mirrorStateName)); err == nil && string(old) == string(b) {
		return nil
	}
	if err := writeAtomic(filepath.Join(m.o.Dir, mirrorStateName), b); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	return nil
}

// Export writes every postmortem of store, and every version kept beside one, into dir under its
// file name, once. It returns how many documents and versions beside them it wrote.
func Export(store Postmortems, dir string) (docs, beside int, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, fmt.Errorf("export: %w", err)
	}
	sums, err := store.List(Query{})
	if err != nil {
		return 0, 0, fmt.Errorf("export: %w", err)
	}
	var errs []error
	for _, sum := range sums {
		doc, err := store.Get(sum.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("export %s: %w", sum.ID, err))
			continue
		}
		if doc.File == "" || filepath.Base(doc.File) != doc.File || strings.HasPrefix(doc.File, ".") {
			errs = append(errs, fmt.Errorf("export %s: %w: file name %q", sum.ID, timeline.ErrInvalid, doc.File))
			continue
		}
		if err := writeAtomic(filepath.Join(dir, doc.File), doc.Content); err != nil {
			errs = append(errs, fmt.Errorf("export: %w", err))
			continue
		}
		docs++
		var others map[string][]byte
		switch s := store.(type) {
		case *SharedStore:
			if others, err = s.Beside(sum.ID); err != nil {
				errs = append(errs, fmt.Errorf("export %s: %w", sum.ID, err))
			}
		case *Store:
			others = map[string][]byte{}
			for _, name := range doc.PendingVersions {
				if b, err := os.ReadFile(filepath.Join(s.Dir, name)); err == nil {
					others[name] = b
				}
			}
		}
		for name, content := range others {
			if filepath.Base(name) != name || strings.HasPrefix(name, ".") {
				continue
			}
			if err := writeAtomic(filepath.Join(dir, name), content); err != nil {
				errs = append(errs, fmt.Errorf("export: %w", err))
				continue
			}
			beside++
		}
	}
	return docs, beside, errors.Join(errs...)
}
