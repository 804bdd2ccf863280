package redisstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// Every stored frame names eventDict by eventDictID, and every S2 block (s2Tag) was compressed with
// s2EventDict: changing either would make every event written with it unreadable. A new
// dictionary needs a new id or tag (and the reader keeps the old).
func TestEventDictUnchanged(t *testing.T) {
	sum := sha256.Sum256([]byte(eventDict))
	if got := hex.EncodeToString(sum[:]); got != eventDictSHA256 {
		t.Fatalf("eventDict changed (sha256 %s, pinned %s): add a new dictionary with a new id instead", got, eventDictSHA256)
	}
	if s2EventDict == nil {
		t.Fatal("eventDict is not a valid S2 dictionary")
	}
	sum = sha256.Sum256(s2EventDict.Bytes())
	if got := hex.EncodeToString(sum[:]); got != s2EventDictSHA256 {
		t.Fatalf("s2EventDict changed (sha256 %s, pinned %s): add a new dictionary with a new tag instead", got, s2EventDictSHA256)
	}
}

// Compression must give back exactly the JSON it was given, whatever the attributes hold.
func TestCompressEventRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", " ", "\"", "\\", "\n", "\t", "<", "&", "é", "渡辺", "\u2028", "😀", "{{", "}}", "\x7f"}
	randText := func(n int) string {
		var sb strings.Builder
		for range n {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	cases := [][]byte{[]byte(`{}`), []byte(`{"id":"x","attributes":{}}`),
		// Larger than S2's 64 KiB reach into the dictionary, and than a 4 MiB block.
		[]byte(`{"id":"big","fact":"` + strings.Repeat("disk full on db-1 ", 10000) + randText(70000) + `"}`),
		[]byte(`{"id":"huge","fact":"` + randText(3<<20) + strings.Repeat("x", 3<<20) + `"}`)}
	for i := range 200 {
		attrs := map[string]any{"labels": map[string]string{randText(5): randText(rng.IntN(50))},
			"annotations": map[string]string{"description": randText(rng.IntN(3000))}, "n": rng.Int64(), "list": []any{i, nil, true, 1.5}}
		raw, err := json.Marshal(attrs)
		if err != nil {
			t.Fatal(err)
		}
		ev := timeline.Event{ID: timeline.EventID(timeline.SourceAlertmanager, randText(8)), At: time.Unix(0, rng.Int64()).UTC(),
			Source: timeline.SourceAlertmanager, Type: timeline.Type(randText(3)), Kind: timeline.KindFact,
			Role: timeline.Role(randText(10)), Fact: randText(rng.IntN(200)), Attributes: raw}
		js, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, js)
	}
	compressed := 0
	var w eventWriter // one writer for all, as for a batch: no value may overwrite another
	stored := make([][]byte, len(cases))
	for i, js := range cases {
		stored[i] = w.compress(js)
		if stored[i][0] == s2Tag {
			compressed++
		} else if !bytes.Equal(stored[i], js) {
			t.Fatalf("case %d stored neither as JSON nor as S2: %q", i, stored[i])
		}
	}
	for i, js := range cases {
		back, err := decodeEventValue(stored[i])
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(back, js) {
			t.Fatalf("case %d changed:\n got %.300s\nwant %.300s", i, back, js)
		}
		// The same JSON written by the first compact format reads back the same.
		back, err = decodeEventValue(zstdFrame(t, js))
		if err != nil {
			t.Fatalf("case %d as a zstd frame: %v", i, err)
		}
		if !bytes.Equal(back, js) {
			t.Fatalf("case %d as a zstd frame changed:\n got %.300s\nwant %.300s", i, back, js)
		}
	}
	if compressed < len(cases)/2 {
		t.Fatalf("only %d of %d events compressed", compressed, len(cases))
	}
}

// testdata/format-zstd.json holds zstd frames the first compact format wrote (compressEvent at
// commit 22333ed, for events of the captured Alertmanager payloads) and the JSON they hold.
func TestReadsZstdFrames(t *testing.T) {
	raw, err := os.ReadFile("testdata/format-zstd.json")
	if err != nil {
		t.Fatal(err)
	}
	var frames []struct {
		Payload string `json:"payload"`
		JSON    string `json:"json"`
		Stored  []byte `json:"stored"`
	}
	if err := json.Unmarshal(raw, &frames); err != nil {
		t.Fatal(err)
	}
	if len(frames) == 0 {
		t.Fatal("no frames")
	}
	for i, f := range frames {
		if !bytes.HasPrefix(f.Stored, zstdMagic) {
			t.Fatalf("entry %d (%s) is not a zstd frame", i, f.Payload)
		}
		back, err := decodeEventValue(f.Stored)
		if err != nil {
			t.Fatalf("entry %d (%s): %v", i, f.Payload, err)
		}
		if string(back) != f.JSON {
			t.Fatalf("entry %d (%s) read back as\n%s\nwant\n%s", i, f.Payload, back, f.JSON)
		}
		// What the store writes for it now reads back the same.
		if back, err := decodeEventValue(compressEvent([]byte(f.JSON))); err != nil || string(back) != f.JSON {
			t.Fatalf("entry %d (%s) rewritten: %v\n%s", i, f.Payload, err, back)
		}
	}
}

func TestCompressEventKeepsPlaceholders(t *testing.T) {
	js := []byte(`{"id":"1","fact":"Priority changed` + timeline.FromPlaceholder("priority") + ` to P1, and a long sentence that compresses well well well well well well"}`)
	if got := compressEvent(js); !bytes.Equal(got, js) {
		t.Fatalf("an event with a placeholder must stay JSON for the script to fill in, got %q", got)
	}
}

func TestDecodeEventValueRejectsBrokenValues(t *testing.T) {
	js := []byte(`{"id":"0123456789abcdef0123","at":"2026-11-20T08:30:00.123456789Z","fact":"Alert DiskFull started firing"}`)
	stored := compressEvent(js)
	if stored[0] != s2Tag {
		t.Fatalf("not compressed: %q", stored)
	}
	frame := zstdFrame(t, js)
	for name, v := range map[string][]byte{
		"truncated S2 block":  stored[:len(stored)-3],
		"S2 tag alone":        {s2Tag},
		"S2 block too long":   append(append([]byte{}, stored...), 'x', 'y'),
		"S2 length too large": {s2Tag, 0xff, 0xff, 0xff, 0xff, 0x0f, 0},
		"truncated zstd":      frame[:len(frame)-3],
	} {
		if out, err := decodeEventValue(v); err == nil {
			t.Errorf("%s decoded without error: %q", name, out)
		}
	}
}

// An event whose attributes were built with room for its JSON (timeline.Event.AttributesBuffer, as
// the receiver builds them) is stored as any other event is; above largeEvent its stored value is
// that JSON, in the attributes' memory, not a second copy of them. Storing it again (a retried
// batch) gives the same value.
func TestStoredEventInPlace(t *testing.T) {
	at := time.Date(2026, 11, 23, 13, 28, 22, 671030777, time.UTC)
	for _, size := range []int{100, largeEvent + 1} {
		raw, err := json.Marshal(map[string]string{"description": strings.Repeat("disk <full> on db-1, ", size/20)})
		if err != nil {
			t.Fatal(err)
		}
		e := timeline.Event{ID: "am:1", At: at, RecordedAt: at, Source: timeline.SourceAlertmanager,
			Type: timeline.TypeAlertFiring, Kind: timeline.KindFact, Role: "Alertmanager (receiver pm)", Fact: "Alert Disk started firing"}
		plain := e
		plain.Attributes = raw
		e.Attributes = append(e.AttributesBuffer(len(raw)), raw...)
		want, err := StoredEvent(plain)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, err := StoredEvent(e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes of attributes: stored %d bytes, want %d", len(raw), len(got), len(want))
			}
			shared := len(got) > len(raw) && &got[len(got)-1-len(raw)] == &e.Attributes[0]
			if shared != (len(raw) > largeEvent) {
				t.Fatalf("%d bytes of attributes: stored value shares their memory: %v", len(raw), shared)
			}
		}
	}
}
