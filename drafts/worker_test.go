package drafts_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

// workerFor is a worker over the story's store writing into dir, on the clock *now.
func workerFor(t *testing.T, s *story, dir string, now *time.Time, log *bytes.Buffer) *drafts.Worker {
	t.Helper()
	var logger *slog.Logger
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return drafts.NewWorker(drafts.WorkerOptions{Store: s.store, Renderer: mustRenderer(t, "en"),
		Files: &drafts.Store{Dir: dir}, Logger: logger, Now: func() time.Time { return *now }})
}

// theIncident is the story's one incident as the store has it now.
func (s *story) theIncident() timeline.Incident {
	s.t.Helper()
	incs, err := s.store.Incidents(context.Background(), timeline.ListOptions{})
	if err != nil || len(incs) != 1 {
		s.t.Fatalf("incidents %+v, %v: want one", incs, err)
	}
	return incs[0]
}

func mustSweep(t *testing.T, w *drafts.Worker) {
	t.Helper()
	if err := w.Sweep(context.Background()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
}

// draftFiles lists the drafts in dir (not the lock file).
func draftFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != ".postmortemd.lock" {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestWorkerDraftsAResolvedIncidentOnceItSettles(t *testing.T) {
	s := newStory(t)
	s.deliverPD(12) // resolved, with the resolution note
	inc := s.theIncident()
	if inc.Status != timeline.StatusResolved || inc.SettlesAt == nil {
		t.Fatalf("incident %+v: want resolved with settles_at", inc)
	}
	dir := t.TempDir()
	var log bytes.Buffer
	now := inc.SettlesAt.Add(-time.Second)
	w := workerFor(t, s, dir, &now, &log)

	mustSweep(t, w)
	if got := draftFiles(t, dir); len(got) != 0 {
		t.Fatalf("inside the grace window: drafts %v, want none", got)
	}

	now = *inc.SettlesAt
	mustSweep(t, w)
	want := drafts.FileName(inc)
	if got := draftFiles(t, dir); strings.Join(got, " ") != want {
		t.Fatalf("settled: drafts %v, want [%s]", got, want)
	}
	for _, kv := range []string{"component=drafts", "incident_id=" + inc.ID, "outcome=created", "path=" + filepath.Join(dir, want)} {
		if !strings.Contains(log.String(), kv) {
			t.Errorf("log lacks %s:\n%s", kv, log.String())
		}
	}
	first := mustRead(t, filepath.Join(dir, want))

	now = now.Add(time.Hour)
	mustSweep(t, w)
	if got := draftFiles(t, dir); strings.Join(got, " ") != want || !bytes.Equal(mustRead(t, filepath.Join(dir, want)), first) {
		t.Fatalf("a second sweep changed the drafts: %v", got)
	}

	// A restarted process drafts it again: the same bytes, nothing written.
	log.Reset()
	mustSweep(t, workerFor(t, s, dir, &now, &log))
	if !strings.Contains(log.String(), "outcome=unchanged") || !bytes.Equal(mustRead(t, filepath.Join(dir, want)), first) {
		t.Errorf("after a restart: %s", log.String())
	}

	// A deleted draft is drafted again.
	if err := os.Remove(filepath.Join(dir, want)); err != nil {
		t.Fatal(err)
	}
	mustSweep(t, w)
	if !bytes.Equal(mustRead(t, filepath.Join(dir, want)), first) {
		t.Error("a deleted draft was not written again")
	}
}

// The incident resolves and is drafted, a person edits the draft, the incident reopens (story 13)
// and resolves again (story 14): the next sweep after it settles merges the new facts and keeps
// every byte the person wrote.
func TestWorkerMergesAfterAReopenAndKeepsHumanEdits(t *testing.T) {
	s := newStory(t)
	s.deliverPD(12)
	inc := s.theIncident()
	dir := t.TempDir()
	var log bytes.Buffer
	now := *inc.SettlesAt
	w := workerFor(t, s, dir, &now, &log)
	mustSweep(t, w)
	path := filepath.Join(dir, drafts.FileName(inc))
	edited := handEdit(t, mustRead(t, path))
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		t.Fatal(err)
	}

	s.deliverPD(13) // reopened
	if got := s.theIncident(); got.Status == timeline.StatusResolved {
		t.Fatalf("after the reopen the incident is %s", got.Status)
	}
	now = s.now
	mustSweep(t, w)
	if !bytes.Equal(mustRead(t, path), edited) {
		t.Fatal("a sweep touched the draft of a reopened incident")
	}

	s.deliverPD(14) // resolved again
	again := s.theIncident()
	if again.ID != inc.ID || !again.Settled(*again.SettlesAt) {
		t.Fatalf("second resolution: %+v", again)
	}
	now = again.SettlesAt.Add(-time.Second)
	mustSweep(t, w)
	if !bytes.Equal(mustRead(t, path), edited) {
		t.Fatal("the draft changed inside the second grace window")
	}

	log.Reset()
	now = *again.SettlesAt
	mustSweep(t, w)
	if !strings.Contains(log.String(), "outcome=merged") {
		t.Errorf("log: %s", log.String())
	}
	merged := mustRead(t, path)
	humanBefore, _ := split(edited)
	humanAfter, _ := split(merged)
	if humanAfter != humanBefore {
		t.Errorf("human text changed:\n%s", firstDiff([]byte(humanAfter), []byte(humanBefore)))
	}
	if !bytes.Contains(merged, []byte("Reopened by the incident commander")) {
		t.Error("the reopen is not in the merged draft")
	}
	if got := draftFiles(t, dir); len(got) != 1 {
		t.Errorf("drafts %v, want one", got)
	}
}

// Two replicas sweeping the same drafts directory at once make one draft.
func TestConcurrentWorkersMakeOneDraft(t *testing.T) {
	s := newStory(t)
	s.deliverPD(14)
	inc := s.theIncident()
	dir := t.TempDir()
	now := *inc.SettlesAt
	ws := []*drafts.Worker{workerFor(t, s, dir, &now, nil), workerFor(t, s, dir, &now, nil)}
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.Sweep(context.Background())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := draftFiles(t, dir); strings.Join(got, " ") != drafts.FileName(inc) {
		t.Fatalf("drafts %v, want [%s]", got, drafts.FileName(inc))
	}
}

// Run sweeps at once, keeps sweeping, and returns when its context ends.
func TestWorkerRunStopsWithItsContext(t *testing.T) {
	s := newStory(t)
	s.deliverPD(14)
	inc := s.theIncident()
	dir := t.TempDir()
	now := *inc.SettlesAt
	w := drafts.NewWorker(drafts.WorkerOptions{Store: s.store, Renderer: mustRenderer(t, "en"),
		Files: &drafts.Store{Dir: dir}, Now: func() time.Time { return now }, Interval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(draftFiles(t, dir)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run wrote no draft")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// reviewsFunc adapts a function to drafts.Reviews.
type reviewsFunc func() map[string]*drafts.Review

func (f reviewsFunc) DraftReviews(context.Context) (map[string]*drafts.Review, error) {
	return f(), nil
}

// The review scheduler books the meeting after the draft was written, then it is waived: each
// change redrafts the review block, and only it.
func TestWorkerRedraftsWhenTheReviewChanges(t *testing.T) {
	s := newStory(t)
	s.deliverPD(12)
	inc := s.theIncident()
	dir := t.TempDir()
	now := *inc.SettlesAt
	var mu sync.Mutex
	var rev *drafts.Review
	w := drafts.NewWorker(drafts.WorkerOptions{Store: s.store, Renderer: mustRenderer(t, "en"),
		Files: &drafts.Store{Dir: dir}, Now: func() time.Time { return now },
		Reviews: reviewsFunc(func() map[string]*drafts.Review {
			mu.Lock()
			defer mu.Unlock()
			if rev == nil {
				return nil
			}
			return map[string]*drafts.Review{inc.ID: rev}
		})})
	mustSweep(t, w)
	path := filepath.Join(dir, drafts.FileName(inc))
	if got := string(mustRead(t, path)); !strings.Contains(got, "_No review meeting is scheduled yet._") {
		t.Fatalf("draft before the review:\n%s", got)
	}
	edited := handEdit(t, mustRead(t, path))
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, tokyo)
	mu.Lock()
	rev = &drafts.Review{Start: start, End: start.Add(time.Hour), TimeZone: "Asia/Tokyo",
		Reason: "No free slot within 24h: holiday Mon 2026-11-23 is not a working day", Roles: []string{"incident commander", "owner of team payments"}}
	mu.Unlock()
	now = now.Add(time.Minute)
	mustSweep(t, w)
	got := string(mustRead(t, path))
	for _, want := range []string{"Scheduled for 2026-11-24 01:00:00 to 2026-11-24 02:00:00 UTC (2026-11-24 10:00–11:00 JST). No free slot within 24h: holiday Mon 2026-11-23 is not a working day",
		"Invited (roles): incident commander; owner of team payments.", "| Review | 2026-11-24 01:00:00 to 2026-11-24 02:00:00 UTC (2026-11-24 10:00–11:00 JST) |",
		"time_zone: \"Asia/Tokyo\""} {
		if !strings.Contains(got, want) {
			t.Errorf("draft lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "No review meeting") {
		t.Error("the draft still says no review is scheduled")
	}
	mu.Lock()
	rev.Waived, rev.WaiveReason = true, "Reviewed together with INC-41."
	mu.Unlock()
	now = now.Add(time.Minute)
	mustSweep(t, w)
	got = string(mustRead(t, path))
	if !strings.Contains(got, "The review meeting was waived: Reviewed together with INC-41.") || !strings.Contains(got, "waived: true") {
		t.Errorf("waived review not in the draft:\n%s", got)
	}
	// What the person wrote survived both redrafts.
	for _, line := range []string{"status: in-review", "recommended: true # good example of a migration gone wrong",
		"Right below the observed block: 4.1% of checkouts failed.", "| Alert on lock waits on orders-db | database on-call | 2026-12-15 | short | open | |"} {
		if !strings.Contains(got, line) {
			t.Errorf("a hand-written line was lost: %q", line)
		}
	}
}
