package drafts_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postmortemd/postmortemd/drafts"
)

func TestSynopsis(t *testing.T) {
	en, err := os.ReadFile("testdata/story.en.md")
	if err != nil {
		t.Fatal(err)
	}
	ja, err := os.ReadFile("testdata/story.ja.md")
	if err != nil {
		t.Fatal(err)
	}
	enHint := "_What happened, what was done, and what we learnt, for someone who was not there._"
	jaHint := "_何が起き、何をして、何を学んだか。その場にいなかった人に向けて書いてください。_"
	written := func(doc []byte, hint, text string) []byte {
		t.Helper()
		if !strings.Contains(string(doc), hint) {
			t.Fatalf("the template's hint %q is not in the draft", hint)
		}
		return []byte(strings.Replace(string(doc), hint, text, 1))
	}
	tests := []struct {
		name string
		doc  []byte
		want string
	}{
		{"en draft as written: only the hint", en, ""},
		{"ja draft as written: only the hint", ja, ""},
		{"en, answered", written(en, enHint, "Checkout failed for 20 minutes.\nA bad deploy; we rolled back."),
			"Checkout failed for 20 minutes.\nA bad deploy; we rolled back."},
		{"en, answered below the kept hint", written(en, enHint, enHint+"\n\nPayments were slow."), "Payments were slow."},
		{"ja, answered", written(ja, jaHint, "決済が 20 分間失敗した。"), "決済が 20 分間失敗した。"},
		{"comments and a fenced heading", written(en, enHint, "<!-- draft: check numbers -->\nBefore.\n```\n## not a heading\n```\nAfter."),
			"Before.\n```\n## not a heading\n```\nAfter."},
		{"heading retyped", []byte("---\nid: x\n---\n## 2. Summary\n#### in a few SENTENCES\nShort.\n### User impact\nLong."), "Short."},
		{"no such heading", []byte("---\nid: x\n---\n# Notes\nSomething.\n"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := drafts.Synopsis(tt.doc); got != tt.want {
				t.Errorf("Synopsis = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSynopsisBounded(t *testing.T) {
	long := strings.Repeat("あ", 3000) // 9000 bytes
	got := drafts.Synopsis([]byte("---\nid: x\n---\n### In a few sentences\n" + long + "\n"))
	if len(got) > 4100 || !strings.HasSuffix(got, " …") || !strings.HasPrefix(got, "あ") {
		t.Fatalf("a long synopsis is cut at a character boundary with an ellipsis; got %d bytes ending %q", len(got), got[len(got)-8:])
	}
}

// People say why a postmortem is recommended in their own front matter key, beside "recommended".
func TestRecommendedReason(t *testing.T) {
	store, inc, _ := library(t)
	path := filepath.Join(store.Dir, drafts.FileName(inc))
	orig := mustRead(t, path)
	b := strings.Replace(string(orig), "recommended: false", "recommended: true\nrecommended_reason: \"  Shows how a slow migration looks from the outside. \"", 1)
	if err := os.WriteFile(path, []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	yes := true
	got, err := store.List(drafts.Query{Recommended: &yes})
	if err != nil || len(got) != 1 {
		t.Fatalf("List: %+v %v", got, err)
	}
	if got[0].RecommendedReason != "Shows how a slow migration looks from the outside." {
		t.Fatalf("recommended_reason = %q", got[0].RecommendedReason)
	}
	doc, err := store.Get(inc.ID)
	if err != nil || doc.RecommendedReason != got[0].RecommendedReason {
		t.Fatalf("Get: %q %v", doc.RecommendedReason, err)
	}
}
