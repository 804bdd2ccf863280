package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
)

// Cold reads. The first read of a long timeline after a restart used to decode every event into
// fresh memory (9.3 MiB for 10,000 alert events) before the response was written: on a virtual
// machine each first touch of a page costs more than decoding what it holds. So when nothing of
// the timeline is cached, SortedEvents keeps the raw XRANGE replies (the compressed events, about
// a third of the JSON), checks that every event decodes while the next chunk is read, and the
// response decodes each event again into its own small buffer as it is written. The cached view
// that warm reads use is built from the kept replies in the background once the response is
// written (Close).

// The read API writes timelines through SortedEvents when the store offers it.
var _ timeline.EventsReader = (*Store)(nil)

// SortedEvents returns an incident's events ordered as timeline.SortEntries orders them, or an
// error wrapping timeline.ErrNotFound. Everything is read from Redis before it returns. The caller
// must Close the result; a timeline read cold is cached then (in the background).
func (s *Store) SortedEvents(ctx context.Context, id string) (ev timeline.Events, err error) {
	defer s.timed("entries", &err)()
	return s.sortedEvents(ctx, id)
}

func (s *Store) sortedEvents(ctx context.Context, id string) (timeline.Events, error) {
	if len(s.cache.get(id).arrival) > 0 {
		// Warm: the cached view is served as it is (only the entries appended since are read).
		es, err := s.sortedEntries(ctx, id)
		if err != nil {
			return nil, err
		}
		return timeline.EntryEvents(es), nil
	}
	return s.coldEvents(ctx, id)
}

// coldEvents is a timeline read without decoding it into memory of its own: entries point into the
// kept replies.
type coldEvents struct {
	s       *Store
	id      string
	chunks  []coldChunk
	entries []coldEntry // in the order SortEntries gives
	scratch []byte      // for ID and Index
	closed  bool
}

// coldChunk is one XRANGE reply and the entries this read takes from it (a chunk's first entry is
// left out when it is the previous chunk's last: ranges are inclusive).
type coldChunk struct {
	buf   *replyBuffer
	items []rawEntry
}

// coldEntry is one event of a cold read.
type coldEntry struct {
	at    int64
	value []byte // the stored value, in a chunk's buffer
	// js is the event's JSON when it is not decoded from value's S2 block as it is written: a
	// value stored as JSON (in the chunk's buffer), a zstd frame's JSON, a refined event.
	js   []byte
	size int // the length of the event's JSON
}

func (s *Store) coldEvents(ctx context.Context, id string) (timeline.Events, error) {
	ev := &coldEvents{s: s, id: id}
	first := ev.addChunk()
	var (
		exists  *redis.IntCmd
		length  *redis.IntCmd
		refined *redis.MapStringStringCmd
	)
	err := retryRead(ctx, func() error {
		pipe := s.rdb.Pipeline()
		exists = pipe.Exists(ctx, s.incidentKey(id))
		_ = pipe.Process(ctx, xrangeChunk(ctx, first, s.eventsKey(id), "-"))
		length = pipe.XLen(ctx, s.eventsKey(id))
		refined = pipe.HGetAll(ctx, s.refinedKey(id))
		_, err := pipe.Exec(ctx)
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		return err
	})
	if err != nil {
		ev.release()
		return nil, s.wrap("entries "+id, err)
	}
	if exists.Val() == 0 {
		ev.release()
		if to, err := s.rdb.Get(ctx, s.mergedKey(id)).Result(); err == nil && to != id {
			return s.sortedEvents(ctx, to)
		}
		return nil, fmt.Errorf("incident %q: %w", id, timeline.ErrNotFound)
	}
	if err := ev.read(ctx, int(length.Val()), refined.Val()); err != nil {
		ev.release()
		return nil, err
	}
	return ev, nil
}

// read takes the entries of the chunk already fetched, fetching the following chunks while there
// are more, and checks on all CPUs that every event decodes (refined events are decoded, refined
// and kept). expect is how many entries the stream is thought to hold.
func (ev *coldEvents) read(ctx context.Context, expect int, refined map[string]string) error {
	var (
		out     = newChunked[coldEntry](expect)
		bad     firstError
		wg      sync.WaitGroup
		workers = max(runtime.GOMAXPROCS(0), 1)
	)
	skip := "-"
	for {
		c := &ev.chunks[len(ev.chunks)-1]
		var err error
		c.buf.items, err = parseXRange(c.buf.b, c.buf.items[:0])
		items := c.buf.items
		if err != nil {
			bad.set(fmt.Errorf("entries %s: %w", ev.id, err))
			break
		}
		full := len(items) == entriesChunk
		last := ""
		if len(items) > 0 {
			last = string(items[len(items)-1].cursor)
		}
		if len(items) > 0 && skip != "-" && string(items[0].cursor) == skip {
			items = items[1:]
		}
		c.items = items
		part := out.part(len(items))
		per := max((len(items)+workers-1)/workers, 1)
		for lo := 0; lo < len(items); lo += per {
			hi := min(lo+per, len(items))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := checkRaw(items[lo:hi], part[lo:hi], refined); err != nil {
					bad.set(fmt.Errorf("entries %s: %w", ev.id, err))
				}
			}()
		}
		if !full || last == "" || bad.get() != nil {
			break
		}
		skip = last
		buf := ev.addChunk()
		if err := retryRead(ctx, func() error { return ev.s.rdb.Process(ctx, xrangeChunk(ctx, buf, ev.s.eventsKey(ev.id), last)) }); err != nil {
			bad.set(ev.s.wrap("entries "+ev.id, err))
			break
		}
	}
	wg.Wait()
	if err := bad.get(); err != nil {
		return err
	}
	es := out.joined()
	byAt := func(a, b coldEntry) int { return compareAt(a.at, b.at) }
	if !slices.IsSortedFunc(es, byAt) {
		slices.SortStableFunc(es, byAt) // stable: arrival order among equal times, as SortEntries
	}
	ev.entries = es
	return nil
}

// addChunk keeps a new reply buffer for the next chunk.
func (ev *coldEvents) addChunk() *replyBuffer {
	buf := replyBuffers.Get().(*replyBuffer)
	ev.chunks = append(ev.chunks, coldChunk{buf: buf})
	return buf
}

// checkScratch holds the buffers events are decoded into to be checked.
var checkScratch = sync.Pool{New: func() any { return new([]byte) }}

// checkRaw fills out with the entries of items, decoding every event to check that it decodes
// (into a reused buffer: nothing is kept but refined events and zstd frames' JSON).
func checkRaw(items []rawEntry, out []coldEntry, refined map[string]string) error {
	sp := checkScratch.Get().(*[]byte)
	defer checkScratch.Put(sp)
	for i, it := range items {
		e := coldEntry{at: it.at, value: it.value}
		var (
			js  []byte
			err error
		)
		if n, ok := eventDecodedLen(it.value); ok {
			if cap(*sp) < n {
				*sp = make([]byte, n)
			}
			js, err = decodeEventValueInto((*sp)[:n], it.value)
			e.size = n
		} else {
			js, err = decodeEventValue(it.value) // the value itself when it is JSON
			e.js, e.size = js, len(js)
		}
		if err != nil {
			return fmt.Errorf("stream entry %s: %w", it.cursor, err)
		}
		if len(refined) > 0 {
			if _, ok := refined[string(eventIDOf(js))]; ok {
				one := []timeline.Entry{{JSON: bytes.Clone(js)}}
				if err := applyRefinements(one, refined); err != nil {
					return err
				}
				e.js, e.size = one[0].JSON, len(one[0].JSON)
			}
		}
		out[i] = e
	}
	return nil
}

// eventIDOf is timeline.Entry.ID without a string of its own when the id comes first.
func eventIDOf(js []byte) []byte {
	const prefix = `{"id":"`
	if bytes.HasPrefix(js, []byte(prefix)) {
		if end := bytes.IndexByte(js[len(prefix):], '"'); end >= 0 {
			return js[len(prefix) : len(prefix)+end]
		}
	}
	return []byte(timeline.Entry{JSON: js}.ID())
}

// Len is the number of events.
func (ev *coldEvents) Len() int { return len(ev.entries) }

// Size is the length of event i's JSON.
func (ev *coldEvents) Size(i int) int { return ev.entries[i].size }

// AppendJSON appends event i's JSON to dst, decoding it straight into dst's spare capacity.
func (ev *coldEvents) AppendJSON(dst []byte, i int) ([]byte, error) {
	e := &ev.entries[i]
	if e.js != nil {
		return append(dst, e.js...), nil
	}
	l := len(dst)
	dst = slices.Grow(dst, e.size)[:l+e.size]
	js, err := decodeEventValueInto(dst[l:], e.value)
	if err != nil {
		return dst[:l], fmt.Errorf("entries %s: %w", ev.id, err)
	}
	if len(js) != e.size {
		return dst[:l], fmt.Errorf("entries %s: %w", ev.id, errCorruptEvent)
	}
	if &js[0] != &dst[l] {
		copy(dst[l:], js)
	}
	return dst, nil
}

// ID is event i's id.
func (ev *coldEvents) ID(i int) string {
	js, err := ev.AppendJSON(ev.scratch[:0], i)
	ev.scratch = js
	if err != nil {
		return ""
	}
	return string(eventIDOf(js))
}

// Index is the position of the first event whose id is id, -1 when there is none. It decodes the
// events before it again: only a first read with ?after= asks.
func (ev *coldEvents) Index(id string) int {
	for i := range ev.entries {
		js, err := ev.AppendJSON(ev.scratch[:0], i)
		ev.scratch = js
		if err == nil && string(eventIDOf(js)) == id {
			return i
		}
	}
	return -1
}

// Close ends the read. The timeline is then decoded from the kept replies into the read cache in
// the background (unless a read cached it meanwhile, or another cold read is doing it), so warm
// reads serve it as before.
func (ev *coldEvents) Close() {
	if ev.closed {
		return
	}
	ev.closed = true
	if !ev.s.cache.startFill(ev.id) {
		ev.release()
		return
	}
	go ev.fill()
}

// fill decodes the kept replies into the view the read cache keeps (arrival order, and sorted).
func (ev *coldEvents) fill() {
	defer ev.release()
	n := 0
	for _, c := range ev.chunks {
		n += len(c.items)
	}
	arrival := make([]timeline.Entry, n)
	var (
		wg  sync.WaitGroup
		bad atomic.Bool
		sem = make(chan struct{}, max(runtime.GOMAXPROCS(0), 1))
		off int
	)
	for _, c := range ev.chunks {
		out := arrival[off : off+len(c.items)]
		off += len(c.items)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := decodeRaw(c.buf.b, c.items, out); err != nil {
				bad.Store(true)
			}
		}()
	}
	wg.Wait()
	if bad.Load() {
		ev.s.cache.endFill(ev.id, entriesView{}, false)
		return
	}
	ev.s.cache.endFill(ev.id, entriesView{arrival: arrival, sorted: sortedCopy(arrival)}, true)
}

// release gives the kept replies back.
func (ev *coldEvents) release() {
	for _, c := range ev.chunks {
		putReplyBuffer(c.buf)
	}
	ev.chunks = nil
}
