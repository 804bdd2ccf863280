package redisstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// The storage format changes (compressed events, hashed dedupe fields, a compact incident hash), but
// what earlier versions wrote must stay readable and keep deduplicating. testdata/format-v1.json
// holds every key a version before those changes wrote for the history compatHistory records, and
// what that version's store answered; the tests below load it into a real redis-server and read and
// extend it with the current code.

const compatGroup = `{}:{alertname="DiskFull"}`

var compatT0 = time.Date(2026, 11, 20, 8, 30, 0, 123456789, time.UTC)

func compatEvent(typ timeline.Type, at time.Time, fact string, attrs string) timeline.Event {
	ev := event(typ, at, fact)
	if attrs != "" {
		ev.Attributes = json.RawMessage(attrs)
	}
	return ev
}

func compatFiring(fp string, starts time.Time, attrs string) timeline.Occurrence {
	o := firing(fp, starts)
	o.Event = compatEvent(timeline.TypeAlertFiring, starts, "Alert DiskFull started firing for instance="+fp, attrs)
	return o
}

func compatBatch(id string, occ ...timeline.Occurrence) timeline.Batch {
	b := batch(compatGroup, occ...)
	b.Open.ID = id
	b.Open.Title = "DiskFull: disk /var is 95% full"
	b.Open.Labels = map[string]string{"alertname": "DiskFull", "severity": "critical", "team": "storage"}
	b.Open.Sources = map[string]string{timeline.SourceKeyAlertmanagerGroupKey: compatGroup,
		timeline.SourceKeyAlertmanagerReceiver: "team-storage", timeline.SourceKeyAlertmanagerExternal: "http://am.example:9093"}
	b.Open.Services = []string{"storage", "checkout"}
	b.Links = []string{"dedup:compat"}
	return b
}

const compatAttrs = `{"fingerprint":"f1","labels":{"alertname":"DiskFull","instance":"db-1","severity":"critical"},` +
	`"annotations":{"summary":"disk /var is 95% full","description":"ディスク容量が不足 \u003cb\u003e \"quoted\" \\ tab\t"},` +
	`"starts_at":"2026-11-20T08:30:00.123456789Z","generator_url":"http://prom.example:9090/graph?g0.expr=disk%3E0.9\u0026g0.tab=1"}`

// compatHistory is what the fixture's store recorded: one incident with two firing alerts, a
// keyed event that uses a snapshot placeholder, a person's note, a refinement and one alert resolved.
func compatHistory(t *testing.T, s *redisstore.Store) string {
	t.Helper()
	ctx := context.Background()
	r := mustRecord(t, s, compatBatch("20261120-diskfull-v1", compatFiring("f1", compatT0, compatAttrs),
		compatFiring("f2", compatT0.Add(time.Second), `{"fingerprint":"f2","labels":{"instance":"db-2"},"starts_at":"2026-11-20T08:30:01.123456789Z"}`)))
	b := compatBatch("unused", compatFiring("f1", compatT0, compatAttrs))
	b.Snapshot = []timeline.SnapshotField{{Name: "priority", Value: "P2", At: compatT0.Add(time.Minute)}}
	b.Events = []timeline.KeyedEvent{{DedupeKey: "priority:P2", Event: compatEvent(timeline.TypePriorityUpdated,
		compatT0.Add(time.Minute), "Priority changed"+timeline.FromPlaceholder("priority")+" to P2", `{"priority":"P2"}`)}}
	mustRecord(t, s, b)
	note := compatEvent(timeline.TypeNote, compatT0.Add(2*time.Minute), "We failed over to db-2", "")
	note.Kind, note.Source, note.Role = timeline.KindContext, timeline.SourceManual, "incident commander"
	if _, _, err := s.AddContext(ctx, r.IncidentID, timeline.KeyedEvent{DedupeKey: "note:1", Event: note}); err != nil {
		t.Fatal(err)
	}
	es, err := s.Entries(ctx, r.IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Refine(ctx, timeline.Refinement{IncidentID: r.IncidentID, EventID: es[0].ID(), Role: "database on-call"}); err != nil {
		t.Fatal(err)
	}
	mustRecord(t, s, compatBatch("unused", resolved("f2", compatT0.Add(time.Second), compatT0.Add(5*time.Minute)),
		compatFiring("f1", compatT0, compatAttrs)))
	return r.IncidentID
}

// compatFixture is the file's layout: the keys (without their prefix) and the answers.
type compatFixture struct {
	Written  string          `json:"written"`
	Keys     []compatKey     `json:"keys"`
	Incident json.RawMessage `json:"incident"`
	Entries  []compatEntry   `json:"entries"`
}

type compatKey struct {
	Key    string            `json:"key"`
	Type   string            `json:"type"`
	String string            `json:"string,omitempty"`
	Hash   map[string]string `json:"hash,omitempty"`
	Set    []string          `json:"set,omitempty"`
	ZSet   []redis.Z         `json:"zset,omitempty"`
	Stream []redis.XMessage  `json:"stream,omitempty"`
	TTL    bool              `json:"ttl,omitempty"`
}

type compatEntry struct {
	Cursor string          `json:"cursor"`
	At     int64           `json:"at"`
	JSON   json.RawMessage `json:"json"`
}

var compatFile = filepath.Join("testdata", "format-v1.json")

// TestWriteFormatV1Fixture wrote testdata/format-v1.json with the store as it was before the format
// changed. It runs only when asked to (POSTMORTEMD_WRITE_FORMAT_V1=1) and must not be run again
// with a later store: the point of the file is that an older version wrote it.
func TestWriteFormatV1Fixture(t *testing.T) {
	if os.Getenv("POSTMORTEMD_WRITE_FORMAT_V1") != "1" {
		t.Skip("writes the fixture only when POSTMORTEMD_WRITE_FORMAT_V1=1")
	}
	srv := testenv.StartRedis(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	prefix := testPrefix()
	now := compatT0.Add(10 * time.Minute)
	s := redisstore.New(rdb, redisstore.Options{Prefix: prefix, Now: func() time.Time { return now }, ReadCacheBytes: -1})
	id := compatHistory(t, s)
	fx := compatFixture{Written: "by the store before the compact format, with TestWriteFormatV1Fixture"}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ck := compatKey{Key: strings.TrimPrefix(k, prefix)}
		ck.Type = rdb.Type(ctx, k).Val()
		switch ck.Type {
		case "string":
			ck.String = rdb.Get(ctx, k).Val()
		case "hash":
			ck.Hash = rdb.HGetAll(ctx, k).Val()
		case "set":
			ck.Set = rdb.SMembers(ctx, k).Val()
			sort.Strings(ck.Set)
		case "zset":
			ck.ZSet = rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		case "stream":
			ck.Stream = rdb.XRange(ctx, k, "-", "+").Val()
		default:
			t.Fatalf("key %s: type %s", k, ck.Type)
		}
		ck.TTL = rdb.TTL(ctx, k).Val() > 0
		fx.Keys = append(fx.Keys, ck)
	}
	inc, err := s.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if fx.Incident, err = json.Marshal(inc); err != nil {
		t.Fatal(err)
	}
	es, err := s.Entries(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		fx.Entries = append(fx.Entries, compatEntry{Cursor: e.Cursor, At: e.At, JSON: e.JSON})
	}
	out, err := json.MarshalIndent(fx, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(compatFile, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d keys, %d entries", compatFile, len(fx.Keys), len(fx.Entries))
}

// loadCompatFixture writes the fixture's keys under prefix.
func loadCompatFixture(t *testing.T, rdb redis.UniversalClient, prefix string) compatFixture {
	t.Helper()
	raw, err := os.ReadFile(compatFile)
	if err != nil {
		t.Fatal(err)
	}
	var fx compatFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, k := range fx.Keys {
		key := prefix + k.Key
		var err error
		switch k.Type {
		case "string":
			err = rdb.Set(ctx, key, k.String, 0).Err()
		case "hash":
			err = rdb.HSet(ctx, key, k.Hash).Err()
		case "set":
			err = rdb.SAdd(ctx, key, k.Set).Err()
		case "zset":
			err = rdb.ZAdd(ctx, key, k.ZSet...).Err()
		case "stream":
			for _, m := range k.Stream {
				if err = rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: m.ID, Values: streamValues(m)}).Err(); err != nil {
					break
				}
			}
		}
		if err == nil && k.TTL {
			err = rdb.Expire(ctx, key, 24*time.Hour).Err()
		}
		if err != nil {
			t.Fatalf("loading %s: %v", key, err)
		}
	}
	return fx
}

// compact undoes the fixture file's indentation of a JSON answer.
func compact(t *testing.T, js json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, js); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// streamValues keeps the stored field order (t before e), as XRANGE returned it.
func streamValues(m redis.XMessage) []any {
	var out []any
	for _, f := range []string{"t", "e"} {
		if v, ok := m.Values[f]; ok {
			out = append(out, f, v)
		}
	}
	return out
}

// TestReadsFormatV1 reads and extends what the store wrote before events were compressed and dedupe
// fields hashed: the same incident and entries come back, old occurrences stay duplicates, an old
// firing alert still resolves by its alias, and new events are added in the new format.
func TestReadsFormatV1(t *testing.T) {
	srv := testenv.StartRedis(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	prefix := testPrefix()
	fx := loadCompatFixture(t, rdb, prefix)
	now := compatT0.Add(10 * time.Minute)
	s := redisstore.New(rdb, redisstore.Options{Prefix: prefix, Now: func() time.Time { return now }})
	const id = "20261120-diskfull-v1"

	inc, err := s.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(inc); string(got) != compact(t, fx.Incident) {
		t.Fatalf("incident\n got %s\nwant %s", got, fx.Incident)
	}
	es, err := s.Entries(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(fx.Entries) {
		t.Fatalf("%d entries, want %d", len(es), len(fx.Entries))
	}
	for i, e := range es {
		w := fx.Entries[i]
		if e.Cursor != w.Cursor || e.At != w.At || string(e.JSON) != compact(t, w.JSON) {
			t.Fatalf("entry %d\n got %s %d %s\nwant %s %d %s", i, e.Cursor, e.At, e.JSON, w.Cursor, w.At, w.JSON)
		}
	}

	t.Run("old occurrences are duplicates, an old firing alert resolves by its alias once", func(t *testing.T) {
		dup := mustRecord(t, s, compatBatch("unused", compatFiring("f1", compatT0, compatAttrs),
			resolved("f2", compatT0.Add(time.Second), compatT0.Add(5*time.Minute))))
		if dup.IncidentID != id || dup.Appended != 0 || dup.Duplicates != 2 {
			t.Fatalf("repeat of old deliveries: %+v", dup)
		}
		// The sender lost f1's startsAt: the resolution carries another key, and only the alias
		// (written as "a:f1" by the old store) finds the firing occurrence.
		lost := compatT0.Add(20 * time.Minute)
		r := mustRecord(t, s, compatBatch("unused", resolved("f1", lost, lost)))
		again := mustRecord(t, s, compatBatch("unused", resolved("f1", lost, lost)))
		late := mustRecord(t, s, compatBatch("unused", resolved("f1", compatT0, lost)))
		if r.Appended != 1 || again.Appended != 0 || late.Appended != 0 {
			t.Fatalf("resolution by alias %+v, repeated %+v, with the original key %+v", r, again, late)
		}
	})

	t.Run("new events are stored compactly beside the old ones", func(t *testing.T) {
		attrs := `{"fingerprint":"f3","labels":{"instance":"db-3","名前":"値"},"annotations":{"summary":"\u2028 line\nbreak"}}`
		r := mustRecord(t, s, compatBatch("unused", compatFiring("f3", compatT0.Add(30*time.Minute), attrs)))
		if r.IncidentID != id || r.Appended != 1 {
			t.Fatalf("new alert %+v", r)
		}
		if dup := mustRecord(t, s, compatBatch("unused", compatFiring("f3", compatT0.Add(30*time.Minute), attrs))); dup.Appended != 0 {
			t.Fatalf("repeat of the new alert %+v", dup)
		}
		raw, err := rdb.XRevRangeN(ctx, prefix+":i:"+id+":e", "+", "-", 1).Result()
		if err != nil || len(raw) != 1 {
			t.Fatalf("last entry: %v %v", raw, err)
		}
		if v := raw[0].Values["e"].(string); strings.HasPrefix(v, "{") {
			t.Fatalf("new event stored as JSON, not compressed: %.80s", v)
		}
		es, err := s.Entries(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != len(fx.Entries)+2 {
			t.Fatalf("%d entries, want %d", len(es), len(fx.Entries)+2)
		}
		var ev timeline.Event
		if err := json.Unmarshal(es[len(es)-1].JSON, &ev); err != nil {
			t.Fatal(err)
		}
		if string(ev.Attributes) != attrs || ev.Type != timeline.TypeAlertFiring {
			t.Fatalf("new event read back as %s", es[len(es)-1].JSON)
		}
		// The old entries read as before, the refinement still applies.
		for i, w := range fx.Entries {
			if string(es[i].JSON) != compact(t, w.JSON) {
				t.Fatalf("old entry %d changed: %s", i, es[i].JSON)
			}
		}
		inc, err := s.Incident(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if inc.EventCount != int64(len(es)) {
			t.Fatalf("event count %d, %d entries", inc.EventCount, len(es))
		}
	})

	t.Run("an old note and keyed event stay deduplicated", func(t *testing.T) {
		note := compatEvent(timeline.TypeNote, compatT0.Add(2*time.Minute), "We failed over to db-2", "")
		note.Kind, note.Source, note.Role = timeline.KindContext, timeline.SourceManual, "incident commander"
		got, added, err := s.AddContext(ctx, id, timeline.KeyedEvent{DedupeKey: "note:1", Event: note})
		if err != nil || added || got.Fact != note.Fact {
			t.Fatalf("retried note: %+v added=%v err=%v", got, added, err)
		}
		b := compatBatch("unused", compatFiring("f1", compatT0, compatAttrs))
		b.Events = []timeline.KeyedEvent{{DedupeKey: "priority:P2", Event: compatEvent(timeline.TypePriorityUpdated,
			compatT0.Add(time.Minute), "Priority changed to P2", `{"priority":"P2"}`)}}
		if r := mustRecord(t, s, b); r.Appended != 0 {
			t.Fatalf("repeated keyed event %+v", r)
		}
	})
}

// TestCompactFormat checks what the store writes now, on both backends: events as frames that read
// back byte for byte, and a group hash with short fixed-size field names.
func TestCompactFormat(t *testing.T) {
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		const g = `{}:{alertname="Compact"}`
		b := compatBatch("20261120-compact", compatFiring("c1", compatT0, compatAttrs))
		b.Group = g
		r := mustRecord(t, s, b)
		b2 := compatBatch("unused", resolved("c1", compatT0, compatT0.Add(time.Minute)))
		b2.Group = g
		mustRecord(t, s, b2)
		keys, err := rdb.Keys(ctx, "*:g:*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("group keys %v %v", keys, err)
		}
		var h map[string]string
		for _, k := range keys {
			if m := rdb.HGetAll(ctx, k).Val(); m["cur"] == r.IncidentID {
				h = m
			}
		}
		if h["v"] != "2" {
			t.Fatalf("group hash %q has no version", h)
		}
		for f := range h {
			if strings.HasPrefix(f, "o:") || strings.HasPrefix(f, "a:") || (f[0] == 'o' && len(f) != 13) {
				t.Fatalf("group hash field %q is not hashed", f)
			}
		}
		es, err := s.Entries(ctx, r.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		var ev timeline.Event
		if err := json.Unmarshal(es[0].JSON, &ev); err != nil {
			t.Fatal(err)
		}
		if string(ev.Attributes) != compatAttrs {
			t.Fatalf("attributes read back as %s", ev.Attributes)
		}
		raw := rdb.XRange(ctx, keysWith(t, rdb, "*:i:"+r.IncidentID+":e"), "-", "+").Val()
		if len(raw) != 2 || !strings.HasPrefix(raw[0].Values["e"].(string), "\x02") {
			t.Fatalf("stream %v", raw)
		}
	})
}

// zstdFrame is one entry of testdata/format-zstd.json: a zstd frame the first compact format wrote
// and the JSON it holds.
type zstdFrame struct {
	JSON   string `json:"json"`
	Stored []byte `json:"stored"`
}

// zstdFrames reads testdata/format-zstd.json (see TestReadsZstdFrames in codec_test.go).
func zstdFrames(t *testing.T) []zstdFrame {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "format-zstd.json"))
	if err != nil {
		t.Fatal(err)
	}
	var frames []zstdFrame
	if err := json.Unmarshal(raw, &frames); err != nil || len(frames) == 0 {
		t.Fatalf("zstd frames: %d, %v", len(frames), err)
	}
	return frames
}

// TestReadsZstdEntries reads stream entries the first compact format wrote (zstd frames, from
// testdata/format-zstd.json) beside entries the store writes now, through Entries.
func TestReadsZstdEntries(t *testing.T) {
	frames := zstdFrames(t)
	backends(t, func(t *testing.T, s *redisstore.Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		b := compatBatch("20261120-zstd", compatFiring("z1", compatT0, compatAttrs))
		b.Group = `{}:{alertname="Zstd"}`
		r := mustRecord(t, s, b)
		ek := keysWith(t, rdb, "*:i:"+r.IncidentID+":e")
		for i, f := range frames {
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: ek,
				Values: []any{"t", compatT0.UnixNano() + int64(i+1), "e", f.Stored}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		es, err := s.Entries(ctx, r.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1+len(frames) {
			t.Fatalf("%d entries, want %d", len(es), 1+len(frames))
		}
		got := map[string]bool{}
		for _, e := range es {
			got[string(e.JSON)] = true
		}
		for i, f := range frames {
			if !got[f.JSON] {
				t.Fatalf("frame %d not read back as %s", i, f.JSON)
			}
		}
	})
}

func keysWith(t *testing.T, rdb redis.UniversalClient, pattern string) string {
	t.Helper()
	ks := rdb.Keys(context.Background(), pattern).Val()
	if len(ks) != 1 {
		t.Fatalf("keys %s: %v", pattern, ks)
	}
	return ks[0]
}
