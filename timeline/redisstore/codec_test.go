package redisstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// Every stored frame names eventDict by eventDictID: changing the dictionary would make every
// event written with it unreadable. A new dictionary needs a new id (and the reader keeps the old).
func TestEventDictUnchanged(t *testing.T) {
	sum := sha256.Sum256([]byte(eventDict))
	if got := hex.EncodeToString(sum[:]); got != eventDictSHA256 {
		t.Fatalf("eventDict changed (sha256 %s, pinned %s): add a new dictionary with a new id instead", got, eventDictSHA256)
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
	cases := [][]byte{[]byte(`{}`), []byte(`{"id":"x","attributes":{}}`)}
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
	for i, js := range cases {
		stored := compressEvent(js)
		if bytes.HasPrefix(stored, zstdMagic) {
			compressed++
		} else if !bytes.Equal(stored, js) {
			t.Fatalf("case %d stored neither as JSON nor as a frame: %q", i, stored)
		}
		back, err := decodeEventValue(stored)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(back, js) {
			t.Fatalf("case %d changed:\n got %s\nwant %s", i, back, js)
		}
	}
	if compressed < len(cases)/2 {
		t.Fatalf("only %d of %d events compressed", compressed, len(cases))
	}
}

func TestCompressEventKeepsPlaceholders(t *testing.T) {
	js := []byte(`{"id":"1","fact":"Priority changed` + timeline.FromPlaceholder("priority") + ` to P1, and a long sentence that compresses well well well well well well"}`)
	if got := compressEvent(js); !bytes.Equal(got, js) {
		t.Fatalf("an event with a placeholder must stay JSON for the script to fill in, got %q", got)
	}
}

func TestDecodeEventValueRejectsBrokenFrames(t *testing.T) {
	stored := compressEvent([]byte(`{"id":"0123456789abcdef0123","at":"2026-11-20T08:30:00.123456789Z","fact":"Alert DiskFull started firing"}`))
	if !bytes.HasPrefix(stored, zstdMagic) {
		t.Fatalf("not compressed: %q", stored)
	}
	if _, err := decodeEventValue(stored[:len(stored)-3]); err == nil {
		t.Fatal("a truncated frame decoded without error")
	}
}
