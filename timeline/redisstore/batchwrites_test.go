package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// The record script reads the group hash once and writes it once per batch; these tests check
// that a batch still sees its own decisions (an alert firing and resolving in one notification),
// and that batches larger than one Redis call's worth of fields (chunked HMGET and HSET) keep
// every rule.

// aliasFields counts the alias fields ("a" + 8 bytes) of group g's hash (see keys.go).
func aliasFields(t *testing.T, rdb redis.UniversalClient, g string) int {
	t.Helper()
	sum := sha256.Sum256([]byte(string(timeline.SourceAlertmanager) + "\x00" + g))
	n := 0
	for f := range rdb.HGetAll(context.Background(), keysWith(t, rdb, "*:g:"+hex.EncodeToString(sum[:16]))).Val() {
		if len(f) == 9 && f[0] == 'a' {
			n++
		}
	}
	return n
}

func TestOneBatchFiresAndResolves(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		g := `{}:{alertname="OneBatch"}` + testPrefix()
		t1 := t0.Add(time.Minute)
		b := batch(g, firing("x", t0), resolved("x", t0, t1))
		if r := mustRecord(t, s, b); !r.Opened || r.Appended != 2 || r.Duplicates != 0 {
			t.Fatalf("fire and resolve in one batch: %+v", r)
		}
		if n := aliasFields(t, rdb, g); n != 0 {
			t.Fatalf("%d alias fields left after the alert resolved", n)
		}
		if r := mustRecord(t, s, b); r.Appended != 0 || r.Duplicates != 2 {
			t.Fatalf("repeat: %+v", r)
		}
		// Fired anew and resolved by its alias (no start time) in the next notification, then a
		// new occurrence fires in the same batch as another copy of that resolution.
		t2, t3 := t0.Add(time.Hour), t0.Add(2*time.Hour)
		mustRecord(t, s, batch(g, firing("x", t2)))
		byAlias := timeline.Occurrence{Key: "x:unknown", Alias: "x", State: timeline.OccurrenceResolved,
			Event: event(timeline.TypeAlertResolved, t3, "alert x resolved")}
		r := mustRecord(t, s, batch(g, byAlias, firing("x", t3)))
		if r.Appended != 2 || r.Duplicates != 0 {
			t.Fatalf("resolution by alias, then a new firing: %+v", r)
		}
		if n := aliasFields(t, rdb, g); n != 1 {
			t.Fatalf("%d alias fields, want the new firing's", n)
		}
		if r := mustRecord(t, s, batch(g, byAlias)); r.Appended != 0 || r.Duplicates != 1 {
			t.Fatalf("repeated resolution by alias: %+v", r)
		}
		// The alias now names the occurrence fired at t3: a resolution by alias finishes it.
		r = mustRecord(t, s, batch(g, timeline.Occurrence{Key: "x:unknown2", Alias: "x",
			State: timeline.OccurrenceResolved, Event: event(timeline.TypeAlertResolved, t3.Add(time.Minute), "alert x resolved again")}))
		if r.Appended != 1 {
			t.Fatalf("second resolution by alias: %+v", r)
		}
		if n := aliasFields(t, rdb, g); n != 0 {
			t.Fatalf("%d alias fields left", n)
		}
	})
}

func TestLargeBatches(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		g := `{}:{alertname="Large"}` + testPrefix()
		const n = 700 // 2 fields per firing alert, 2 per resolved one: more than 1,000 per call
		fire := func(at time.Time) timeline.Batch {
			occ := make([]timeline.Occurrence, n)
			for i := range occ {
				occ[i] = firing(fmt.Sprintf("fp%04d", i), at)
			}
			return batch(g, occ...)
		}
		resolve := func(starts, at time.Time, byAlias bool) timeline.Batch {
			occ := make([]timeline.Occurrence, n)
			for i := range occ {
				occ[i] = resolved(fmt.Sprintf("fp%04d", i), starts, at)
				if byAlias {
					occ[i].Key = occ[i].Alias + ":unknown"
				}
			}
			return batch(g, occ...)
		}
		t1, t2, t3 := t0.Add(time.Minute), t0.Add(time.Hour), t0.Add(2*time.Hour)
		for _, step := range []struct {
			name             string
			b                timeline.Batch
			appended, dups   int
			aliasFieldsAfter int
		}{
			{"fire", fire(t0), n, 0, n},
			{"fire again", fire(t0), 0, n, n},
			{"resolve", resolve(t0, t1, false), n, 0, 0},
			{"resolve again", resolve(t0, t1, false), 0, n, 0},
			{"fire anew", fire(t2), n, 0, n},
			{"resolve by alias", resolve(t2, t3, true), n, 0, 0},
			{"resolve by alias again", resolve(t2, t3, true), 0, n, 0},
		} {
			r := mustRecord(t, s, step.b)
			if r.Appended != step.appended || r.Duplicates != step.dups {
				t.Fatalf("%s: %+v, want %d appended and %d duplicates", step.name, r, step.appended, step.dups)
			}
			if got := aliasFields(t, rdb, g); got != step.aliasFieldsAfter {
				t.Fatalf("%s: %d alias fields, want %d", step.name, got, step.aliasFieldsAfter)
			}
		}
		r := mustRecord(t, s, fire(t0)) // a duplicate: names the incident
		if l := rdb.XLen(context.Background(), keysWith(t, rdb, "*:i:"+r.IncidentID+":e")).Val(); l != 4*n {
			t.Fatalf("%d events, want %d", l, 4*n)
		}
	})
}
