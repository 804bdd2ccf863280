package timeline_test

import (
	"strings"
	"testing"

	"github.com/postmortemd/postmortemd/timeline"
)

var namePeople = []timeline.Participant{
	{Name: "Dana Okafor", Email: "dana.okafor@example.com", Role: "primary on-call"},
	{Name: "ｶﾅｴ", Role: "secondary on-call"}, // a directory that writes half-width katakana

	{Name: "José Núñez", Role: "incident commander"},
}

func TestReplaceNamesFormsOfAName(t *testing.T) {
	tests := []struct {
		name, text, want string
		n                int
	}{
		{"full-width name", "Ｄａｎａ Ｏｋａｆｏｒ acknowledged", "the primary on-call acknowledged", 1},
		{"full-width part", "ｏｋａｆｏｒ restarted it", "the primary on-call restarted it", 1},
		{"plural", "the Danas and the Okafors of this world", "the the primary on-call and the the primary on-call of this world", 2},
		{"plural in -es", "both Núñezes", "both the incident commander", 1},
		{"possessive keeps its ending", "Okafor's laptop and Dana’s phone", "the primary on-call's laptop and the primary on-call’s phone", 2},
		{"plural possessive", "the Okafors' house", "the the primary on-call' house", 1},
		{"full-width possessive", "Ｏｋａｆｏｒ＇ｓ runbook", "the primary on-call＇ｓ runbook", 1},
		{"half-width katakana in the directory, full-width in the text", "カナエが確認", "the secondary on-callが確認", 1},
		{"decomposed accents (NFD) match the composed name", "Jose\u0301 Nu\u0301n\u0303ez paged", "the incident commander paged", 1},
		{"still a whole word", "Danakil, Okaforian and Danaes stay", "Danakil, Okaforian and Danaes stay", 0},
		{"a longer ending is another word", "Okaforism", "Okaforism", 0},
		{"untouched text keeps its bytes", "ｆｕｌｌ ｗｉｄｔｈ ﬁle", "ｆｕｌｌ ｗｉｄｔｈ ﬁle", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := timeline.ReplaceNames(tt.text, namePeople)
			if got != tt.want || n != tt.n {
				t.Errorf("ReplaceNames(%q) = %q, %d; want %q, %d", tt.text, got, n, tt.want, tt.n)
			}
		})
	}
}

// FuzzReplaceNames checks, for any text, that the spans are in order, inside the text, on rune
// boundaries and never overlap, and that no form of a known name survives the replacement.
func FuzzReplaceNames(f *testing.F) {
	for _, s := range []string{"Dana Okafor acknowledged", "Ｄａｎａ Ｏｋａｆｏｒ", "Okafor's", "Danas", "ｶﾅｴ カナエ",
		"Jose\u0301", "dana.okafor@example.com", "x@y.zz Dana", "\xff\xfeDana", "ﬁ Dana\u0301", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		spans := timeline.NameSpans(text, namePeople)
		last := 0
		for _, sp := range spans {
			if sp.Start < last || sp.End < sp.Start || sp.End > len(text) {
				t.Fatalf("spans %+v out of order or range for %q", spans, text)
			}
			last = sp.End
		}
		out, n := timeline.ReplaceNames(text, namePeople)
		if n != len(spans) {
			t.Fatalf("ReplaceNames made %d replacements, NameSpans found %d", n, len(spans))
		}
		// Replacing again finds only what the roles themselves contain: nothing.
		if again := timeline.NameSpans(out, namePeople); len(again) != 0 {
			for _, sp := range again {
				if strings.Contains(out[sp.Start:sp.End], "Dana") || strings.Contains(strings.ToLower(out[sp.Start:sp.End]), "okafor") {
					t.Fatalf("a name survives in %q (from %q): %+v", out, text, again)
				}
			}
		}
	})
}
