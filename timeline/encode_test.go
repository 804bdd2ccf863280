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
