package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/internal/web"
)

// The incident list in a headless Chromium, opened at the site's root: a new incident and its
// resolution appear without a reload.
func TestBrowserLiveIncidentList(t *testing.T) {
	browser := testenv.StartChromium(t)
	s := startPageService(t, web.Options{Pages: web.PageOptions{ListRefresh: 200 * time.Millisecond}}, false, nil)
	tab := newTab(t, browser)
	run(t, tab, chromedp.Navigate(s.URL+"/"))
	waitFor(t, tab, `location.pathname === '/incidents' && document.getElementById('list-live').dataset.state === 'live'`)
	eval[bool](t, tab, `window.__sameDocument = true`)
	if n := eval[int](t, tab, `document.querySelectorAll('tr[data-incident]').length`); n != 0 {
		t.Fatalf("%d incidents before any alert", n)
	}
	id := s.alert(t, amFixture(t, "01-first-firing.json"))
	waitFor(t, tab, `document.querySelector('#open-h').parentNode.querySelector('tr.new[data-incident="`+id+`"][data-status="open"]') !== null`)
	s.alert(t, amFixture(t, "04-all-resolved.json"))
	waitFor(t, tab, `document.querySelector('#recent-h').parentNode.querySelector('tr.new[data-incident="`+id+`"][data-status="resolved"]') !== null`)
	if !eval[bool](t, tab, `window.__sameDocument === true && document.querySelector('#open-h').parentNode.querySelector('tr[data-incident]') === null`) {
		t.Fatal("the page reloaded, or still lists the incident as open")
	}
}
