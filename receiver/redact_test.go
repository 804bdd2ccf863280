package receiver

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// TestBatchRedactsAnnotations checks that names in annotations become roles in what is stored (the
// attributes and the fact's summary), labels stay as sent, and clean annotations are not copied.
func TestBatchRedactsAnnotations(t *testing.T) {
	people := []timeline.Participant{{Name: "Dana Okafor", Email: "dana.okafor@example.com", Role: "primary on-call"}}
	h := New(Options{Redact: func(s string) timeline.Redacted { return timeline.FindNames(s, people) }})
	body := `{"version":"4","groupKey":"{}:{alertname=\"Disk\"}","status":"firing","receiver":"pm",
		"commonAnnotations":{"summary":"ask Dana Okafor"},
		"alerts":[{"status":"firing","labels":{"alertname":"Disk","owner":"Dana"},"startsAt":"2026-11-23T13:00:00Z",
		"annotations":{"summary":"Dana Okafor's disk is full","runbook":"https://runbooks.example/disk"}},
		{"status":"firing","labels":{"alertname":"Disk","instance":"b"},"startsAt":"2026-11-23T13:00:00Z",
		"annotations":{"summary":"disk full on b"}}]}`
	m, err := decodeAlertmanager([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	clean := m.Alerts[1].Annotations
	b, err := h.batch(m, time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	first := b.Occurrences[0].Event
	for _, s := range []string{string(first.Attributes), first.Fact, b.Open.Title} {
		if strings.Contains(s, "Dana Okafor") || !strings.Contains(s, "the primary on-call") {
			t.Errorf("not redacted: %s", s)
		}
	}
	if !strings.Contains(string(first.Attributes), `"owner":"Dana"`) || !strings.Contains(string(first.Attributes), "https://runbooks.example/disk") {
		t.Errorf("labels or clean annotations changed: %s", first.Attributes)
	}
	if len(m.Alerts[1].Annotations) != 1 {
		t.Fatal("clean annotations lost")
	}
	m.Alerts[1].Annotations["probe"] = "x" // the same map, not a copy
	if clean["probe"] != "x" {
		t.Error("annotations with nothing to replace were copied")
	}
}

// redactPeople name the people the tests below write into annotations.
var redactPeople = []timeline.Participant{
	{Name: "Dana Okafor", Email: "dana.okafor@example.com", Role: "primary on-call for checkout-api"},
	{Name: "渡辺 健二", Role: "secondary on-call"},
	{Name: "Jamie Rivera", Email: "jamie@example.com", Role: `incident "commander" <lead> & co`},
}

// checkRedactedBatch checks that the batch of body, with the names in its annotations found as it
// is built (the replaced text never built whole), stores what replacing every annotation first
// stored: the same attributes, facts and title, byte for byte. And that every event's JSON can be
// written around its attributes (their buffer was large enough) as json.Marshal writes it.
func checkRedactedBatch(t *testing.T, body []byte) {
	t.Helper()
	received := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	m, err := decodeAlertmanager(body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := New(Options{Redact: func(s string) timeline.Redacted { return timeline.FindNames(s, redactPeople) }}).batch(m, received)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := decodeAlertmanager(body)
	if err != nil {
		t.Fatal(err)
	}
	replace := func(ann map[string]string) {
		for k, v := range ann {
			ann[k], _ = timeline.ReplaceNames(v, redactPeople)
		}
	}
	replace(ref.CommonAnnotations)
	for _, a := range ref.Alerts {
		replace(a.Annotations)
	}
	want, err := New(Options{}).batch(ref, received)
	if err != nil {
		t.Fatal(err)
	}
	if got.Open.Title != want.Open.Title {
		t.Errorf("title %q, want %q", got.Open.Title, want.Open.Title)
	}
	if len(got.Occurrences) != len(want.Occurrences) {
		t.Fatalf("%d occurrences, want %d", len(got.Occurrences), len(want.Occurrences))
	}
	for i, o := range got.Occurrences {
		g, w := o.Event, want.Occurrences[i].Event
		if g.Fact != w.Fact || string(g.Attributes) != string(w.Attributes) {
			t.Fatalf("occurrence %d:\n got %s %s\nwant %s %s", i, g.Fact, g.Attributes, w.Fact, w.Attributes)
		}
		wantJSON, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		// Large attributes have room for the event's JSON around them.
		js, ok := g.JSONInPlace()
		if (!ok && len(g.Attributes) >= inPlaceAttributes) || (ok && string(js) != string(wantJSON)) {
			t.Fatalf("occurrence %d (%d bytes of attributes): in place %v:\n got %.300s\nwant %.300s", i, len(g.Attributes), ok, js, wantJSON)
		}
	}
}

func TestBatchRedactsAsReplacingFirst(t *testing.T) {
	files, _ := filepath.Glob("testdata/alertmanager/*/*.json")
	named := 0
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if json.Unmarshal(body, &raw) != nil || raw["alerts"] == nil {
			continue // not a notification (configs, logs)
		}
		// The captured payload, then the same with people named in every annotation.
		checkRedactedBatch(t, body)
		addNames := func(ann any) {
			for k, v := range ann.(map[string]any) {
				ann.(map[string]any)[k] = v.(string) + " (paged Dana Okafor, dana.okafor@example.com, 渡辺さん <ops@example.org> & \"Okafor's\" team)"
			}
		}
		if ca, ok := raw["commonAnnotations"]; ok && ca != nil {
			addNames(ca)
		}
		for _, a := range raw["alerts"].([]any) {
			if ann, ok := a.(map[string]any)["annotations"]; ok && ann != nil {
				addNames(ann)
				named++
			}
		}
		withNames, err := json.Marshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		checkRedactedBatch(t, withNames)
	}
	if named < 50 {
		t.Fatalf("only %d alerts with annotations in the captured payloads", named)
	}

	// Random annotations: names, addresses, escapes, blanks before the summary, invalid UTF-8.
	rng := rand.New(rand.NewPCG(5, 8))
	words := []string{"Dana", "Okafor", "Okafor's", "渡辺", "健二", "Jamie", "Rivera", "jamie@example.com", "ops@example.org",
		" ", "  \n\t", "\u3000", "\"", "\\", "<", "&", "\x01", "\u2028", "\xff", "\xe6\xb8", "😀", "disk", "full", "on", "db-1"}
	text := func() string {
		var sb strings.Builder
		n := rng.IntN(200)
		if rng.IntN(20) == 0 {
			n = 50_000 // attributes above inPlaceAttributes
		}
		for range n {
			sb.WriteString(words[rng.IntN(len(words))])
		}
		return sb.String()
	}
	for range 300 {
		ann := map[string]string{"summary": text(), "description": text(), "runbook_url": text()}
		if rng.IntN(3) == 0 {
			delete(ann, "summary")
		}
		msg := map[string]any{"version": "4", "groupKey": "{}:{alertname=\"Disk\"}", "status": "firing", "receiver": "pm",
			"commonAnnotations": ann,
			"alerts": []any{map[string]any{"status": "firing", "labels": map[string]string{"alertname": "Disk", "owner": text()},
				"startsAt": "2026-11-23T13:00:00Z", "annotations": ann}}}
		body, err := json.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		checkRedactedBatch(t, body)
	}
}

// A summary read from a text given in pieces (a redacted annotation) is the one read from the text.
func TestJoinPiecesIsJoinFields(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 9))
	words := []string{"a", "word", " ", "\n", "\u00a0", "\u3000", "é", "渡辺", "\xff", "\xe6\xb8", "😀", strings.Repeat("x", 290)}
	for range 3000 {
		var sb strings.Builder
		for range rng.IntN(120) {
			sb.WriteString(words[rng.IntN(len(words))])
		}
		s := sb.String()
		// Cut where a reader of s finds a character's start: as a redacted text's pieces are.
		var cuts []int
		for i := range s {
			if i > 0 && rng.IntN(4) == 0 {
				cuts = append(cuts, i)
			}
		}
		pieces := func(yield func(string) bool) {
			last := 0
			for _, c := range append(cuts, len(s)) {
				if !yield(s[last:c]) {
					return
				}
				last = c
			}
		}
		for _, limit := range []int{10, 300} {
			if got, want := joinPieces(pieces, len(s), limit), joinFields(s, limit); got != want {
				t.Fatalf("%q cut at %v, limit %d:\n got %q\nwant %q", s, cuts, limit, got, want)
			}
		}
		if got, want := truncate(joinPieces(pieces, len(s), 300), 300), truncate(strings.Join(strings.Fields(s), " "), 300); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	}
}
