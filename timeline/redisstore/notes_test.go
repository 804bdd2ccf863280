package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

func note(key, text string, at time.Time) timeline.KeyedEvent {
	return timeline.KeyedEvent{DedupeKey: "note:" + key, Event: timeline.Event{
		ID: timeline.EventID(timeline.SourceManual, key), At: at, RecordedAt: at.Add(time.Minute),
		Source: timeline.SourceManual, Type: timeline.TypeNote, Kind: timeline.KindContext,
		Role: "incident commander", Fact: text, Attributes: []byte(`{"flags":[]}`)}}
}

func TestAddContext(t *testing.T) {
	ctx := context.Background()
	backends(t, func(t *testing.T, s *redisstore.Store, _ redis.UniversalClient) {
		t.Run("a note is an event of the timeline, in time order, counted", func(t *testing.T) {
			res := mustRecord(t, s, batch("notes1", firing("n1", t0)))
			before, _ := s.Incident(ctx, res.IncidentID)
			_ = facts(t, s, res.IncidentID) // warm the read cache: the note must show up anyway
			ev, added, err := s.AddContext(ctx, res.IncidentID, note("k1", "restarted the replica by hand", t0.Add(-time.Second)))
			if err != nil || !added || ev.Fact != "restarted the replica by hand" {
				t.Fatalf("AddContext = %+v, %v, %v", ev, added, err)
			}
			got := facts(t, s, res.IncidentID)
			if len(got) != 2 || got[0] != "restarted the replica by hand" || got[1] != "alert n1 firing" {
				t.Fatalf("timeline %q, want the note first (it refers to an earlier time)", got)
			}
			after, _ := s.Incident(ctx, res.IncidentID)
			if after.EventCount != before.EventCount+1 || after.UpdatedAt.IsZero() {
				t.Errorf("event count %d -> %d, updated_at %v", before.EventCount, after.EventCount, after.UpdatedAt)
			}
		})
		t.Run("the same key again is a no-op that answers the stored note", func(t *testing.T) {
			res := mustRecord(t, s, batch("notes2", firing("n2", t0)))
			first, _, err := s.AddContext(ctx, res.IncidentID, note("k2", "first text", t0))
			if err != nil {
				t.Fatal(err)
			}
			ev, added, err := s.AddContext(ctx, res.IncidentID, note("k2", "retried with other text", t0.Add(time.Hour)))
			if err != nil || added {
				t.Fatalf("retry: added %v, err %v", added, err)
			}
			if ev.Fact != first.Fact || !ev.At.Equal(first.At) || ev.ID != first.ID {
				t.Errorf("retry answered %+v, want the stored %+v", ev, first)
			}
			if got := facts(t, s, res.IncidentID); len(got) != 2 {
				t.Errorf("timeline %q, want the alert and one note", got)
			}
		})
		t.Run("unknown incident", func(t *testing.T) {
			_, _, err := s.AddContext(ctx, "no-such-incident", note("k3", "x", t0))
			if !errors.Is(err, timeline.ErrNotFound) {
				t.Fatalf("err %v, want ErrNotFound", err)
			}
		})
		t.Run("only context, only keyed", func(t *testing.T) {
			res := mustRecord(t, s, batch("notes4", firing("n4", t0)))
			fact := note("k4", "x", t0)
			fact.Event.Kind = timeline.KindFact
			if _, _, err := s.AddContext(ctx, res.IncidentID, fact); !errors.Is(err, timeline.ErrInvalid) {
				t.Errorf("a fact: err %v, want ErrInvalid", err)
			}
			unkeyed := note("k4", "x", t0)
			unkeyed.DedupeKey = ""
			if _, _, err := s.AddContext(ctx, res.IncidentID, unkeyed); !errors.Is(err, timeline.ErrInvalid) {
				t.Errorf("no key: err %v, want ErrInvalid", err)
			}
			if got := facts(t, s, res.IncidentID); len(got) != 1 {
				t.Errorf("timeline %q, want nothing added", got)
			}
		})
		t.Run("a merged incident's notes go where it was folded", func(t *testing.T) {
			pd := mustRecord(t, s, pdBatch("PDN", event("incident_triggered", t0, "triggered"), "ev1"))
			am := batch("notes5", firing("n5", t0))
			am.Links = []string{"am:notes5"}
			a := mustRecord(t, s, am)
			mustRecord(t, s, pdBatch("PDN", event("incident_acknowledged", t0.Add(time.Minute), "acked"), "ev2", "am:notes5"))
			if _, err := s.Incident(ctx, pd.IncidentID); err != nil {
				t.Fatalf("merged incident not found by its old id: %v", err)
			}
			if _, added, err := s.AddContext(ctx, pd.IncidentID, note("k5", "context on the old id", t0.Add(2*time.Minute))); err != nil || !added {
				t.Fatalf("AddContext on the old id: %v, %v", added, err)
			}
			got := facts(t, s, a.IncidentID)
			if got[len(got)-1] != "context on the old id" {
				t.Errorf("timeline of the incident folded into: %q", got)
			}
			if _, added, _ := s.AddContext(ctx, a.IncidentID, note("k5", "again, by the new id", t0)); added {
				t.Error("the same key by the new id appended again")
			}
		})
	})
}

func TestAddContextUnavailable(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	s := redisstore.New(rdb, redisstore.Options{})
	mr.Close()
	if _, _, err := s.AddContext(context.Background(), "x", note("k", "x", t0)); !errors.Is(err, timeline.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
}
