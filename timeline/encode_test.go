package timeline_test

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// Event.AppendJSON must write json.Marshal's bytes: stored events are served as they are, and the
// read side finds an event's id at the start.
func TestEventAppendJSONIsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	pieces := []string{"a", "Z", "9", " ", "\"", "\\", "/", "\n", "\t", "\b", "\f", "\r", "\x00", "\x1f", "<", ">", "&",
		"é", "渡辺", "\u2028", "\u2029", "😀", "\xff", "\xe2\x80", "\x7f", "{{from:x}}"}
	text := func(n int) string {
		var sb strings.Builder
		for range n {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return sb.String()
	}
	attrs := []json.RawMessage{nil, json.RawMessage(`{}`), json.RawMessage(`{"a":[1,2.5,true,null,"x\u003cy"]}`),
		json.RawMessage(`{"a": 1}`), json.RawMessage("{\"a\":\"<b>\"}"), json.RawMessage(`[]`), json.RawMessage(`"s"`),
		json.RawMessage("{\"a\":\"\u2028\"}")}
	for i := range 2000 {
		raw, err := json.Marshal(map[string]string{text(3): text(rng.IntN(40))})
		if err != nil {
			t.Fatal(err)
		}
		a := json.RawMessage(raw)
		if i < len(attrs) {
			a = attrs[i]
		}
		zone := time.UTC
		if i%7 == 0 {
			zone = time.FixedZone("", 5*3600+30*60)
		}
		e := timeline.Event{ID: text(5), At: time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9)).In(zone),
			RecordedAt: time.Unix(rng.Int64N(1<<34), int64(rng.IntN(3))*100).UTC(), Source: timeline.Source(text(2)),
			Type: timeline.Type(text(2)), Kind: timeline.KindFact, Role: timeline.Role(text(8)), Fact: text(rng.IntN(60)),
			Attributes: a}
		want, werr := json.Marshal(e)
		got, gerr := e.AppendJSON([]byte("prefix"))
		if (werr == nil) != (gerr == nil) || string(got) != "prefix"+string(want) {
			t.Fatalf("case %d:\n got %s (%v)\nwant prefix%s (%v)", i, got, gerr, want, werr)
		}
		if werr == nil && len(want) > e.EncodedSize() {
			t.Fatalf("case %d: EncodedSize %d, but the event takes %d bytes: %s", i, e.EncodedSize(), len(want), want)
		}
	}
}

// JSONInPlace writes the same bytes as AppendJSON (json.Marshal's), around the attributes in the
// buffer AttributesBuffer gave them, without touching them: a retried store call encodes the same
// event again.
func TestEventJSONInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 17))
	pieces := []string{"a", "Z", " ", "\"", "\\", "\n", "\x00", "<", "&", "é", "渡辺", "\u2028", "😀", "\xff", "{{from:x}}"}
	text := func(n int) string {
		var sb strings.Builder
		for range n {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return sb.String()
	}
	// Attributes AppendJSON does not copy as they are (spaces, "<" unescaped) go through
	// json.Marshal, and cannot be written in place.
	odd := []string{`{"a": 1}`, "{\"a\":\"<b>\"}", "{\"a\":\"\u2028\"}"}
	for i := range 1000 {
		raw, err := json.Marshal(map[string]string{text(3): text(rng.IntN(2000))})
		if err != nil {
			t.Fatal(err)
		}
		plain := true
		if i < len(odd) {
			raw, plain = []byte(odd[i]), false
		}
		zone := time.UTC
		if i%7 == 3 {
			zone, plain = time.FixedZone("", 30), false // an offset with seconds: json.Marshal fails
		}
		e := timeline.Event{ID: text(5), At: time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9)).In(zone),
			RecordedAt: time.Unix(rng.Int64N(1<<34), 0).UTC(), Source: timeline.Source(text(2)),
			Type: timeline.Type(text(2)), Kind: timeline.KindFact, Role: timeline.Role(text(8)), Fact: text(rng.IntN(60))}
		e.Attributes = append(e.AttributesBuffer(len(raw)), raw...)
		for range 2 { // the second time as a retry would
			js, ok := e.JSONInPlace()
			if ok != plain {
				t.Fatalf("case %d: JSONInPlace ok %v, want %v", i, ok, plain)
			}
			if string(e.Attributes) != string(raw) {
				t.Fatalf("case %d: attributes changed to %s", i, e.Attributes)
			}
			if !ok {
				break
			}
			want, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if string(js) != string(want) {
				t.Fatalf("case %d:\n got %s\nwant %s", i, js, want)
			}
			if &js[len(js)-1-len(raw)] != &e.Attributes[0] {
				t.Fatalf("case %d: the JSON is a copy of the attributes, not around them", i)
			}
		}
	}
}

// JSONInPlace declines, and writes nothing, when the attributes left their buffer or the rest of
// the event no longer fits in front of them.
func TestEventJSONInPlaceDeclines(t *testing.T) {
	at := time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)
	e := timeline.Event{ID: "e1", At: at, RecordedAt: at, Source: timeline.SourceAlertmanager,
		Type: timeline.TypeAlertFiring, Kind: timeline.KindFact, Role: "Alertmanager", Fact: "Alert X started firing"}
	buf := e.AttributesBuffer(8)
	tests := []struct {
		name string
		edit func(e *timeline.Event)
		ok   bool
	}{
		{"attributes in their buffer", func(e *timeline.Event) { e.Attributes = append(buf, `{"a":1}`...) }, true},
		{"a shorter fact", func(e *timeline.Event) { e.Attributes = append(buf, `{"a":1}`...); e.Fact = "X" }, true},
		{"attributes grown beyond the buffer", func(e *timeline.Event) { e.Attributes = append(buf, `{"a":"123456"}`...) }, false},
		{"attributes from elsewhere", func(e *timeline.Event) { e.Attributes = []byte(`{"a":1}`) }, false},
		{"a longer fact", func(e *timeline.Event) {
			e.Attributes = append(buf, `{"a":1}`...)
			e.Fact += strings.Repeat(" and more", 10)
		}, false},
		{"no attributes", func(e *timeline.Event) { e.Attributes = nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e
			tt.edit(&e)
			js, ok := e.JSONInPlace()
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			want, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if ok && string(js) != string(want) {
				t.Fatalf("got %s\nwant %s", js, want)
			}
			if got, _ := e.AppendJSON(nil); string(got) != string(want) {
				t.Fatalf("AppendJSON %s\nwant %s", got, want)
			}
		})
	}
	if js, ok := (timeline.Event{Attributes: []byte(`{}`)}).JSONInPlace(); ok {
		t.Errorf("an event without a buffer: %s", js)
	}
}
