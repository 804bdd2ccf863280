package drafts_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// sharedOnMiniredis is a shared store on the embedded Redis, with its Redis adapter.
func sharedOnMiniredis(t *testing.T) (*drafts.SharedStore, *redisstore.Store) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	rs := redisstore.New(rdb, redisstore.Options{})
	now := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	return &drafts.SharedStore{Records: rs, Now: func() time.Time { return now }}, rs
}

func mustSync(t *testing.T, m *drafts.Mirror) {
	t.Helper()
	if err := m.Sync(context.Background()); err != nil {
		t.Fatalf("mirror pass: %v", err)
	}
}

// The mirror writes each document after it changes, takes in a file a person edited as an edit,
// and keeps an edit that conflicts with a newer version beside the document, never losing it.
func TestMirrorWritesDocumentsAndTakesInEdits(t *testing.T) {
	store, _ := sharedOnMiniredis(t)
	inc, vs := libraryIn(t, store)
	dir := t.TempDir()
	m := drafts.NewMirror(drafts.MirrorOptions{Dir: dir, Store: store, Now: store.Now,
		Lease: func(context.Context) (bool, error) { return true, nil }})
	path := filepath.Join(dir, drafts.FileName(inc))

	mustSync(t, m)
	doc, _ := store.Get(inc.ID)
	if got := mustRead(t, path); !bytes.Equal(got, doc.Content) {
		t.Fatal("the mirror's file is not the document")
	}

	// A person edits the file (e.g. in a Git checkout): it becomes the document.
	edited := handEdit(t, doc.Content)
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	mustSync(t, m)
	if doc, _ = store.Get(inc.ID); !bytes.Equal(doc.Content, edited) || doc.Status != "in-review" {
		t.Fatalf("the file's edit was not taken in: status %q", doc.Status)
	}

	// The incident is drafted again: the merge reaches the file.
	if res, err := store.Write(inc, vs[1]); err != nil || res.Outcome != drafts.Merged {
		t.Fatalf("redraft: %+v %v", res, err)
	}
	mustSync(t, m)
	merged, _ := store.Get(inc.ID)
	if got := mustRead(t, path); !bytes.Equal(got, merged.Content) || !bytes.Contains(got, []byte("Reopened by the incident commander")) {
		t.Fatal("the merge did not reach the mirror's file")
	}

	// The file is edited while someone edits over HTTP too: the HTTP edit came first, so the file's
	// edit is kept beside the document and the file shows the document.
	overHTTP := []byte(strings.Replace(string(merged.Content), "status: in-review", "status: reviewed", 1))
	if _, err := store.Save(inc.ID, overHTTP, merged.ETag); err != nil {
		t.Fatal(err)
	}
	inFile := []byte(strings.Replace(string(merged.Content), "status: in-review", "status: published", 1))
	if err := os.WriteFile(path, inFile, 0o644); err != nil {
		t.Fatal(err)
	}
	mustSync(t, m)
	doc, _ = store.Get(inc.ID)
	if !bytes.Equal(doc.Content, overHTTP) || !bytes.Equal(mustRead(t, path), overHTTP) {
		t.Fatal("the HTTP edit did not win, or the file was not brought up to date")
	}
	want := strings.TrimSuffix(drafts.FileName(inc), ".md") + ".edited-20261124T093000Z.md"
	if strings.Join(doc.PendingVersions, " ") != want {
		t.Fatalf("pending versions %v, want [%s]", doc.PendingVersions, want)
	}
	beside, err := store.Beside(inc.ID)
	if err != nil || !bytes.Equal(beside[want], inFile) {
		t.Fatalf("the conflicting edit is not kept beside the document (%v)", err)
	}
	if got := mustRead(t, filepath.Join(dir, want)); !bytes.Equal(got, inFile) {
		t.Fatal("the conflicting edit is not in the mirror directory")
	}
	// The person merges it by hand and deletes it from the directory: it is no longer pending.
	if err := os.Remove(filepath.Join(dir, want)); err != nil {
		t.Fatal(err)
	}
	mustSync(t, m)
	if doc, _ = store.Get(inc.ID); len(doc.PendingVersions) != 0 {
		t.Fatalf("pending versions %v after the person deleted it, want none", doc.PendingVersions)
	}
	if _, err := os.Stat(filepath.Join(dir, want)); !os.IsNotExist(err) {
		t.Fatal("the dismissed version was written into the directory again")
	}

	// A file that does not parse is left alone (the person is fixing it) and not taken in.
	broken := []byte(strings.Replace(string(overHTTP), "status: reviewed", "status: [reviewed", 1))
	if err := os.WriteFile(path, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	mustSync(t, m)
	if doc2, _ := store.Get(inc.ID); !bytes.Equal(doc2.Content, overHTTP) || !bytes.Equal(mustRead(t, path), broken) {
		t.Fatal("a broken edit was taken in, or overwritten")
	}
}

// Export writes every document and every version beside it, from either store.
func TestExportWritesEveryPostmortem(t *testing.T) {
	for _, impl := range implementations()[:2] {
		t.Run(impl.name, func(t *testing.T) {
			store, _ := impl.new(t, nil)
			inc, vs := libraryIn(t, store)
			doc, _ := store.Get(inc.ID)
			b := []byte(strings.Replace(string(doc.Content), "| Severity / priority |", "| Severity (my words) |", 1))
			if _, err := store.Save(inc.ID, b, doc.ETag); err != nil {
				t.Fatal(err)
			}
			res, err := store.Write(inc, vs[1])
			if err != nil || res.Outcome != drafts.WrittenBeside {
				t.Fatalf("%+v %v", res, err)
			}
			dir := t.TempDir()
			docs, beside, err := drafts.Export(store, dir)
			if err != nil || docs != 1 || beside != 1 {
				t.Fatalf("export: %d docs, %d beside, %v", docs, beside, err)
			}
			if !bytes.Equal(mustRead(t, filepath.Join(dir, drafts.FileName(inc))), b) ||
				!bytes.Equal(mustRead(t, filepath.Join(dir, filepath.Base(res.Path))), vs[1]) {
				t.Fatal("the exported files are not the document and the version beside it")
			}
		})
	}
}

// A postmortem a person writes into the mirror directory for an incident the store has none of
// (by hand, or left there by the files store before the switch) is taken in under its name; a
// copy of an existing postmortem under another name is kept beside it, once.
func TestMirrorTakesInNewPostmortemFiles(t *testing.T) {
	store, _ := sharedOnMiniredis(t)
	inc, _ := libraryIn(t, store)
	dir := t.TempDir()
	m := drafts.NewMirror(drafts.MirrorOptions{Dir: dir, Store: store, Now: store.Now,
		Lease: func(context.Context) (bool, error) { return true, nil }})
	older := "---\nid: \"20250101-db-failover-0000beef\"\ntitle: \"Database failover\"\nstatus: published\nseverity: critical\n" +
		"services: [orders-db]\ntags: [database]\nrecommended: false\nstarted: 2025-01-01T10:00:00Z\n---\n\nThe primary failed over after a quorum loss.\n"
	doc, _ := store.Get(inc.ID)
	copied := handEdit(t, doc.Content)
	for name, content := range map[string][]byte{
		"db-failover.md":   []byte(older),
		"my-copy.md":       copied,
		"notes.md":         []byte("# not a postmortem\n"),
		"broken-status.md": []byte(strings.Replace(older, "status: published", "status: done", 1)),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustSync(t, m)
	mustSync(t, m) // a second pass changes nothing more
	list, err := store.List(drafts.Query{})
	if err != nil || ids(list) != inc.ID+" 20250101-db-failover-0000beef" {
		t.Fatalf("listed [%s] %v, want the drafted and the hand-written postmortem", ids(list), err)
	}
	got, err := store.Get("20250101-db-failover-0000beef")
	if err != nil || string(got.Content) != older || got.File != "db-failover.md" || got.Status != "published" {
		t.Fatalf("hand-written postmortem: %+v %v", got.Summary, err)
	}
	doc, _ = store.Get(inc.ID)
	if len(doc.PendingVersions) != 1 || !strings.HasPrefix(doc.PendingVersions[0], "my-copy.edited-") {
		t.Fatalf("pending versions %v, want the copy kept beside once", doc.PendingVersions)
	}
}

// Run writes only while it holds the lease, says when its first pass is done, and gives the lease
// up when it stops.
func TestMirrorRunWritesOnlyWithTheLease(t *testing.T) {
	store, _ := sharedOnMiniredis(t)
	inc, _ := libraryIn(t, store)
	dir := t.TempDir()
	var held atomic.Bool
	released := make(chan struct{})
	m := drafts.NewMirror(drafts.MirrorOptions{Dir: dir, Store: store, Interval: 10 * time.Millisecond,
		Lease:   func(context.Context) (bool, error) { return held.Load(), nil },
		Release: func() { close(released) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	<-m.FirstPass()
	path := filepath.Join(dir, drafts.FileName(inc))
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the mirror wrote without the lease: %v", err)
	}
	held.Store(true)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	select {
	case <-released:
	default:
		t.Fatal("the lease was not given up when Run stopped")
	}
}
