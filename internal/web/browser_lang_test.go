package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/internal/web"
)

// A Japanese reader's browser (Accept-Language: ja) in a real headless Chromium: the incident
// page's headings, facts, roles and live state are Japanese, and a fact that arrives while the
// page is open is shown in Japanese too.
func TestBrowserIncidentPageInJapanese(t *testing.T) {
	browser := testenv.StartChromium(t)
	csrf := web.NewCSRF("")
	s := startPageService(t, web.Options{
		Notes: web.NoteOptions{CSRF: csrf},
		Pages: web.PageOptions{PollInterval: 100 * time.Millisecond, CSRFToken: csrf.Token},
	}, true, nil)
	id := s.alert(t, amFixture(t, "01-first-firing.json"))

	tab := newTab(t, browser)
	navigateInJapanese(t, tab, s.URL+"/incidents/"+id)
	waitFor(t, tab, `document.getElementById('live').dataset.state === 'live'`)
	if h := eval[string](t, tab, `document.getElementById('facts-h').textContent`); !strings.HasPrefix(h, "事実") {
		t.Errorf("facts heading %q", h)
	}
	if lang := eval[string](t, tab, `document.documentElement.lang`); lang != "ja" {
		t.Errorf("html lang %q", lang)
	}
	if st := eval[string](t, tab, `document.getElementById('live').textContent`); !strings.HasPrefix(st, "ライブ更新中") {
		t.Errorf("live state %q", st)
	}
	s.alert(t, amFixture(t, "02-second-alert-joins.json"))
	waitFor(t, tab, `document.querySelectorAll('#facts li.event').length === 2`)
	facts := eval[[]string](t, tab, `Array.from(document.querySelectorAll('#facts p.fact')).map(e => e.textContent)`)
	for _, f := range facts {
		if !strings.HasPrefix(f, "アラート HighLatency が発火しました") {
			t.Errorf("fact %q is not in Japanese", f)
		}
	}
	roles := eval[[]string](t, tab, `Array.from(document.querySelectorAll('#facts span.role')).map(e => e.textContent)`)
	for _, r := range roles {
		if r != "Alertmanager（レシーバー postmortemd）" {
			t.Errorf("role %q", r)
		}
	}
	// The streamed rows' own words: the link to the sender's page, and a flagged note's label and
	// suggestion.
	if links := eval[[]string](t, tab, `Array.from(document.querySelectorAll('#facts a.source-link')).map(e => e.textContent)`); len(links) != 2 || links[0] != "送信元" || links[1] != "送信元" {
		t.Errorf("source links %q", links)
	}
	run(t, tab,
		chromedp.SetValue(chromedp.CSS("#note-role"), "incident commander"),
		chromedp.SetValue(chromedp.CSS("#note-text"), "it was human error, someone should have checked."),
		chromedp.Click(chromedp.CSS("form.note button[type=submit]")),
	)
	waitFor(t, tab, `document.querySelector('#context .flags') !== null`)
	if l := eval[string](t, tab, `document.querySelector('#context .flags').getAttribute('aria-label')`); l != "ブレームレス・ガードレールが指摘した表現" {
		t.Errorf("flags label %q", l)
	}
	sugg := eval[[]string](t, tab, `Array.from(document.querySelectorAll('#context .flags .suggestion')).map(e => e.textContent)`)
	if len(sugg) == 0 {
		t.Fatal("no suggestion shown")
	}
	for _, g := range sugg {
		if !strings.HasPrefix(g, "言い換え案: ") {
			t.Errorf("suggestion %q", g)
		}
	}
}

// navigateInJapanese opens url in tab as a Japanese reader's browser asks for it
// (Accept-Language: ja-JP,ja;q=0.9 on every request the tab makes).
func navigateInJapanese(t *testing.T, tab context.Context, url string) {
	t.Helper()
	run(t, tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	}), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders,
			network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "ja-JP,ja;q=0.9"}})
		return err
	}), chromedp.Navigate(url))
}
