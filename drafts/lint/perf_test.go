package lint

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/postmortemd/postmortemd/timeline"
)

// blamePhrases mix English and Japanese blame with what makes a linter work hardest: nested
// findings (人為的ミス holds ミス), exceptions (git blame, ミスマッチ, 責任者), half-width katakana
// (ﾐｽ is matched through NFKC) and a rule whose match spans words (human error).
var blamePhrases = []string{"human error ", "人為的ミス ", "ミス ", "git blame ", "blamed ", "ミスマッチ ",
	"forgot to ", "careless ", "確認不足 ", "his fault ", "should have ", "責任者 ", "責任 ", "ﾐｽ "}

// blameLine is one line of at least n bytes of blame phrases.
func blameLine(n int) string {
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		sb.WriteString(blamePhrases[i%len(blamePhrases)])
	}
	return sb.String()
}

// TestLongLine lints 1 MiB on one line, a finding every few characters: linting was quadratic in
// the matches times the line's length (a 4 MB request body took minutes of CPU). The test checks
// what is found; BenchmarkLongLine measures how fast (a wall-clock bound here would fail on a
// loaded machine, and pass a quadratic regression on a fast one).
func TestLongLine(t *testing.T) {
	l := Default()
	text := blameLine(1 << 20)
	for _, tc := range []struct {
		name string
		lint func(string) Result
	}{
		{"text", l.TextResult},
		{"markdown", l.MarkdownResult},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.lint(text)
			if !res.Truncated || len(res.Findings) != MaxFindings {
				t.Fatalf("got %d findings, truncated %v; want the first %d and truncated", len(res.Findings), res.Truncated, MaxFindings)
			}
			checkPositions(t, text, res.Findings)
			// The first round of phrases: nested ミス, git blame, ミスマッチ and 責任者 are not flagged.
			want := []string{"human-error", "ja-human-error", "ja-miss", "blame", "forgot-to", "careless", "ja-careless",
				"fault", "should-have", "ja-responsibility", "ja-miss", "human-error"}
			if got := rulesOf(res.Findings[:len(want)]); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("first findings' rules = %v, want %v", got, want)
			}
		})
	}
	t.Run("names", func(t *testing.T) {
		people := []timeline.Participant{{Role: "primary on-call", Name: "Dana Okafor", Email: "dana.okafor@example.com"},
			{Role: "incident commander", Name: "渡辺 健二"}}
		var sb strings.Builder
		for sb.Len() < 1<<20 {
			sb.WriteString("Dana ミス 渡辺さん dana.okafor@example.com okafor ")
		}
		text := sb.String()
		fs := Names(text, people)
		if len(fs) != MaxFindings {
			t.Fatalf("got %d findings, want the first %d", len(fs), MaxFindings)
		}
		checkPositions(t, text, fs)
	})
}

// checkPositions checks each finding's line and column against its offset, and that they are in
// reading order.
func checkPositions(t *testing.T, text string, fs []Finding) {
	t.Helper()
	for i, f := range fs {
		before := text[:f.Offset]
		line := strings.Count(before, "\n") + 1
		col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
		if f.Line != line || f.Column != col {
			t.Fatalf("finding %d (%s at offset %d) is at %d:%d, want %d:%d", i, f.Rule, f.Offset, f.Line, f.Column, line, col)
		}
		if f.Match != "" && !strings.HasPrefix(text[f.Offset:], f.Match) {
			t.Fatalf("finding %d: match %q is not the text at offset %d", i, f.Match, f.Offset)
		}
		if i > 0 && f.Offset <= fs[i-1].Offset {
			t.Fatalf("finding %d at offset %d follows one at %d", i, f.Offset, fs[i-1].Offset)
		}
	}
}

func TestMaxFindings(t *testing.T) {
	l := Default()
	for _, tc := range []struct {
		name          string
		text          string
		wantN         int
		wantTruncated bool
		wantLast      string // line:column of the last finding
	}{
		{"just under", strings.Repeat("blame\n", MaxFindings-1), MaxFindings - 1, false, "999:1"},
		{"exactly", strings.Repeat("blame\n", MaxFindings), MaxFindings, false, "1000:1"},
		{"one more line", strings.Repeat("blame\n", MaxFindings+1), MaxFindings, true, "1000:1"},
		{"one more on the last line", strings.Repeat("blame\n", MaxFindings-1) + "blamed ミス", MaxFindings, true, "1000:1"},
		{"on one line", strings.Repeat("ミス ", MaxFindings+5), MaxFindings, true, fmt.Sprintf("1:%d", 3*(MaxFindings-1)+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, res := range []Result{l.TextResult(tc.text), l.MarkdownResult(tc.text)} {
				if len(res.Findings) != tc.wantN || res.Truncated != tc.wantTruncated {
					t.Fatalf("got %d findings, truncated %v; want %d, %v", len(res.Findings), res.Truncated, tc.wantN, tc.wantTruncated)
				}
				last := res.Findings[len(res.Findings)-1]
				if got := fmt.Sprintf("%d:%d", last.Line, last.Column); got != tc.wantLast {
					t.Errorf("last finding at %s, want %s", got, tc.wantLast)
				}
			}
			if got := l.Text(tc.text); len(got) != tc.wantN {
				t.Errorf("Text: %d findings, want %d", len(got), tc.wantN)
			}
		})
	}
}

// TestOneLineMany checks exceptions, nesting and columns when one line holds many findings of
// several rules, where each match is tested against the line's sorted exception spans.
func TestOneLineMany(t *testing.T) {
	l, err := New(Words{Rules: []Rule{
		{ID: "error-word", Terms: []string{"error"}, Except: []string{`error\s+log`, `an\s+error`, `error budget`}},
		// The same spans as ja-miss, found by a later rule: left out.
		{ID: "ja-miss-again", Terms: []string{"ミス"}, Except: []string{"ミスマッチ", "ミスト", "キャッシュミス"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	line := "git blame, blamed; ミスマッチ ミス 人為的ミス ﾐｽ; an error, error log, error budget, error; キャッシュミス ミスト 責任者 責任"
	want := []string{
		"blame 1:12 blamed", "ja-miss 1:26 ミス", "ja-human-error 1:29 人為的ミス", "ja-miss 1:35 ﾐｽ",
		"error-word 1:74 error", "ja-responsibility 1:97 責任",
	}
	for _, text := range []string{line, strings.Repeat(line+" ", 50)} {
		fs := l.Text(text)
		checkPositions(t, text, fs)
		if len(fs) != len(want)*strings.Count(text, "git blame") {
			t.Fatalf("got %d findings, want %d: %+v", len(fs), len(want)*strings.Count(text, "git blame"), fs)
		}
		for i, w := range want {
			f := fs[i]
			if got := fmt.Sprintf("%s %d:%d %s", f.Rule, f.Line, f.Column, f.Match); got != w {
				t.Errorf("finding %d = %q, want %q", i, got, w)
			}
		}
	}
}

func BenchmarkTextLongLine(b *testing.B) {
	l := Default()
	text := blameLine(1 << 20)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		l.Text(text)
	}
}

func BenchmarkMarkdownDraft(b *testing.B) {
	l := Default()
	var sb strings.Builder
	for i := 0; sb.Len() < 256<<10; i++ {
		fmt.Fprintf(&sb, "## Step %d\n\nThe deploy failed; %s the runbook had no step. `git blame` shows the change.\n\n", i, blamePhrases[i%len(blamePhrases)])
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		l.Markdown(text)
	}
}

// BenchmarkLongLine measures linting and name finding on 1 MiB on one line (TestLongLine's input).
func BenchmarkLongLine(b *testing.B) {
	l := Default()
	text := blameLine(1 << 20)
	people := []timeline.Participant{{Role: "primary on-call", Name: "Dana Okafor", Email: "dana.okafor@example.com"},
		{Role: "incident commander", Name: "渡辺 健二"}}
	for _, bc := range []struct {
		name string
		run  func()
	}{
		{"text", func() { l.TextResult(text) }},
		{"markdown", func() { l.MarkdownResult(text) }},
		{"names", func() { Names(text, people) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				bc.run()
			}
		})
	}
}
