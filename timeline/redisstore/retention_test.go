package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

func TestRemoveTimeline(t *testing.T) {
	const g = `{}:{alertname="Retention"}`
	ctx := context.Background()
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		// old resolved long ago, recent resolved a day ago, open never resolved.
		oldStart := t0.AddDate(-2, 0, 0)
		old := mustRecord(t, s, batch(g+"old", firing("o1", oldStart)))
		mustRecord(t, s, withResolve(batch(g+"old", resolved("o1", oldStart, oldStart.Add(time.Hour))), oldStart.Add(time.Hour)))
		if err := s.UpdateReview(ctx, old.IncidentID, func([]byte) ([]byte, error) { return []byte(`{}`), nil }); err != nil {
			t.Fatal(err)
		}
		recent := mustRecord(t, s, batch(g+"recent", firing("r1", t0.Add(-48*time.Hour))))
		mustRecord(t, s, withResolve(batch(g+"recent", resolved("r1", t0.Add(-48*time.Hour), t0.Add(-24*time.Hour))), t0.Add(-24*time.Hour)))
		open := mustRecord(t, s, batch(g+"open", firing("p1", oldStart)))
		// Started before the cutoff, resolved after it: not expired yet.
		long := mustRecord(t, s, batch(g+"long", firing("l1", oldStart)))
		mustRecord(t, s, withResolve(batch(g+"long", resolved("l1", oldStart, t0.Add(-time.Hour))), t0.Add(-time.Hour)))

		cutoff := t0.Add(-400 * 24 * time.Hour)
		ids, err := s.ExpiredTimelines(ctx, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, []string{old.IncidentID}) {
			t.Fatalf("ExpiredTimelines = %v, want only %s (recent %s, open %s, long %s)", ids, old.IncidentID,
				recent.IncidentID, open.IncidentID, long.IncidentID)
		}

		// A cutoff before its resolution keeps it.
		if removed, err := s.RemoveTimeline(ctx, old.IncidentID, oldStart.Add(time.Minute)); err != nil || removed {
			t.Fatalf("RemoveTimeline before the resolution = %v, %v; want false, nil", removed, err)
		}
		for _, id := range []string{open.IncidentID, recent.IncidentID} {
			if removed, err := s.RemoveTimeline(ctx, id, cutoff); err != nil || removed {
				t.Fatalf("RemoveTimeline(%s) = %v, %v; want it kept", id, removed, err)
			}
		}

		removed, err := s.RemoveTimeline(ctx, old.IncidentID, cutoff)
		if err != nil || !removed {
			t.Fatalf("RemoveTimeline = %v, %v; want true", removed, err)
		}
		if _, err := s.Incident(ctx, old.IncidentID); !errors.Is(err, timeline.ErrNotFound) {
			t.Errorf("Incident after removal: %v, want ErrNotFound", err)
		}
		if _, err := s.Entries(ctx, old.IncidentID); !errors.Is(err, timeline.ErrNotFound) {
			t.Errorf("Entries after removal: %v, want ErrNotFound", err)
		}
		if _, err := s.Review(ctx, old.IncidentID); !errors.Is(err, timeline.ErrNotFound) {
			t.Errorf("Review after removal: %v, want ErrNotFound", err)
		}
		for _, inc := range mustIncidents(t, s, "") {
			if inc.ID == old.IncidentID {
				t.Errorf("removed incident still listed")
			}
		}
		keys, err := rdb.Keys(ctx, "*:i:"+old.IncidentID+"*").Result()
		if err != nil || len(keys) != 0 {
			t.Errorf("keys left for the removed incident: %v (%v)", keys, err)
		}
		if again, err := s.RemoveTimeline(ctx, old.IncidentID, cutoff); err != nil || again {
			t.Errorf("second RemoveTimeline = %v, %v; want false, nil", again, err)
		}
		if got := facts(t, s, recent.IncidentID); len(got) == 0 {
			t.Errorf("the recent incident lost its timeline")
		}

		// A late resolution for the removed incident's group recreates nothing.
		late := mustRecord(t, s, batch(g+"old", resolved("o2", oldStart, oldStart.Add(2*time.Hour))))
		if late.IncidentID != "" || late.Opened {
			t.Errorf("late resolution after removal: %+v", late)
		}
	})
}

// A sender that resolves by status (PagerDuty) leaves the group's incident current; once that
// incident's timeline is removed, the group's next firing opens a new incident instead of writing
// into the removed one.
func TestRemoveTimelineOfAGroupsCurrentIncident(t *testing.T) {
	const g = `{}:{alertname="RetentionStatus"}`
	ctx := context.Background()
	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		start := t0.AddDate(-2, 0, 0)
		first := mustRecord(t, s, batch(g, firing("s1", start)))
		b := batch(g)
		b.Status = &timeline.StatusChange{To: timeline.StatusResolved, At: start.Add(time.Hour)}
		mustRecord(t, s, b)
		if removed, err := s.RemoveTimeline(ctx, first.IncidentID, t0); err != nil || !removed {
			t.Fatalf("RemoveTimeline = %v, %v", removed, err)
		}
		next := mustRecord(t, s, batch(g, firing("s2", t0)))
		if !next.Opened || next.IncidentID == first.IncidentID {
			t.Fatalf("firing after removal: %+v, removed incident %s", next, first.IncidentID)
		}
		inc, err := s.Incident(ctx, next.IncidentID)
		if err != nil || inc.Status != timeline.StatusOpen || inc.EventCount != 1 {
			t.Fatalf("new incident %+v, %v", inc, err)
		}
	})
}

func TestRemoveTimelineConcurrentReplicas(t *testing.T) {
	const g = `{}:{alertname="RetentionRace"}`
	ctx := context.Background()
	backends(t, func(t *testing.T, _ *redisstore.Store, rdb redis.UniversalClient) {
		prefix := testPrefix()
		s := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
		start := t0.AddDate(-2, 0, 0)
		r := mustRecord(t, s, batch(g, firing("x1", start)))
		mustRecord(t, s, withResolve(batch(g, resolved("x1", start, start.Add(time.Hour))), start.Add(time.Hour)))
		var removed atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each replica has its own Store on the same Redis.
				other := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
				ok, err := other.RemoveTimeline(ctx, r.IncidentID, t0)
				if err != nil {
					t.Error(err)
				}
				if ok {
					removed.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := removed.Load(); n != 1 {
			t.Fatalf("%d replicas report the removal, want exactly 1", n)
		}
	})
}
