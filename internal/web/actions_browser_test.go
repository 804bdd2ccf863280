package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// In a real browser: the action-items page groups the open items by role, its link leads to the
// postmortem, whose page shows the renegotiation and none of the hidden id comments.
func TestBrowserActionItemsPage(t *testing.T) {
	browser := testenv.StartChromium(t)
	s, _ := newItemsService(t)
	item := s.list(t, "?postmortem=pm-en&overdue=true")[0]
	if code, body := s.do(t, http.MethodPatch, "/api/v1/action-items/"+item.ID,
		`{"due":"2026-12-20","reason":"the queue migration moved to next sprint"}`, true); code != http.StatusOK {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	tab := newTab(t, browser)
	run(t, tab, chromedp.Navigate(s.URL+"/action-items"))
	waitFor(t, tab, `document.querySelectorAll('section.action-owner').length > 0`)
	groups := eval[[]string](t, tab, `Array.from(document.querySelectorAll('section.action-owner h2')).map(h => h.textContent)`)
	if len(groups) == 0 || !strings.HasPrefix(groups[0], "database on-call") || groups[len(groups)-1] != "No owner yet" {
		t.Fatalf("groups %q", groups)
	}
	overdue := eval[[]string](t, tab, `Array.from(document.querySelectorAll('tr.overdue th')).map(th => th.textContent)`)
	strong := eval[string](t, tab, `document.querySelector('tr.overdue th strong') ? document.querySelector('tr.overdue th strong').textContent : ''`)
	if len(overdue) != 1 || overdue[0] != "Alert on queue depth, not only on latency" || strong != "Alert" {
		t.Errorf("overdue rows %q (the renegotiated item is no longer overdue)", overdue)
	}
	run(t, tab, chromedp.Navigate(s.URL+"/postmortems/pm-en"))
	waitFor(t, tab, `document.body.textContent.includes('Renegotiated')`)
	text := eval[string](t, tab, `document.body.innerText`)
	if !strings.Contains(text, "2026-11-20 → 2026-12-20") || !strings.Contains(text, "the queue migration moved to next sprint") {
		t.Errorf("the postmortem page does not show the renegotiation:\n%s", text)
	}
	if strings.Contains(text, "action-item") {
		t.Errorf("the hidden id comments show on the page")
	}
}
