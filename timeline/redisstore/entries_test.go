package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// A long timeline is read in chunks of 1,000 entries; whatever the chunk boundaries, the cache's
// state and the order events arrived in, a read gives every event once, in the order the API shows
// them (by time, then by arrival), with refinements applied.
func TestSortedEntriesAcrossChunks(t *testing.T) {
	ctx := context.Background()
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		var want []recorded // in arrival order
		group := fmt.Sprintf("chunks-%d", idSeq.Add(1))
		var id string
		record := func(n int, at func(i int) time.Time) {
			t.Helper()
			for lo := 0; lo < n; lo += 250 {
				var occ []timeline.Occurrence
				for i := lo; i < min(lo+250, n); i++ {
					o := firing(fmt.Sprintf("%s-%d", group, len(want)+i), at(i))
					occ = append(occ, o)
				}
				b := batch(group, occ...)
				res := mustRecord(t, s, b)
				if res.Appended != len(occ) {
					t.Fatalf("appended %d of %d", res.Appended, len(occ))
				}
				id = res.IncidentID
				for _, o := range occ {
					want = append(want, recorded{id: o.Event.ID, at: o.Event.At, fact: o.Event.Fact})
				}
			}
		}
		// 2,000 events: two full chunks, then a read that finds nothing more. Every fourth batch
		// happened before the ones that came earlier, and many events share an instant.
		record(2000, func(i int) time.Time {
			if i/250%4 == 3 {
				return t0.Add(-time.Duration(i) * time.Second)
			}
			return t0.Add(time.Duration(i/3) * time.Second)
		})
		check := func(name string, st *redisstore.Store, refined map[string]string) {
			t.Helper()
			got, err := st.SortedEntries(ctx, id)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			exp := sortedWant(want)
			if len(got) != len(exp) {
				t.Fatalf("%s: %d entries, want %d", name, len(got), len(exp))
			}
			for i, e := range got {
				var ev timeline.Event
				if err := json.Unmarshal(e.JSON, &ev); err != nil {
					t.Fatalf("%s: entry %d: %v", name, i, err)
				}
				fact := exp[i].fact
				if f, ok := refined[ev.ID]; ok {
					fact = f
				}
				if ev.ID != exp[i].id || ev.Fact != fact || e.At != exp[i].at.UnixNano() || e.ID() != ev.ID {
					t.Fatalf("%s: entry %d is %s %q at %d, want %s %q at %d", name, i, ev.ID, ev.Fact, e.At,
						exp[i].id, fact, exp[i].at.UnixNano())
				}
			}
			arrival, err := st.Entries(ctx, id)
			if err != nil || len(arrival) != len(want) {
				t.Fatalf("%s: Entries: %d, %v", name, len(arrival), err)
			}
			for i, e := range arrival {
				if e.ID() != want[i].id {
					t.Fatalf("%s: Entries[%d] = %s, want %s (arrival order)", name, i, e.ID(), want[i].id)
				}
			}
		}
		uncached := func() *redisstore.Store {
			return redisstore.New(rdb, redisstore.Options{Prefix: prefixOf(t, s, rdb, id), ReadCacheBytes: -1})
		}
		check("first read", s, nil)
		check("cached", s, nil)
		check("cache off", uncached(), nil)
		// 1,300 more: the cached read fetches more than a chunk of new entries, some of them earlier
		// than everything cached.
		record(1300, func(i int) time.Time { return t0.Add(time.Duration(i-700) * time.Second) })
		check("grown past a chunk", s, nil)
		check("grown, cache off", uncached(), nil)
		refined := map[string]string{}
		for _, i := range []int{0, 999, 1000, 2999} {
			r := timeline.Refinement{IncidentID: id, EventID: want[i].id, Role: "database on-call", Fact: fmt.Sprintf("refined %d", i)}
			if err := s.Refine(ctx, r); err != nil {
				t.Fatal(err)
			}
			refined[r.EventID] = r.Fact
		}
		check("refined", s, refined)
		check("refined, twice (the shared view stays unrefined)", s, refined)
		check("refined, cache off", uncached(), refined)
	})
}

type recorded struct {
	id   string
	at   time.Time
	fact string
}

func sortedWant(want []recorded) []recorded {
	out := slices.Clone(want)
	slices.SortStableFunc(out, func(a, b recorded) int { return a.at.Compare(b.at) })
	return out
}

// prefixOf finds the key prefix s uses, so a second store can share its keys.
func prefixOf(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient, id string) string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), "*:i:"+id+":e").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("stream keys %v, %v", keys, err)
	}
	return keys[0][:len(keys[0])-len(":i:"+id+":e")]
}
