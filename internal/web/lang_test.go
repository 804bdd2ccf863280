package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/internal/web"
)

// Pages follow the browser's Accept-Language (Japanese or English) unless --ui-lang pins one:
// headings, labels, statuses, built-in roles and dates in the reader's language.
func TestPagesFollowAcceptLanguage(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	follow := newPageService(t, web.Options{Pages: web.PageOptions{Now: func() time.Time { return at }},
		Postmortems: web.PostmortemOptions{Library: &fakeLibrary{docs: map[string]drafts.Document{}}}})
	id := follow.alert(t, amFixture(t, "01-first-firing.json"))
	pinned := newPageService(t, web.Options{Pages: web.PageOptions{Now: func() time.Time { return at }, Lang: i18n.Japanese}})
	pinnedID := pinned.alert(t, amFixture(t, "01-first-firing.json"))

	tests := []struct {
		name, accept string
		s            *pageService
		path         string
		want, reject []string
	}{
		{"Japanese list", "ja-JP,ja;q=0.9,en;q=0.8", follow, "/incidents", []string{
			`<html lang="ja">`, `<h1>インシデント</h1>`, `<h2 id="open-h">対応中</h2>`, `<th scope="col">重大度</th>`,
			`<span class="status status-open">対応中</span>`, `<td class="roles">Alertmanager（レシーバー postmortemd）</td>`,
			`>2026年11月23日 13:28:22 UTC</time>`, `<td>31分</td>`, `<title>インシデント · postmortemd</title>`,
		}, []string{">Open<", "Recently resolved", "Roles involved", "2026-11-23 13:28:22"}},
		{"Japanese incident page", "ja", follow, "/incidents/" + id, []string{
			`<html lang="ja">`, `<dt>開始</dt>`, `>2026年11月23日 13:28:22 UTC</time>`, `<h2 id="facts-h">事実`,
			`<span class="muted">未解決</span>`, `Alertmanager（レシーバー postmortemd）`, `>タイムライン（JSON）</a>`,
		}, []string{"<dt>Started</dt>", "Live updates need JavaScript"}},
		{"Japanese postmortem list", "ja", follow, "/postmortems", []string{`<h1>ポストモーテム</h1>`, `<label for="f-status">ステータス</label>`}, nil},
		{"English by default", "", follow, "/incidents", []string{`<html lang="en">`, `<h2 id="open-h">Open</h2>`,
			`>2026-11-23 13:28:22 UTC</time>`, `Alertmanager (receiver postmortemd)`}, []string{"インシデント"}},
		{"English when preferred", "en-GB,en;q=0.9,ja;q=0.5", follow, "/incidents/" + id, []string{`<dt>Started</dt>`}, []string{"開始"}},
		{"a language without a catalogue gets English", "fr-FR", follow, "/incidents", []string{`<h1>Incidents</h1>`}, nil},
		{"--ui-lang pins Japanese", "en-US", pinned, "/incidents/" + pinnedID, []string{`<html lang="ja">`, `<dt>開始</dt>`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.accept != "" {
				hdr = []string{"Accept-Language", tt.accept}
			}
			resp, body := tt.s.page(t, tt.path, hdr...)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, r := range tt.reject {
				if strings.Contains(body, r) {
					t.Errorf("page has %q", r)
				}
			}
			vary := strings.Join(resp.Header.Values("Vary"), ",")
			if got := strings.Contains(vary, "Accept-Language"); got != (tt.s == follow) {
				t.Errorf("Vary %q: Accept-Language listed %v, want %v (caches must keep languages apart)", vary, got, tt.s == follow)
			}
		})
	}
}
