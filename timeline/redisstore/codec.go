package redisstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/postmortemd/postmortemd/timeline"
)

// Stored events. A stream entry's "e" value is one of three kinds, told apart by its first byte so
// that every entry ever written stays readable:
//
//   - '{': the event's JSON as the API shows it (what versions before the compact format wrote, and
//     what events with a snapshot placeholder still get, because the Lua script fills it in);
//   - zstd's magic number (0x28): a zstd frame of that JSON compressed with eventDict, what the
//     first compact format wrote (read only now);
//   - s2Tag (0x02): the tag, then an S2 block of the JSON compressed with eventDict (s2EventDict):
//     what the store writes now.
//
// An event's JSON repeats the same field names and phrases in every event; compressed against a
// dictionary of them it keeps only what is particular to the event (its ids, times, labels and
// sentence): the captured single-alert event shrinks from 982 to 421 bytes. S2 rather than zstd
// because, for events of a few hundred bytes, zstd's per-frame setup of the dictionary's state
// costs more than the compression: S2 encodes the captured events 2.5x faster (BenchmarkEventCodec:
// 2.5-2.8 against 6.4 us of CPU per event) and decodes them 1.4x faster (0.9-1.2 against 1.5-1.7
// us), for 3-4% more bytes (single alert 421 against 408, the storm's events 332 against 319).

// eventDictID is the id of eventDict in every zstd frame compressed with it. Frames and S2 blocks
// were written with eventDict, so it must never change: a new dictionary gets a new id (and a new
// S2 tag), and the reader keeps the old one to read what was written with it.
const eventDictID uint32 = 0x504d4431 // "PMD1"

// eventDict is raw content (no entropy tables): skeletons of the events postmortemd writes, most
// frequent last (zstd prefers the closest matches). It holds no deployment's values.
const eventDict = `{"id":"","at":"","recorded_at":"","source":"pagerduty","type":"incident_triggered","kind":"fact","role":"PagerDuty automation","fact":"PagerDuty incident # triggered on service  (urgency high), paged via the  policy to ","attributes":{"incident_id":"","incident_number":,"html_url":"https://.pagerduty.com/incidents/","service":"","urgency":"high","priority":"","escalation_policy":"","assignees":[],"teams":[],"incident_key":"","event_type":"incident.triggered","status":"triggered","title":"","summary":"","agent":"","client":"","conference_bridge":"","conference_url":"","role":"","display_name":"","occurred_at":""}}` +
	`{"id":"","at":"","recorded_at":"","source":"pagerduty","type":"incident_acknowledged","kind":"fact","role":"primary on-call (level 1) for ","fact":"Incident acknowledged by the primary on-call (level 1) for ","attributes":{"incident_id":"","event_type":"incident.acknowledged","status":"acknowledged","assignees":[]}}` +
	`{"id":"","at":"","recorded_at":"","source":"pagerduty","type":"incident_resolved","kind":"fact","role":"","fact":"Incident resolved by ","attributes":{"incident_id":"","event_type":"incident.resolved","status":"resolved"}}` +
	`{"id":"","at":"","recorded_at":"","source":"manual","type":"note","kind":"context","role":"incident commander","fact":""}` +
	`{"id":"","at":"","recorded_at":"","source":"alertmanager","type":"alerts_truncated","kind":"fact","role":"Alertmanager (receiver ","fact":"Alertmanager left  alerts of this group out of its notification (max_alerts); the timeline lacks their facts","attributes":{"sent_alerts":,"truncated_alerts":}}` +
	`{"id":"","at":"","recorded_at":"","source":"alertmanager","type":"incident_resolved","kind":"fact","role":"Alertmanager (receiver ","fact":"Alertmanager reported every alert of the group resolved ( alerts)","attributes":{"alerts":,"group_key":"{}:{alertname=\"\"}","group_labels":{"alertname":""},"truncated_alerts":0}}` +
	`{"id":"","at":"2026-01-01T00:00:00.000000000Z","recorded_at":"2026-01-01T00:00:00.000000000Z","source":"alertmanager","type":"alert_resolved","kind":"fact","role":"Alertmanager (receiver ","fact":"Alert  resolved for service=, job=, instance=, cluster=, namespace=, pod= (severity critical)","attributes":{"fingerprint":"","starts_at":"2026-01-01T00:00:00.000000000Z","ends_at":"2026-01-01T00:00:00.000000000Z"}}` +
	`{"id":"","at":"2026-01-01T00:00:00.000000000Z","recorded_at":"2026-01-01T00:00:00.000000000Z","source":"alertmanager","type":"alert_firing","kind":"fact","role":"Alertmanager (receiver ","fact":"Alert  started firing for service=, job=, instance=, datacenter=, cluster=, namespace=, pod= (severity warning): ","attributes":{"fingerprint":"","labels":{"alertname":"","cluster":"","datacenter":"","instance":"","job":"node","namespace":"","pod":"","service":"","severity":"warning","team":""},"annotations":{"description":" has been above  for more than 5 minutes.","runbook_url":"https://runbooks.","summary":" is down"},"starts_at":"2026-01-01T00:00:00.000000000Z","generator_url":"http://prometheus:9090/graph?g0.expr=%7B%3D%22%22%7D%20%3E%20\u0026g0.tab=1"}}` +
	`{"id":"","at":"2026-01-01T00:00:00.000000000Z","recorded_at":"2026-01-01T00:00:00.000000000Z","source":"alertmanager","type":"alert_firing","kind":"fact","role":"Alertmanager (receiver ","fact":"Alert  started firing for service=, instance= (severity critical): ","attributes":{"fingerprint":"","labels":{"alertname":"","instance":"","service":"","severity":"critical"},"annotations":{"description":"","runbook_url":"https://","summary":""},"starts_at":"2026-01-01T00:00:00.000000000Z","generator_url":"http://:9090/graph?g0.expr=\u0026g0.tab=1"}}`

// eventDictSHA256 pins eventDict (see TestEventDictUnchanged).
const eventDictSHA256 = "a5c60c4ceaa0cf39796a441fea2b9fade634d0973d852e75b3fe2537d3deb8e4"

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// s2Tag starts a value holding an S2 block: neither '{' nor the first byte of zstd's magic.
const s2Tag byte = 0x02

// s2DictRepeat is the offset in eventDict of the last event's start, where the S2 encoder looks
// for the first match (an event starts the same way). Part of the stored format, like eventDict:
// s2EventDictSHA256 pins both.
const s2DictRepeat = 3070

// s2EventDict is eventDict as an S2 dictionary. S2 blocks do not name their dictionary: a
// dictionary other than this one would need a new tag.
var s2EventDict = s2.MakeDictManual([]byte(eventDict), s2DictRepeat)

// s2EventDictSHA256 pins s2EventDict.Bytes() (see TestEventDictUnchanged).
const s2EventDictSHA256 = "523372b4a43432dd4cdaaa43bb2509e3a242495d3bd0b658b335fe2f4d289709"

// The zstd decoder reads the frames of the first compact format.
var (
	zstdOnce    sync.Once
	zstdDecoder *zstd.Decoder
	zstdErr     error
)

func zstdEventDecoder() (*zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdDecoder, zstdErr = zstd.NewReader(nil, zstd.WithDecoderDictRaw(eventDictID, []byte(eventDict)),
			zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxEventBytes))
	})
	return zstdDecoder, zstdErr
}

// maxEventBytes bounds what one stored value may expand to (a webhook body is at most 16 MiB by
// default; an event is smaller than its body).
const maxEventBytes = 256 << 20

// eventWriter turns a batch's events into their stored values (see compress). It encodes every
// event's JSON into one scratch buffer and cuts the stored values from shared chunks, so a batch of
// n events costs a few allocations rather than 2n.
type eventWriter struct {
	scratch []byte // the JSON of the event being encoded
	chunk   []byte // stored values so far; the free space is chunk[len(chunk):cap(chunk)]
	// expect is about how many bytes the batch's stored values take (0: unknown), so a small
	// batch does not get a whole eventChunk.
	expect int
}

// eventChunk bounds a chunk of stored values: about 40 compressed events.
const eventChunk = 16 << 10

// expectEvents tells w about events it is going to store: a compressed event is about a third of
// its JSON, and the last one needs room for its worst case before it is compressed.
func (w *eventWriter) expectEvents(es ...timeline.Event) {
	for _, e := range es {
		w.expect += e.EncodedSize()/2 + 1
	}
}

// stored returns e's stored value.
func (w *eventWriter) stored(e timeline.Event) ([]byte, error) {
	if js, ok := e.JSONInPlace(); ok {
		// Written around the attributes, in their memory: a large event's JSON is not a second copy
		// of them (the batch keeps its attributes, for a retry, while they are sent).
		if len(js) > largeEvent {
			return js, nil
		}
		return w.compress(js), nil
	}
	if n := e.EncodedSize(); cap(w.scratch) < n {
		w.scratch = make([]byte, 0, max(n, 2*cap(w.scratch)))
	}
	js, err := e.AppendJSON(w.scratch[:0])
	if err != nil {
		return nil, err
	}
	if len(js) > largeEvent {
		// Stored as it is, in the buffer it was encoded into: no block of its size beside it.
		w.scratch = nil
		return js, nil
	}
	w.scratch = js[:0]
	return w.compress(js), nil
}

// largeEvent is the JSON size above which an event is stored uncompressed. Such events come only
// from hostile or broken senders (a 16 MiB annotation, 50,000 labels); compressing one needs a
// block of its size beside its JSON, and with the batch's attributes that held three copies of the
// body at once (bench/hostile.sh). Redis keeps the JSON: readers take it as they take events that
// were never compressed.
const largeEvent = 1 << 20

// compress returns the stored form of an event's JSON in memory of its own: S2 when the JSON holds
// no placeholder for the script to fill in and the block is smaller, the JSON otherwise.
func (w *eventWriter) compress(js []byte) []byte {
	if bytes.Contains(js, []byte("{{from:")) {
		return w.keep(js)
	}
	max := 1 + s2.MaxEncodedLen(len(js))
	if max <= 0 {
		return w.keep(js)
	}
	buf := w.alloc(max)
	buf[0] = s2Tag
	out := s2EventDict.Encode(buf[1:], js)
	n := 1 + len(out)
	if n >= len(js) {
		return w.keep(js)
	}
	if &out[0] != &buf[1] {
		// Encode wrote elsewhere (it does not when given MaxEncodedLen bytes); keep its block.
		return append(append(make([]byte, 0, n), s2Tag), out...)
	}
	return w.take(n)
}

// keep copies js into w's memory.
func (w *eventWriter) keep(js []byte) []byte {
	copy(w.alloc(len(js)), js)
	return w.take(len(js))
}

// alloc returns n free bytes at the end of the current chunk (a new chunk if they do not fit).
// The next take decides how many of them are used.
func (w *eventWriter) alloc(n int) []byte {
	if cap(w.chunk)-len(w.chunk) < n {
		size := eventChunk
		if w.expect > 0 {
			size = min(size, w.expect+256)
		}
		w.chunk = make([]byte, 0, max(n, size))
	}
	return w.chunk[len(w.chunk) : len(w.chunk)+n]
}

// take ends the value being written with its first n bytes and returns it.
func (w *eventWriter) take(n int) []byte {
	l := len(w.chunk)
	w.chunk = w.chunk[:l+n]
	return w.chunk[l : l+n : l+n]
}

// compressEvent is the stored value of one event's JSON (see eventWriter.compress).
func compressEvent(js []byte) []byte {
	w := eventWriter{expect: 1} // memory for this value only
	return w.compress(js)
}

var errCorruptEvent = errors.New("stored event: corrupt S2 block")

// decodeEventValue returns the JSON of a stored event value (see above): the value itself if it
// is JSON, a new buffer otherwise.
func decodeEventValue(v []byte) ([]byte, error) {
	return decodeEventValueInto(nil, v)
}

// eventDecodedLen is the length of the JSON of v when v is an S2 block (false for any other value,
// and for a block whose header is broken or claims more than maxEventBytes).
func eventDecodedLen(v []byte) (int, bool) {
	if len(v) == 0 || v[0] != s2Tag {
		return 0, false
	}
	n, err := s2.DecodedLen(v[1:])
	return n, err == nil && n <= maxEventBytes
}

// decodeEventValueInto is decodeEventValue writing an S2 block's JSON into dst when dst is exactly
// its length (eventDecodedLen): a reader decoding many events gives them slices of one buffer
// instead of an allocation each.
func decodeEventValueInto(dst, v []byte) ([]byte, error) {
	switch {
	case len(v) > 0 && v[0] == s2Tag:
		n, err := s2.DecodedLen(v[1:])
		if err != nil {
			return nil, fmt.Errorf("stored event: %w", err)
		}
		if n > maxEventBytes {
			return nil, fmt.Errorf("stored event: %d bytes once decoded, more than %d", n, maxEventBytes)
		}
		if len(dst) != n {
			dst = make([]byte, n)
		}
		out, err := s2EventDict.Decode(dst, v[1:])
		if err != nil {
			return nil, errCorruptEvent
		}
		return out, nil
	case bytes.HasPrefix(v, zstdMagic):
		dec, err := zstdEventDecoder()
		if err != nil {
			return nil, err
		}
		out, err := dec.DecodeAll(v, make([]byte, 0, 4*len(v)))
		if err != nil {
			return nil, fmt.Errorf("stored event: %w", err)
		}
		return out, nil
	default:
		return v, nil
	}
}

// fieldHash names a dedupe field by a hash of what it stands for (an occurrence key, an alert's
// alias): tag, then n bytes of SHA-256. Short, fixed-size names keep the group hash small.
func fieldHash(tag byte, s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	b := make([]byte, 1+n)
	b[0] = tag
	copy(b[1:], sum[:n])
	return string(b)
}
