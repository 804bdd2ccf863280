package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
)

// Reading a timeline. The first read of a long timeline after a restart is what this file is shaped
// by: in a new process every byte the read touches for the first time is a page fault, and on a
// virtual machine a fault costs more than decompressing the bytes it maps. So the stream is read in
// chunks of entriesChunk entries as raw RESP into two reusable buffers (no reply tree of []any and
// strings, no copy of each value into a []byte), each chunk is decompressed by the CPUs while Redis
// serves the next, and the only memory a read keeps is the events' JSON, which the cache holds.

// entriesChunk is how many entries one XRANGE asks for: about 300 KB of reply for alert events, small
// enough to stay in the CPU caches between Redis and the decoders, large enough that the round trips
// (ten for a 10,000-event timeline) cost little next to the decoding.
const entriesChunk = 1000

// Entries returns an incident's events in arrival order, or an error wrapping timeline.ErrNotFound.
// Entries already read are kept in process (bounded): a read fetches only the entries appended
// since, and reads everything again only when the stream is not what the cache expects.
func (s *Store) Entries(ctx context.Context, id string) (es []timeline.Entry, err error) {
	defer s.timed("entries", &err)()
	v, refined, err := s.view(ctx, id)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(v.arrival)
	if len(refined) > 0 {
		if err := applyRefinements(out, refined); err != nil {
			return nil, fmt.Errorf("entries %s: %w", id, err)
		}
	}
	return out, nil
}

// The read API serves timelines through SortedEntries when the store offers it: a change of its
// signature must not silently send it back to copying and sorting on every request.
var _ timeline.SortedReader = (*Store)(nil)

// SortedEntries returns an incident's events ordered as timeline.SortEntries orders them, or an
// error wrapping timeline.ErrNotFound. The slice is shared with the read cache and with other
// callers: it must not be modified. A warm read of a long timeline costs no copy and no sort.
func (s *Store) SortedEntries(ctx context.Context, id string) (es []timeline.Entry, err error) {
	defer s.timed("entries", &err)()
	return s.sortedEntries(ctx, id)
}

func (s *Store) sortedEntries(ctx context.Context, id string) ([]timeline.Entry, error) {
	v, refined, err := s.view(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(refined) == 0 {
		return v.sorted, nil
	}
	out := slices.Clone(v.sorted)
	if err := applyRefinements(out, refined); err != nil {
		return nil, fmt.Errorf("entries %s: %w", id, err)
	}
	return out, nil
}

// view reads an incident's entries (through the cache) and its refinements.
func (s *Store) view(ctx context.Context, id string) (entriesView, map[string]string, error) {
	cached := s.cache.get(id)
	from := "-"
	if n := len(cached.arrival); n > 0 {
		from = cached.arrival[n-1].Cursor // inclusive (Redis before 6.2 has no exclusive ranges): skipped below
	}
	r := s.newStreamReader(ctx, id)
	defer func() { r.release() }() // r may be replaced below
	var (
		exists  *redis.IntCmd
		length  *redis.IntCmd
		refined *redis.MapStringStringCmd
	)
	err := retryRead(ctx, func() error {
		pipe := s.rdb.Pipeline()
		exists = pipe.Exists(ctx, s.incidentKey(id))
		_ = pipe.Process(ctx, r.chunkCmd(ctx, from))
		length = pipe.XLen(ctx, s.eventsKey(id))
		refined = pipe.HGetAll(ctx, s.refinedKey(id))
		_, err := pipe.Exec(ctx)
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		return err
	})
	if err != nil {
		return entriesView{}, nil, s.wrap("entries "+id, err)
	}
	if exists.Val() == 0 {
		if to, err := s.rdb.Get(ctx, s.mergedKey(id)).Result(); err == nil && to != id {
			return s.view(ctx, to)
		}
		return entriesView{}, nil, fmt.Errorf("incident %q: %w", id, timeline.ErrNotFound)
	}
	fresh, err := r.read(ctx, from, int(length.Val())-len(cached.arrival))
	if err != nil {
		return entriesView{}, nil, err
	}
	var v entriesView
	switch n := len(cached.arrival); {
	case n > 0 && int64(n+len(fresh)) == length.Val():
		if len(fresh) == 0 {
			return cached, refined.Val(), nil
		}
		v.arrival = make([]timeline.Entry, 0, n+len(fresh))
		v.arrival = append(append(v.arrival, cached.arrival...), fresh...)
		timeline.SortEntries(fresh) // fresh is this read's own slice
		v.sorted = mergeSorted(cached.sorted, fresh)
	case n > 0:
		// The stream changed under the cache (expired and recreated, trimmed): read it all.
		r.release()
		r = s.newStreamReader(ctx, id)
		if err := retryRead(ctx, func() error { return s.rdb.Process(ctx, r.chunkCmd(ctx, "-")) }); err != nil {
			return entriesView{}, nil, s.wrap("entries "+id, err)
		}
		if v.arrival, err = r.read(ctx, "-", int(length.Val())); err != nil {
			return entriesView{}, nil, err
		}
		v.sorted = sortedCopy(v.arrival)
	default:
		v.arrival = fresh
		v.sorted = sortedCopy(fresh)
	}
	s.cache.put(id, v)
	return v, refined.Val(), nil
}

// sortedCopy returns es ordered by timeline.SortEntries, sharing es when it is in order already
// (events usually arrive in the order they happened).
func sortedCopy(es []timeline.Entry) []timeline.Entry {
	if slices.IsSortedFunc(es, func(a, b timeline.Entry) int { return compareAt(a.At, b.At) }) {
		return es
	}
	out := slices.Clone(es)
	timeline.SortEntries(out)
	return out
}

// mergeSorted merges two runs ordered by time, a's entries first among equal times: a holds the
// entries that arrived first, so the result is what SortEntries gives for a followed by b.
func mergeSorted(a, b []timeline.Entry) []timeline.Entry {
	if len(a) == 0 || len(b) == 0 || a[len(a)-1].At <= b[0].At {
		out := make([]timeline.Entry, 0, len(a)+len(b))
		return append(append(out, a...), b...)
	}
	out := make([]timeline.Entry, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if b[j].At < a[i].At {
			out = append(out, b[j])
			j++
		} else {
			out = append(out, a[i])
			i++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func compareAt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// streamReader reads one incident's stream chunk by chunk. bufs[0] receives the chunk being read
// from Redis while the entries of bufs[1] are decompressed; a buffer is reused once its entries are
// decoded (decoded values never point into it).
type streamReader struct {
	s    *Store
	id   string
	key  string
	bufs [2]*replyBuffer
	cur  int // which buffer the next chunk goes into
}

// replyBuffer collects one raw XRANGE reply (go-redis writes it through Write).
type replyBuffer struct {
	b     []byte
	items []rawEntry     // the entries of b
	done  sync.WaitGroup // the decoders of the entries in b
}

func (w *replyBuffer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// ReadFrom reads a bulk string straight into the buffer: go-redis copies each one with io.CopyN,
// which would otherwise allocate a transfer buffer per value.
func (w *replyBuffer) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		if len(w.b) == cap(w.b) {
			w.b = slices.Grow(w.b, 4096)
		}
		m, err := r.Read(w.b[len(w.b):cap(w.b)])
		w.b = w.b[:len(w.b)+m]
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

var replyBuffers = sync.Pool{New: func() any {
	return &replyBuffer{b: make([]byte, 0, 512<<10), items: make([]rawEntry, 0, entriesChunk)}
}}

// putReplyBuffer gives b back to the pool, emptied.
func putReplyBuffer(b *replyBuffer) {
	if cap(b.b) <= 4<<20 { // one huge event must not stay pinned in the pool
		b.b = b.b[:0]
		b.items = b.items[:0]
		replyBuffers.Put(b)
	}
}

func (s *Store) newStreamReader(_ context.Context, id string) *streamReader {
	r := &streamReader{s: s, id: id, key: s.eventsKey(id)}
	r.bufs[0] = replyBuffers.Get().(*replyBuffer)
	r.bufs[1] = replyBuffers.Get().(*replyBuffer)
	return r
}

// release gives the buffers back; the reader must not be used after.
func (r *streamReader) release() {
	for i, b := range r.bufs {
		if b == nil {
			continue
		}
		b.done.Wait()
		putReplyBuffer(b)
		r.bufs[i] = nil
	}
}

// chunkCmd is the XRANGE of the chunk starting at from (inclusive), written into the current buffer.
func (r *streamReader) chunkCmd(ctx context.Context, from string) *redis.RawWriteToCmd {
	return xrangeChunk(ctx, r.bufs[r.cur], r.key, from)
}

// xrangeChunk is the XRANGE of the chunk of stream key starting at from (inclusive), written into
// buf (emptied first, so that a retry starts again).
func xrangeChunk(ctx context.Context, buf *replyBuffer, key, from string) *redis.RawWriteToCmd {
	buf.b = buf.b[:0]
	return redis.NewRawWriteToCmd(ctx, buf, "XRANGE", key, from, "+", "COUNT", entriesChunk)
}

// retryRead runs a read once more after a connection failure. go-redis does not retry commands
// that write their reply to a writer (a retry would append a second reply to the first), so the
// readers do: do builds its command again, which empties the buffer.
func retryRead(ctx context.Context, do func() error) error {
	err := do()
	if err != nil && unavailable(err) && ctx.Err() == nil {
		err = do()
	}
	return err
}

// firstError keeps the first error the decoders of a read report.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// chunked is the result of a read decoded chunk by chunk, by several goroutines at once: each chunk
// gets its part of one slice sized for the entries the stream is thought to hold, which is never
// reallocated while decoders write into it; chunks beyond it (appended meanwhile) get slices of
// their own, joined at the end.
type chunked[T any] struct {
	all     []T
	spilled bool // a part is not in all
	parts   [][]T
}

func newChunked[T any](expect int) *chunked[T] {
	return &chunked[T]{all: make([]T, 0, max(expect, 0))}
}

// part returns the slice the next chunk's n entries are written into.
func (c *chunked[T]) part(n int) []T {
	var p []T
	if m := len(c.all) + n; m <= cap(c.all) && !c.spilled {
		p, c.all = c.all[len(c.all):m], c.all[:m]
	} else {
		p, c.spilled = make([]T, n), true
	}
	c.parts = append(c.parts, p)
	return p
}

// joined returns every chunk's entries in order, once the decoders are done.
func (c *chunked[T]) joined() []T {
	if !c.spilled {
		return c.all
	}
	if len(c.parts) == 1 {
		return c.parts[0]
	}
	n := 0
	for _, p := range c.parts {
		n += len(p)
	}
	out := make([]T, 0, n)
	for _, p := range c.parts {
		out = append(out, p...)
	}
	return out
}

// read decodes the chunk already fetched into the current buffer (the XRANGE from `from`), fetching
// and decoding the following chunks while there are more, and returns the entries after `from` in
// arrival order (the entry at `from` itself, when from is a cursor, is left out). expect is how many
// entries the stream is thought to hold after from: they are decoded into one slice of that size
// (chunks beyond it, appended meanwhile, get slices of their own).
func (r *streamReader) read(ctx context.Context, from string, expect int) ([]timeline.Entry, error) {
	var (
		out     = newChunked[timeline.Entry](expect)
		bad     firstError
		workers = max(runtime.GOMAXPROCS(0), 1)
	)
	skip := from
	for {
		buf := r.bufs[r.cur]
		var err error
		buf.items, err = parseXRange(buf.b, buf.items[:0])
		items := buf.items
		if err != nil {
			bad.set(fmt.Errorf("entries %s: %w", r.id, err))
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
		part := out.part(len(items))
		per := (len(items) + workers - 1) / workers
		for lo := 0; lo < len(items); lo += per {
			hi := min(lo+per, len(items))
			chunk := items[lo:hi]
			buf.done.Add(1)
			go func() {
				defer buf.done.Done()
				if err := decodeRaw(buf.b, chunk, part[lo:hi]); err != nil {
					bad.set(fmt.Errorf("entries %s: %w", r.id, err))
				}
			}()
		}
		if !full || last == "" || bad.get() != nil {
			break
		}
		// The next chunk goes into the other buffer, once its last chunk's decoders are done.
		r.cur ^= 1
		r.bufs[r.cur].done.Wait()
		skip = last
		if err := retryRead(ctx, func() error { return r.s.rdb.Process(ctx, r.chunkCmd(ctx, last)) }); err != nil {
			bad.set(r.s.wrap("entries "+r.id, err))
			break
		}
	}
	r.bufs[0].done.Wait()
	r.bufs[1].done.Wait()
	if err := bad.get(); err != nil {
		return nil, err
	}
	return out.joined(), nil
}

// rawEntry is one stream entry as it sits in a reply buffer (offsets, so the buffer may be reused).
type rawEntry struct {
	cursor []byte
	at     int64
	value  []byte
}

// decodeRaw fills out with the decoded entries of items, whose slices point into buf.
func decodeRaw(buf []byte, items []rawEntry, out []timeline.Entry) error {
	// The cursors of all items in one string: one allocation instead of one per entry.
	n := 0
	for _, it := range items {
		n += len(it.cursor)
	}
	cursors := make([]byte, 0, n)
	for _, it := range items {
		cursors = append(cursors, it.cursor...)
	}
	all := string(cursors)
	// The compressed events' JSON in one buffer too: one allocation of fresh memory, which the
	// runtime does not clear first, instead of one allocation (and clearing) per event.
	size := 0
	for _, it := range items {
		if n, ok := eventDecodedLen(it.value); ok {
			size += n
		}
	}
	slab := make([]byte, size)
	off := 0
	for i, it := range items {
		cursor := all[off : off+len(it.cursor)]
		off += len(it.cursor)
		var dst []byte
		if n, ok := eventDecodedLen(it.value); ok && n <= len(slab) {
			dst, slab = slab[:n:n], slab[n:]
		}
		js, err := decodeEventValueInto(dst, it.value)
		if err != nil {
			return fmt.Errorf("stream entry %s: %w", it.cursor, err)
		}
		if overlaps(js, buf) {
			// A value stored as JSON comes back as it is, inside the reply buffer, which the next
			// chunk overwrites.
			js = bytes.Clone(js)
		}
		out[i] = timeline.Entry{Cursor: cursor, At: it.at, JSON: js}
	}
	return nil
}

// overlaps reports whether b points into the memory of buf.
func overlaps(b, buf []byte) bool {
	if len(b) == 0 || cap(buf) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p >= lo && p < lo+uintptr(cap(buf))
}

// parseXRange reads an XRANGE reply in RESP2 or RESP3 ([[id, [field, value, ...]], ...]) and
// appends its entries to items. An entry without an id or an "e" field is malformed: the store never
// writes one.
func parseXRange(b []byte, items []rawEntry) ([]rawEntry, error) {
	p := respReader{b: b}
	n, err := p.aggregate()
	if err != nil {
		return items, err
	}
	for range n {
		start := p.off
		if m, err := p.aggregate(); err != nil || m != 2 {
			return items, malformed(b, start, err)
		}
		var e rawEntry
		if e.cursor, err = p.bulk(); err != nil {
			return items, malformed(b, start, err)
		}
		fields, err := p.aggregate()
		if err != nil {
			return items, malformed(b, start, err)
		}
		for k := 0; k+1 < fields; k += 2 {
			name, err := p.bulk()
			if err != nil {
				return items, malformed(b, start, err)
			}
			val, err := p.bulk()
			if err != nil {
				return items, malformed(b, start, err)
			}
			switch string(name) {
			case "t":
				e.at, _ = strconv.ParseInt(string(val), 10, 64)
			case "e":
				e.value = val
			}
		}
		if fields%2 == 1 { // an odd field count is not a stream entry; skip the stray one
			if _, err := p.bulk(); err != nil {
				return items, malformed(b, start, err)
			}
		}
		if len(e.cursor) == 0 || e.value == nil {
			return items, malformed(b, start, nil)
		}
		items = append(items, e)
	}
	if p.off != len(b) {
		return items, fmt.Errorf("XRANGE reply: %d bytes after the last entry", len(b)-p.off)
	}
	return items, nil
}

func malformed(b []byte, start int, err error) error {
	end := min(start+200, len(b))
	if err != nil {
		return fmt.Errorf("malformed stream entry %q: %w", b[start:end], err)
	}
	return fmt.Errorf("malformed stream entry %q", b[start:end])
}

// respReader walks a RESP reply in place.
type respReader struct {
	b   []byte
	off int
}

var errTruncated = errors.New("reply ends early")

// line returns the next header line without its CRLF.
func (p *respReader) line() ([]byte, error) {
	i := bytes.IndexByte(p.b[p.off:], '\n')
	if i < 1 || p.b[p.off+i-1] != '\r' {
		return nil, errTruncated
	}
	l := p.b[p.off : p.off+i-1]
	p.off += i + 1
	if len(l) == 0 {
		return nil, errors.New("empty reply line")
	}
	return l, nil
}

// aggregate reads an array, set or map header and returns its number of elements (a map's pairs
// count twice); a null is empty. An error reply is returned as an error with Redis' message.
func (p *respReader) aggregate() (int, error) {
	l, err := p.line()
	if err != nil {
		return 0, err
	}
	switch l[0] {
	case '*', '~', '%':
		n, err := strconv.Atoi(string(l[1:]))
		if err != nil {
			return 0, fmt.Errorf("bad length %q", l)
		}
		if n < 0 {
			return 0, nil
		}
		if l[0] == '%' {
			n *= 2
		}
		return n, nil
	case '_':
		return 0, nil
	case '-', '!':
		return 0, p.replyError(l)
	}
	return 0, fmt.Errorf("want an array, got %q", l)
}

// bulk reads a bulk string (a slice of the reply).
func (p *respReader) bulk() ([]byte, error) {
	l, err := p.line()
	if err != nil {
		return nil, err
	}
	switch l[0] {
	case '$':
	case '+':
		return l[1:], nil
	case '-', '!':
		return nil, p.replyError(l)
	default:
		return nil, fmt.Errorf("want a string, got %q", l)
	}
	n, err := strconv.Atoi(string(l[1:]))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("bad length %q", l)
	}
	if len(p.b)-p.off < n+2 {
		return nil, errTruncated
	}
	v := p.b[p.off : p.off+n : p.off+n]
	p.off += n + 2
	return v, nil
}

// replyError turns an error reply (a simple one, or RESP3's blob error) into an error carrying
// Redis' message, so that wrap still recognises LOADING, READONLY and the like.
func (p *respReader) replyError(l []byte) error {
	if l[0] == '-' {
		return redisError(l[1:])
	}
	n, err := strconv.Atoi(string(l[1:]))
	if err != nil || n < 0 || len(p.b)-p.off < n+2 {
		return errTruncated
	}
	msg := p.b[p.off : p.off+n]
	p.off += n + 2
	return redisError(msg)
}

type redisError string

func (e redisError) Error() string { return string(e) }
