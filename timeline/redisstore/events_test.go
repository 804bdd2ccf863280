package redisstore_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// The first read of a timeline after a restart (SortedEvents with nothing cached) writes every
// event exactly as a warm read and as a read with the cache off do: S2 blocks, values stored as
// JSON and zstd frames of older formats, across chunks, out of time order, with refinements. Once
// it is closed, the cache holds the timeline and reads are warm.
func TestSortedEventsColdEqualsWarm(t *testing.T) {
	frames := zstdFrames(t)
	ctx := context.Background()
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		group := fmt.Sprintf("cold-%d", idSeq.Add(1))
		var id string
		n := 0
		record := func(count int, at func(i int) time.Time) {
			t.Helper()
			for lo := 0; lo < count; lo += 250 {
				var occ []timeline.Occurrence
				for i := lo; i < min(lo+250, count); i++ {
					occ = append(occ, firing(fmt.Sprintf("%s-%d", group, n+i), at(i)))
				}
				id = mustRecord(t, s, batch(group, occ...)).IncidentID
			}
			n += count
		}
		// Older formats among the current one: zstd frames and plain JSON, some in the first
		// chunk and some in a later one, at times between the S2 events'.
		var plain []string
		addOld := func(k int) {
			t.Helper()
			ek := keysWith(t, rdb, "*:i:"+id+":e")
			for i, f := range frames {
				at := t0.Add(time.Duration(k*10+i) * time.Second).UnixNano()
				if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: ek, Values: []any{"t", at, "e", f.Stored}}).Err(); err != nil {
					t.Fatal(err)
				}
			}
			js := fmt.Sprintf(`{"id":"plain-%d","at":"2026-11-22T10:05:01Z","source":"manual","type":"note","kind":"context","role":"incident commander","fact":"plain %d"}`, k, k)
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: ek, Values: []any{"t", t0.Add(time.Duration(k) * time.Second).UnixNano(), "e", js}}).Err(); err != nil {
				t.Fatal(err)
			}
			plain = append(plain, js)
		}
		record(500, func(i int) time.Time { return t0.Add(time.Duration(i/3) * time.Second) })
		addOld(1)
		record(1500, func(i int) time.Time {
			if i/250%4 == 3 {
				return t0.Add(-time.Duration(i) * time.Second) // late deliveries of earlier events
			}
			return t0.Add(time.Duration(i/3) * time.Second)
		})
		addOld(2)
		prefix := prefixOf(t, s, rdb, id)
		ref := redisstore.New(rdb, redisstore.Options{Prefix: prefix, ReadCacheBytes: -1})
		arrival, err := ref.Entries(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{0, 777, 1500, len(arrival) - 1} { // an S2 event in each chunk, and the last plain one
			r := timeline.Refinement{IncidentID: id, EventID: arrival[k].ID(), Role: "database on-call", Fact: fmt.Sprintf("refined %d", k)}
			if err := s.Refine(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		want, err := ref.SortedEntries(ctx, id)
		if err != nil || len(want) != 2000+2*len(frames)+2 {
			t.Fatalf("reference: %d entries (%v), want %d", len(want), err, 2000+2*len(frames)+2)
		}
		if !bytes.Contains(want[len(want)/2].JSON, []byte(`"id"`)) || !bytes.Contains(joined(want), []byte(`"fact":"refined 1500"`)) ||
			!bytes.Contains(joined(want), []byte(plain[1][:40])) {
			t.Fatal("the reference timeline is not what the test needs")
		}
		compare := func(name string, ev timeline.Events) {
			t.Helper()
			if ev.Len() != len(want) {
				t.Fatalf("%s: %d events, want %d", name, ev.Len(), len(want))
			}
			var buf []byte
			for i, w := range want {
				if buf, err = ev.AppendJSON(buf[:0], i); err != nil {
					t.Fatalf("%s: event %d: %v", name, i, err)
				}
				if !bytes.Equal(buf, w.JSON) || ev.Size(i) != len(w.JSON) {
					t.Fatalf("%s: event %d is %s (size %d), want %s", name, i, buf, ev.Size(i), w.JSON)
				}
			}
			for _, i := range []int{0, 1, len(want) / 2, len(want) - 1} {
				if got := ev.ID(i); got != want[i].ID() {
					t.Fatalf("%s: ID(%d) = %q, want %q", name, i, got, want[i].ID())
				}
				if got := ev.Index(want[i].ID()); got != i {
					t.Fatalf("%s: Index(%q) = %d, want %d", name, want[i].ID(), got, i)
				}
			}
			if got := ev.Index("no-such-event"); got != -1 {
				t.Fatalf("%s: Index of an unknown event = %d", name, got)
			}
		}
		for _, st := range []*redisstore.Store{
			redisstore.New(rdb, redisstore.Options{Prefix: prefix}),                     // a restart
			redisstore.New(rdb, redisstore.Options{Prefix: prefix, ReadCacheBytes: -1}), // cache off
		} {
			cold, err := st.SortedEvents(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if _, warm := cold.(timeline.EntryEvents); warm {
				t.Fatal("the first read of a new store was not read cold")
			}
			compare("cold", cold)
			cold.Close()
			cold.Close() // twice is harmless
			redisstore.WaitCacheFills(st)
			again, err := st.SortedEvents(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			compare("after the first read", again)
			again.Close()
			if sorted, err := st.SortedEntries(ctx, id); err != nil || !bytes.Equal(joined(sorted), joined(want)) {
				t.Fatalf("SortedEntries after a cold read: %d entries, %v; not the reference", len(sorted), err)
			}
			if es, err := st.Entries(ctx, id); err != nil || !bytes.Equal(joined(es), joined(mustEntries(t, ref, id))) {
				t.Fatalf("Entries after a cold read: %d entries, %v; not the reference", len(es), err)
			}
		}
		// With the cache on, the second read is served from what the first one cached.
		st := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
		cold, err := st.SortedEvents(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		cold.Close()
		redisstore.WaitCacheFills(st)
		warm, err := st.SortedEvents(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := warm.(timeline.EntryEvents); !ok {
			t.Fatal("the read after a cold read's fill was not served from the cache")
		}
		compare("warm", warm)
		warm.Close()
	})
}

// A stored event that does not decode fails a cold read as a whole, as it fails a warm one: the
// read API answers with an error instead of a timeline cut short.
func TestSortedEventsCorruptEvent(t *testing.T) {
	ctx := context.Background()
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		group := fmt.Sprintf("corrupt-%d", idSeq.Add(1))
		var occ []timeline.Occurrence
		for i := range 1200 {
			occ = append(occ, firing(fmt.Sprintf("%s-%d", group, i), t0.Add(time.Duration(i)*time.Second)))
		}
		id := mustRecord(t, s, batch(group, occ...)).IncidentID
		ek := keysWith(t, rdb, "*:i:"+id+":e")
		// An S2 block whose header claims 100 bytes and whose body is not a block.
		bad := []byte{0x02, 100, 0xff, 0xff, 0xff, 0xff}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: ek, Values: []any{"t", t0.UnixNano(), "e", bad}}).Err(); err != nil {
			t.Fatal(err)
		}
		st := redisstore.New(rdb, redisstore.Options{Prefix: prefixOf(t, s, rdb, id)})
		if ev, err := st.SortedEvents(ctx, id); err == nil {
			ev.Close()
			t.Fatal("a cold read of a timeline with a corrupt event succeeded")
		}
		if _, err := st.SortedEntries(ctx, id); err == nil {
			t.Fatal("SortedEntries of a timeline with a corrupt event succeeded")
		}
	})
}

func joined(es []timeline.Entry) []byte {
	var b []byte
	for _, e := range es {
		b = append(append(b, e.JSON...), '\n')
	}
	return b
}

func mustEntries(t *testing.T, s *redisstore.Store, id string) []timeline.Entry {
	t.Helper()
	es, err := s.Entries(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return es
}
