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
	lib := &fakeLibrary{docs: map[string]drafts.Document{}}
	follow := newPageService(t, web.Options{Pages: web.PageOptions{Now: func() time.Time { return at }},
		Postmortems: web.PostmortemOptions{Library: lib}})
	id := follow.alert(t, amFixture(t, "01-first-firing.json"))
	lib.docs[id] = drafts.Document{Summary: drafts.Summary{ID: id, Title: "Checkout latency", Status: "in-review"},
		Content: []byte(langPostmortem(id))}
	reviewSrv, _ := lateReview(t)
	review := &pageService{Server: reviewSrv}
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
			`target="_blank">送信元</a>`, `&#34;row_source&#34;:&#34;送信元&#34;`, `&#34;row_instead&#34;:&#34;言い換え案:&#34;`,
			`&#34;row_flagged&#34;:&#34;ブレームレス・ガードレールが指摘した表現&#34;`,
		}, []string{"<dt>Started</dt>", "Live updates need JavaScript", ">source</a>"}},
		{"Japanese postmortem list", "ja", follow, "/postmortems", []string{`<h1>ポストモーテム</h1>`, `<label for="f-status">ステータス</label>`}, nil},
		{"Japanese postmortem", "ja", follow, "/postmortems/" + id, []string{
			`<a href="/postmortems/` + id + `/edit">編集</a>`, `aria-label="このポストモーテムについて"`,
			`<dt>ポストモーテムのステータス</dt><dd id="pm-status">レビュー中 · <strong>推奨ポストモーテム</strong>`,
			`<span class="status status-resolved">解決済み</span>`, `checkout、payments`, `<dt>検知</dt>`,
			`>2026年11月23日 13:28:23 UTC</time>`, `検知まで 1秒`, `解決まで 1時間17分49秒`, `<dt>対応者（ロール）</dt>`,
			`<dt>振り返り会</dt>`, `（Asia/Tokyo で計画）`, `<h2 id="findings-h">表現の指摘`, `行目`, `言い換え案:`,
		}, []string{"Postmortem status", "recommended reading", "Detected", "time to detect", "Responders", "Systems",
			"Review meeting", "planned in", "Wording", "Line ", "Instead:", ">Edit<"}},
		{"English postmortem", "en", follow, "/postmortems/" + id, []string{
			`<dt>Postmortem status</dt><dd id="pm-status">in-review · <strong>recommended reading</strong>`,
			`time to resolve 1h17m49s`, `<dt>Responders (roles)</dt>`, `(planned in Asia/Tokyo)`, `Instead: `,
		}, []string{"検知"}},
		{"Japanese editor", "ja", follow, "/postmortems/" + id + "/edit", []string{
			`<h1>編集: Checkout latency</h1>`, `>ポストモーテムに戻る</a>`, `<h2 id="findings-h">表現の指摘</h2>`,
			`<h2 id="preview-h">プレビュー</h2>`, `「postmortemd:begin」行`, `行目`, `data-words="{&#34;answered&#34;:&#34;保存していません: サーバーが {n} を返しました。`,
		}, []string{"Edit:", "Back to", "Preview", "Wording", "Save<", "Line ", "Instead", "Not saved"}},
		{"Japanese review page", "ja", review, "/incidents/inc-1/review", []string{
			`<h1>振り返り会</h1>`, `>インシデントのタイムライン</a>`, `<dt>ステータス</dt><dd id="review-status">予定済み`,
			`<dt>日時 <span class="muted" data-zone-label="（あなたのタイムゾーン）">（Asia/Tokyo）</span>`,
			`>2026年11月23日（月） 10:00 JST</time>`, `<dd id="review-utc">2026年11月23日（月） 01:00–01:45 UTC</dd>`,
			`<dd id="review-duration">45分</dd>`, `<h2 id="timing-h">解決から 1 日以内か</h2>`,
			`解決から 24 時間以内ではありません: 2026年11月20日（金） 19:40 JST に解決しましたが、勤務時間内で最初に空いている枠は 2026年11月23日（月） 10:00 JST（2日 14時間後）です。`,
			`<h2 id="invited-h">招待者 <span class="muted">（3 件、うち必須 2 件。`, `<h2 id="waive-h">振り返り会を見送る</h2>`,
			`<label for="waive-reason">理由（必須）</label>`,
		}, []string{">Status<", "When", "How long", "Where", "Within", "Invited", "Waive", "minutes", "later"}},
		{"English review page", "en", review, "/incidents/inc-1/review", []string{
			`<dd id="review-utc">Mon 23 Nov 2026 01:00–01:45 UTC</dd>`, `<dd id="review-duration">45 minutes</dd>`,
			`Not within 24 hours of the resolution: resolved Fri 20 Nov 19:40 JST; the first free slot in working hours is Mon 23 Nov 10:00 JST, 2d 14h later.`,
		}, []string{"振り返り会"}},
		{"English by default", "", follow, "/incidents", []string{`<html lang="en">`, `<h2 id="open-h">Open</h2>`,
			`>2026-11-23 13:28:22 UTC</time>`, `Alertmanager (receiver postmortemd)`}, []string{"インシデント"}},
		// The same incident's cached rows, now in English.
		{"English when preferred", "en-GB,en;q=0.9,ja;q=0.5", follow, "/incidents/" + id, []string{`<dt>Started</dt>`,
			`target="_blank">source</a>`, `&#34;row_instead&#34;:&#34;Instead:&#34;`}, []string{"開始", "送信元"}},
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
					t.Errorf("page lacks %q in:\n%s", w, body)
				}
			}
			for _, r := range tt.reject {
				if strings.Contains(body, r) {
					t.Errorf("page has %q", r)
				}
			}
			vary := strings.Join(resp.Header.Values("Vary"), ",")
			if got := strings.Contains(vary, "Accept-Language"); got != (tt.s != pinned) {
				t.Errorf("Vary %q: Accept-Language listed %v, want %v (caches must keep languages apart)", vary, got, tt.s != pinned)
			}
		})
	}
}

// The error page a browser gets is titled in its language too.
func TestErrorPageFollowsAcceptLanguage(t *testing.T) {
	s := newPageService(t, web.Options{})
	for accept, want := range map[string]string{"ja": "<h1>見つかりません</h1>", "en": "<h1>Not Found</h1>"} {
		resp, body := s.page(t, "/incidents/no-such-incident", "Accept", "text/html", "Accept-Language", accept)
		if resp.StatusCode != 404 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want 404 with %q:\n%s", accept, resp.StatusCode, want, body)
		}
		if accept == "ja" && (strings.Contains(body, "Not Found") || !strings.Contains(body, ">すべてのインシデント</a>")) {
			t.Errorf("the Japanese error page has English navigation:\n%s", body)
		}
		// The detail too: a sentence in the reader's language instead of the API's English.
		if accept == "ja" && (!strings.Contains(body, "<p>このアドレスには何もありません。リンクや ID を確認してください。</p>") || strings.Contains(body, "not found")) {
			t.Errorf("the Japanese error page's detail:\n%s", body)
		}
		if accept == "en" && !strings.Contains(body, `<p>incident &#34;no-such-incident&#34;: not found</p>`) {
			t.Errorf("the English error page's detail:\n%s", body)
		}
	}
}

// A refusal that carries its reason (i18n.Reason) is said in the reader's language on the error
// page; the API keeps the English.
func TestErrorPageSaysTheReasonInTheReadersLanguage(t *testing.T) {
	s, _ := newLibraryService(t, writePostmortems(t, insightPostmortems()...), web.Options{})
	resp, body := (&pageService{Server: s.Server}).page(t, "/insights?from=yesterday", "Accept", "text/html", "Accept-Language", "ja")
	if resp.StatusCode != 400 || !strings.Contains(body, "from には日付（2026-11-01）または RFC 3339 形式の時刻（2026-11-01T00:00:00Z）を指定してください（&#34;yesterday&#34; が指定されました）") ||
		strings.Contains(body, "want a date") {
		t.Errorf("Japanese: %d\n%s", resp.StatusCode, body)
	}
	resp, body = (&pageService{Server: s.Server}).page(t, "/api/v1/insights?from=yesterday")
	if resp.StatusCode != 400 || !strings.Contains(body, `"error":"from: invalid input: want a date (2026-11-01) or an RFC 3339 time (2026-11-01T00:00:00Z) for from, got \"yesterday\""`) {
		t.Errorf("API: %d %s", resp.StatusCode, body)
	}
}

// langPostmortem is a draft's front matter with every field the postmortem page's header shows, and
// a body with wording the blameless guardrail flags.
func langPostmortem(id string) string {
	return `---
id: ` + id + `
title: Checkout latency
status: in-review
incident_status: resolved
severity: critical
services: [checkout, payments]
tags: [latency]
recommended: true
started: 2026-11-23T13:28:22Z
detected: 2026-11-23T13:28:23Z
acknowledged: 2026-11-23T13:30:51Z
resolved: 2026-11-23T14:46:11Z
time_to_detect: 1s
time_to_acknowledge: 2m29s
time_to_resolve: 1h17m49s
roles:
  responders: [primary on-call (level 1) for checkout]
  systems: [Alertmanager (receiver postmortemd)]
review:
  start: 2026-11-24T01:00:00Z
  end: 2026-11-24T02:00:00Z
  time_zone: Asia/Tokyo
---
# Summary

The on-call engineer should have noticed it sooner; a careless mistake.
`
}
