package drafts_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

// The story's incident resolves and is drafted; once its resolution is older than the retention,
// the sweep removes its timeline from Redis and leaves the postmortem as it was. Without a
// postmortem, nothing is removed.
func TestRetentionRemovesTimelinesWhosePostmortemExists(t *testing.T) {
	const retention = 400 * 24 * time.Hour
	s := newStory(t)
	s.deliverPD(14) // resolved for good
	inc := s.theIncident()
	dir := t.TempDir()
	files := &drafts.Store{Dir: dir}
	now := *inc.SettlesAt
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	r := drafts.NewRetention(drafts.RetentionOptions{Timelines: s.store, Postmortems: files, Retention: retention,
		Now: func() time.Time { return now }, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	sweep := func() int {
		t.Helper()
		n, err := r.Sweep(context.Background())
		if err != nil {
			t.Fatalf("retention sweep: %v", err)
		}
		return n
	}

	// Within the retention: kept.
	mustSweep(t, workerFor(t, s, dir, &now, nil))
	if n := sweep(); n != 0 {
		t.Fatalf("within the retention %d timelines removed", n)
	}

	// Past the retention, but the postmortem was deleted: kept, the timeline is all there is.
	now = inc.ResolvedAt.Add(retention + time.Hour)
	path := filepath.Join(dir, drafts.FileName(inc))
	postmortem := mustRead(t, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if n := sweep(); n != 0 {
		t.Fatalf("without a postmortem %d timelines removed", n)
	}
	if _, err := s.store.Entries(context.Background(), inc.ID); err != nil {
		t.Fatalf("the timeline is gone without a postmortem: %v", err)
	}

	// The postmortem exists: the timeline goes, the postmortem stays, once.
	if err := os.WriteFile(path, postmortem, 0o644); err != nil {
		t.Fatal(err)
	}
	if n := sweep(); n != 1 {
		t.Fatalf("past the retention with a postmortem: %d removed, want 1", n)
	}
	if _, err := s.store.Entries(context.Background(), inc.ID); !errors.Is(err, timeline.ErrNotFound) {
		t.Fatalf("timeline after removal: %v, want not found", err)
	}
	doc, err := files.Get(inc.ID)
	if err != nil || !bytes.Equal(doc.Content, postmortem) {
		t.Fatalf("the postmortem changed: %v", err)
	}
	if n := sweep(); n != 0 {
		t.Fatalf("a second sweep removed %d", n)
	}
	if got := counter(t, reg, "postmortemd_timelines_removed_total", ""); got != 1 {
		t.Errorf("postmortemd_timelines_removed_total = %v, want 1", got)
	}
	if got := counter(t, reg, "postmortemd_retention_sweeps_total", "ok"); got != 4 {
		t.Errorf("postmortemd_retention_sweeps_total{result=ok} = %v, want 4", got)
	}
	for _, kv := range []string{"component=retention", "incident_id=" + inc.ID, "timeline removed"} {
		if !strings.Contains(logs.String(), kv) {
			t.Errorf("log lacks %q:\n%s", kv, logs.String())
		}
	}

	// A worker sweeping afterwards writes nothing new and leaves the postmortem alone.
	mustSweep(t, workerFor(t, s, dir, &now, nil))
	if got := mustRead(t, path); !bytes.Equal(got, postmortem) {
		t.Error("the drafts worker rewrote the postmortem after its timeline was removed")
	}
}

// A store that cannot be reached fails the sweep (counted) and removes nothing.
func TestRetentionSweepFailureIsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := drafts.NewRetention(drafts.RetentionOptions{Timelines: downStore{}, Postmortems: &drafts.Store{Dir: t.TempDir()},
		Retention: time.Hour, Registerer: reg})
	if _, err := r.Sweep(context.Background()); !errors.Is(err, timeline.ErrUnavailable) {
		t.Fatalf("sweep: %v, want ErrUnavailable", err)
	}
	if got := counter(t, reg, "postmortemd_retention_sweeps_total", "error"); got != 1 {
		t.Errorf("error sweeps = %v, want 1", got)
	}
}

type downStore struct{}

func (downStore) ExpiredTimelines(context.Context, time.Time) ([]string, error) {
	return nil, timeline.ErrUnavailable
}

func (downStore) RemoveTimeline(context.Context, string, time.Time) (bool, error) {
	return false, timeline.ErrUnavailable
}

// counter reads a counter from reg; result "" takes the one without labels.
func counter(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					got = l.GetValue()
				}
			}
			if got == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{result=%q}", name, result)
	return 0
}

// A postmortem that several documents claim (a person copied the file) exists: the timeline goes.
// A postmortem store that fails leaves the timeline and counts the sweep as failed.
func TestRetentionPostmortemLookups(t *testing.T) {
	for _, tt := range []struct {
		name        string
		getErr      error
		wantRemoved int
		wantErr     bool
	}{
		{"found", nil, 1, false},
		{"several documents", timeline.ErrConflict, 1, false},
		{"none", timeline.ErrNotFound, 0, false},
		{"store failed", errors.New("disk on fire"), 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := &oneExpired{id: "inc-1"}
			r := drafts.NewRetention(drafts.RetentionOptions{Timelines: ts, Retention: time.Hour,
				Postmortems: getterFunc(func(string) (drafts.Document, error) { return drafts.Document{}, tt.getErr })})
			n, err := r.Sweep(context.Background())
			if n != tt.wantRemoved || ts.removed != tt.wantRemoved || (err != nil) != tt.wantErr {
				t.Fatalf("sweep removed %d (store saw %d), err %v; want %d, error %v", n, ts.removed, err, tt.wantRemoved, tt.wantErr)
			}
		})
	}
}

type getterFunc func(string) (drafts.Document, error)

func (f getterFunc) Get(id string) (drafts.Document, error) { return f(id) }

type oneExpired struct {
	id      string
	removed int
}

func (o *oneExpired) ExpiredTimelines(context.Context, time.Time) ([]string, error) {
	return []string{o.id}, nil
}

func (o *oneExpired) RemoveTimeline(_ context.Context, id string, _ time.Time) (bool, error) {
	if id != o.id {
		return false, nil
	}
	o.removed++
	return true, nil
}
