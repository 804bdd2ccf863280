package redisstore

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Stored events. A stream entry's "e" value is either the event's JSON as the API shows it (what
// versions before the compact format wrote, and what events with a snapshot placeholder still get,
// because the Lua script fills the placeholder in) or a zstd frame of that JSON compressed with
// eventDict. A frame starts with zstd's magic number and JSON starts with '{', so a reader tells
// them apart by the first byte and every entry ever written stays readable.
//
// An event's JSON repeats the same field names and phrases in every event; a frame that starts
// from a dictionary of them stores only what is particular to the event (its ids, times, labels
// and sentence): the captured single-alert event shrinks from 982 to about 350 bytes.

// eventDictID is the id of eventDict in every frame compressed with it. A frame names its dictionary,
// so eventDict must never change once released: a new dictionary gets a new id, and the reader keeps
// the old one to read what was written with it.
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

var (
	codecOnce sync.Once
	encoder   *zstd.Encoder
	decoder   *zstd.Decoder
	codecErr  error
)

func codec() (*zstd.Encoder, *zstd.Decoder, error) {
	codecOnce.Do(func() {
		// Events are small: no checksum (Redis keeps the bytes; a frame's length and structure are
		// still checked), and literals stored as they are: Huffman tables cost more to read than
		// they save on ids and times (a 10,000-event timeline decodes 3x faster, frames are 13%
		// larger: 279 -> 317 bytes for the captured storm's events).
		encoder, codecErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderDictRaw(eventDictID, []byte(eventDict)), zstd.WithEncoderCRC(false),
			zstd.WithLowerEncoderMem(true), zstd.WithNoEntropyCompression(true),
			// A window just above the dictionary and an event: the encoder resets less state per
			// frame (half the time per event), and frames are the same size.
			zstd.WithWindowSize(1<<14))
		if codecErr != nil {
			return
		}
		decoder, codecErr = zstd.NewReader(nil, zstd.WithDecoderDictRaw(eventDictID, []byte(eventDict)),
			zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxEventBytes))
	})
	return encoder, decoder, codecErr
}

// maxEventBytes bounds what one stored frame may expand to (a webhook body is at most 16 MiB by
// default; an event is smaller than its body).
const maxEventBytes = 256 << 20

// compressEvent returns the stored form of an event's JSON: a frame when the JSON holds no
// placeholder for the script to fill in and the frame is smaller, the JSON otherwise.
func compressEvent(js []byte) []byte {
	if bytes.Contains(js, []byte("{{from:")) {
		return js
	}
	enc, _, err := codec()
	if err != nil {
		return js
	}
	out := enc.EncodeAll(js, make([]byte, 0, len(js)/2+16))
	if len(out) >= len(js) {
		return js
	}
	return out
}

// decodeEventValue returns the JSON of a stored event value (see compressEvent).
func decodeEventValue(v []byte) ([]byte, error) {
	if !bytes.HasPrefix(v, zstdMagic) {
		return v, nil
	}
	_, dec, err := codec()
	if err != nil {
		return nil, err
	}
	out, err := dec.DecodeAll(v, make([]byte, 0, 4*len(v)))
	if err != nil {
		return nil, fmt.Errorf("stored event: %w", err)
	}
	return out, nil
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
