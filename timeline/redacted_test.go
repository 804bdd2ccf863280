package timeline_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/postmortemd/postmortemd/timeline"
)

// A Redacted text is written without building the replaced text (an annotation of 16 MiB full of
// names is 28 MB once replaced); what it writes must be, byte for byte, what ReplaceNames returns,
// and that escaped as AppendJSONString escapes it.

// redactedPeople are directories whose roles test the pieces: escapes, characters of several bytes,
// a role that is not valid UTF-8 (which would join with the text around it).
var redactedPeople = [][]timeline.Participant{
	nil,
	namePeople,
	scanPeople,
	{{Name: "Jamie Rivera", Email: "jamie@example.com", Role: `<b>"lead" & \ on-call` + "\u2028"}},
	{{Name: "Dana", Role: "\xe6\xb8"}, {Name: "Okafor", Role: "\x81 ops"}}, // a role cut inside 渡
}

// checkRedacted compares every way a Redacted writes its text with ReplaceNames' result.
func checkRedacted(t *testing.T, text string, people []timeline.Participant) {
	t.Helper()
	want, n := timeline.ReplaceNames(text, people)
	r := timeline.FindNames(text, people)
	if r.Count() != n || r.Len() != len(want) || r.String() != want {
		t.Fatalf("FindNames(%q): %d replacements, %d bytes, %q; ReplaceNames: %d, %d, %q",
			text, r.Count(), r.Len(), r.String(), n, len(want), want)
	}
	var sb strings.Builder
	r.Pieces(func(s string) bool { sb.WriteString(s); return true })
	if sb.String() != want {
		t.Fatalf("pieces of %q make %q, want %q", text, sb.String(), want)
	}
	wantJSON := timeline.AppendJSONString([]byte("prefix"), want)
	if got := r.AppendJSON([]byte("prefix")); string(got) != string(wantJSON) {
		t.Fatalf("AppendJSON of %q:\n got %s\nwant %s", text, got, wantJSON)
	}
	if got := r.JSONLen(); got != len(wantJSON)-len("prefix") {
		t.Fatalf("JSONLen of %q is %d, AppendJSON writes %d bytes", text, got, len(wantJSON)-len("prefix"))
	}
	calls := 0
	r.Pieces(func(string) bool { calls++; return false })
	if want != "" && calls != 1 {
		t.Fatalf("Pieces went on after yield returned false (%d calls)", calls)
	}
}

func TestRedactedWritesReplaceNames(t *testing.T) {
	texts := []string{
		"", "nobody here", "Dana", "Dana Okafor", "Okafor's <pager> & \"phone\"\n",
		"Dana Okafor paged ops@example.org and DANA.OKAFOR@example.com; 渡辺さん and 渡辺健二 replied, Okafors too",
		"\xe6Dana\xb8 \xe6\xb8Okafor\x81 Jamie\u2028Rivera jamie@example.com\xff",
		longText("latency", "Dana", "okafor", "on", "渡辺さん", "mailed", "ops@example.org", "dana.okafor@example.com", "x@y"),
	}
	rng := rand.New(rand.NewPCG(3, 5))
	words := []string{"Dana", "Okafor", "Okafor's", "Danas", "渡辺", "健二", "ｶﾅｴ", "José", "Núñezes", "Jamie", "Rivera",
		"jamie@example.com", "ops@example.org", "dana.okafor@example.com", " ", "\n", "\"", "\\", "<", "&", "\x00",
		"\u2028", "\xff", "\xe6", "\xb8", "\xe6\xb8", "😀", "é", "e\u0301", "word", "-", "."}
	for range 3000 {
		var sb strings.Builder
		for range rng.IntN(30) {
			sb.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(3) == 0 {
				sb.WriteByte(' ')
			}
		}
		texts = append(texts, sb.String())
	}
	for _, people := range redactedPeople {
		for _, text := range texts {
			checkRedacted(t, text, people)
		}
	}
}

// The places found take 12 bytes each, however many there are: the chunks they are kept in stay
// 4096 places long (a shift once made every place after the 110,000th a chunk of its own, 40 bytes).
func TestFindNamesKeepsTwelveBytesAPlace(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's own allocations would be counted")
	}
	text := strings.Repeat("Dana said ", 300_000) // 300,000 names
	var r timeline.Redacted
	b := allocated(func() { r = timeline.FindNames(text, scanPeople) })
	if r.Count() != 300_000 {
		t.Fatalf("%d names found", r.Count())
	}
	if limit := uint64(r.Count())*12 + 64<<10; b > limit {
		t.Errorf("%d bytes allocated for %d places (limit %d)", b, r.Count(), limit)
	}
}

// FuzzRedacted checks, for any text and any role, that a Redacted writes what ReplaceNames returns.
func FuzzRedacted(f *testing.F) {
	for _, s := range []string{"Dana Okafor acknowledged", "\xe6Dana\xb8", "x@y.zz Dana <&>", "Okafor\u2028", ""} {
		f.Add(s, "primary on-call")
		f.Add(s, "\xe6\xb8")
	}
	f.Fuzz(func(t *testing.T, text, role string) {
		people := []timeline.Participant{{Name: "Dana Okafor", Email: "dana.okafor@example.com", Role: timeline.Role(role)}}
		checkRedacted(t, text, people)
		if !utf8.ValidString(role) {
			return
		}
		checkRedacted(t, text, append(people, namePeople...))
	})
}
