package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/timeline"
)

// browserWait bounds every wait on the page: generous for a loaded CI machine, and still far
// below the test timeout.
const browserWait = 30 * time.Second // the 5,000-event page loads in 6-9 s under -race on 2 CPUs

// streamGate answers 503 to event stream requests while it is down: the stream is unreachable,
// while the rest of the service works. It counts the requests that resume with a Last-Event-ID
// header (the browser's own reconnection).
type streamGate struct {
	down    atomic.Bool
	resumed atomic.Int64
}

func (g *streamGate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/events") && r.Header.Get("Last-Event-ID") != "" {
			g.resumed.Add(1)
		}
		if g.down.Load() && strings.HasSuffix(r.URL.Path, "/events") {
			http.Error(w, "stream down for the test", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// The incident page in a real headless Chromium: the timeline, times in the viewer's zone, live
// updates without reloading, a dropped stream, hostile text, and the note form.
func TestBrowserIncidentPage(t *testing.T) {
	browser := testenv.StartChromium(t)
	gate := &streamGate{}
	csrf := web.NewCSRF("")
	s := startPageService(t, web.Options{
		// The people directory: names typed in notes become roles on any incident, not only PagerDuty's.
		Notes: web.NoteOptions{CSRF: csrf, People: []timeline.Participant{{Name: "Dana Okafor", Role: "primary on-call for checkout"}}},
		Pages: web.PageOptions{PollInterval: 100 * time.Millisecond, Retry: 200 * time.Millisecond, CSRFToken: csrf.Token},
	}, true, gate.wrap)
	id := s.alert(t, amFixture(t, "01-first-firing.json"))
	incidentURL := s.URL + "/incidents/" + id

	t.Run("the page shows the timeline, times in the viewer's zone with UTC on hover", func(t *testing.T) {
		tab := newTab(t, browser)
		run(t, tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
			return err
		}), chromedp.Navigate(incidentURL))
		waitFor(t, tab, `document.querySelectorAll('#facts li.event').length === 1`)
		facts := eval[string](t, tab, `document.getElementById('facts').textContent`)
		if !strings.Contains(facts, "p99 latency above 2s") || !strings.Contains(facts, "Alertmanager (receiver postmortemd)") {
			t.Fatalf("facts section shows %q", facts)
		}
		// 13:28:22 UTC is 22:28:22 in Tokyo.
		tm := eval[[]string](t, tab, `(function(){var e=document.querySelector('#facts time');return [e.textContent, e.title];})()`)
		if !strings.Contains(tm[0], "22:28:22") || tm[1] != "2026-11-23 13:28:22 UTC" {
			t.Fatalf("time shows %q with title %q; want Tokyo time, and UTC on hover", tm[0], tm[1])
		}
		if n := eval[int](t, tab, `document.querySelectorAll('#context li.event').length`); n != 0 {
			t.Fatalf("%d context items, want none", n)
		}
	})

	t.Run("an alert posted to the webhook appears without reloading", func(t *testing.T) {
		tab := newTab(t, browser)
		run(t, tab, chromedp.Navigate(incidentURL))
		waitFor(t, tab, `document.getElementById('live').dataset.state === 'live'`)
		eval[bool](t, tab, `window.__sameDocument = true`)
		s.alert(t, amFixture(t, "02-second-alert-joins.json"))
		waitFor(t, tab, `document.querySelectorAll('#facts li.event').length === 2`)
		if !eval[bool](t, tab, `window.__sameDocument === true`) {
			t.Fatal("the page was reloaded")
		}
		if txt := eval[string](t, tab, `document.getElementById('facts').textContent`); !strings.Contains(txt, "inst-2") {
			t.Fatalf("the new alert is not shown: %q", txt)
		}
	})

	t.Run("the page survives a dropped event stream, without losing or repeating events", func(t *testing.T) {
		tab := newTab(t, browser)
		run(t, tab, chromedp.Navigate(incidentURL))
		waitFor(t, tab, `document.getElementById('live').dataset.state === 'live'`)
		eval[bool](t, tab, `window.__sameDocument = true`)
		before := eval[int](t, tab, `document.querySelectorAll('#facts li.event').length`)

		gate.down.Store(true)
		dropConnections(s) // drops the open stream; reconnections get 503 while down
		waitFor(t, tab, `document.getElementById('live').dataset.state === 'reconnecting'`)
		s.alert(t, amFixture(t, "03-partial-recovery.json")) // posted while the page is cut off
		s.alert(t, amFixture(t, "02-second-alert-joins.json"))
		gate.down.Store(false)

		want := len(timelineEvents(t, s, id))
		if want <= before {
			t.Fatalf("%d events on the timeline, %d on the page before", want, before)
		}
		waitFor(t, tab, `document.getElementById('live').dataset.state === 'live'`)
		waitFor(t, tab, `document.querySelectorAll('#facts li.event').length >= `+itoa(want))
		cursors := eval[[]string](t, tab, `Array.from(document.querySelectorAll('li.event')).map(e => e.dataset.cursor)`)
		seen := map[string]bool{}
		for _, c := range cursors {
			if seen[c] {
				t.Fatalf("event %s shown twice: %v", c, cursors)
			}
			seen[c] = true
		}
		if len(cursors) != want || !eval[bool](t, tab, `window.__sameDocument === true`) {
			t.Fatalf("%d events shown, want %d, without a reload", len(cursors), want)
		}
	})

	t.Run("after a dropped connection the browser resumes with Last-Event-ID", func(t *testing.T) {
		tab := newTab(t, browser)
		run(t, tab, chromedp.Navigate(incidentURL))
		waitFor(t, tab, `document.getElementById('live').dataset.state === 'live'`)
		eval[bool](t, tab, `window.__sameDocument = true`)
		// One event through the stream first, so the browser has an id to resume after.
		postNote(t, s, id, "status page updated")
		waitFor(t, tab, `document.getElementById('context').textContent.includes('status page updated')`)
		resumed := gate.resumed.Load()
		dropConnections(s)
		s.alert(t, amFixture(t, "04-all-resolved.json"))
		want := len(timelineEvents(t, s, id))
		waitFor(t, tab, `document.querySelectorAll('li.event').length >= `+itoa(want)+
			` && document.getElementById('incident-status').textContent === 'resolved'`)
		if n := eval[int](t, tab, `new Set(Array.from(document.querySelectorAll('li.event')).map(e => e.dataset.cursor)).size`); n != want {
			t.Fatalf("%d distinct events shown, want %d", n, want)
		}
		if gate.resumed.Load() == resumed || !eval[bool](t, tab, `window.__sameDocument === true`) {
			t.Fatal("the page did not resume its stream with Last-Event-ID, or reloaded")
		}
	})

	t.Run("hostile annotations are shown as text, never run", func(t *testing.T) {
		group := `{}:{alertname="hostile"}`
		hid := s.alert(t, hostileAlert(t, group, 1))
		tab := newTab(t, browser)
		run(t, tab, chromedp.Navigate(s.URL+"/incidents/"+hid))
		waitFor(t, tab, `document.getElementById('live').dataset.state === 'live'`)
		s.alert(t, hostileAlert(t, group, 2)) // and one arriving through the stream
		waitFor(t, tab, `document.querySelectorAll('#facts li.event').length === 2`)
		for _, path := range []string{"", "/incidents"} {
			if path != "" {
				run(t, tab, chromedp.Navigate(s.URL+path))
				waitFor(t, tab, `document.readyState === 'complete'`)
			}
			if v := eval[string](t, tab, `String(window.__xss)`); v != "undefined" {
				t.Fatalf("%s: injected script ran (window.__xss = %s)", path, v)
			}
			if n := eval[int](t, tab, `document.querySelectorAll('main img, main script, main svg, main [onerror], main [onload]').length`); n != 0 {
				t.Fatalf("%s: %d elements injected from alert text", path, n)
			}
		}
		run(t, tab, chromedp.Navigate(s.URL+"/incidents/"+hid))
		waitFor(t, tab, `document.querySelectorAll('#facts li.event').length === 2`)
		if !eval[bool](t, tab, `Array.from(document.querySelectorAll('#facts li.event')).every(li => li.textContent.includes('<img src=x onerror="window.__xss=1">'))`) {
			t.Fatalf("the hostile summary is not shown as text on both events: %q", eval[string](t, tab, `document.getElementById('facts').textContent`))
		}
	})

	t.Run("accessible and readable on a phone", func(t *testing.T) {
		tab := newTab(t, browser)
		run(t, tab, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(incidentURL))
		// The incident resolved above: the page is connected, and does not claim to be live.
		waitFor(t, tab, `document.getElementById('live').dataset.state === 'resolved' && document.getElementById('live').textContent.indexOf('Live') < 0`)
		for what, cond := range map[string]string{
			"a language":                      `document.documentElement.lang === 'en'`,
			"landmarks":                       `['header', 'nav', 'main', 'footer'].every(t => document.querySelector(t))`,
			"a label on every control":        `Array.from(document.querySelectorAll('input:not([type=hidden]), textarea, select')).every(e => e.labels && e.labels.length > 0)`,
			"no sideways scrolling":           `document.documentElement.scrollWidth <= document.documentElement.clientWidth`,
			"a polite live region":            `document.getElementById('live').getAttribute('aria-live') === 'polite'`,
			"labelled sections":               `Array.from(document.querySelectorAll('main section')).every(s => document.getElementById(s.getAttribute('aria-labelledby')))`,
			"facts before context on a phone": `document.getElementById('facts').getBoundingClientRect().top < document.getElementById('context').getBoundingClientRect().top`,
		} {
			if !eval[bool](t, tab, cond) {
				t.Errorf("the page lacks %s: %s", what, cond)
			}
		}
		run(t, tab, chromedp.KeyEvent("\t"))
		if !eval[bool](t, tab, `document.activeElement.classList.contains('skip')`) {
			t.Fatal("the first Tab does not reach the skip link")
		}
		run(t, tab, chromedp.KeyEvent("\r"))
		waitFor(t, tab, `location.hash === '#main'`)
	})

	t.Run("a 5,000-event incident loads, goes live and takes new events", func(t *testing.T) {
		storm := amFixture(t, "10-storm-200-firing.json")
		base := time.Date(2026, 11, 23, 13, 19, 24, 0, time.UTC)
		var big string
		for i := range 25 {
			at := fmt.Appendf(nil, `"startsAt":"%s"`, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano))
			big = s.alert(t, reStartsAt.ReplaceAll(storm, at))
		}
		tab := newTab(t, browser)
		start := time.Now()
		run(t, tab, chromedp.Navigate(s.URL+"/incidents/"+big))
		waitFor(t, tab, `document.getElementById('live').dataset.state === 'live' && document.querySelectorAll('#facts li.event').length === 5000`)
		t.Logf("5,000 events: loaded, localised and live in %v (%s)", time.Since(start),
			eval[string](t, tab, `(function(){var n=performance.getEntriesByType('navigation')[0];return 'response '+Math.round(n.responseStart)+'-'+Math.round(n.responseEnd)+' ms, '+Math.round(n.transferSize/1024)+' KiB sent, DOM ready '+Math.round(n.domContentLoadedEventEnd)+' ms, load '+Math.round(n.loadEventEnd)+' ms, init '+Math.round(n.domContentLoadedEventEnd-n.domContentLoadedEventStart)+' ms, interactive '+Math.round(n.domInteractive)+' ms';})()`))
		at := fmt.Appendf(nil, `"startsAt":"%s"`, base.Add(time.Hour).Format(time.RFC3339Nano))
		s.alert(t, reStartsAt.ReplaceAll(storm, at))
		waitFor(t, tab, `document.querySelectorAll('#facts li.event').length === 5200`)
		if !eval[bool](t, tab, `(function(){var a=Array.from(document.querySelectorAll('#facts li.event')).map(e=>Number(e.dataset.at));return a.every((v,i)=>i===0||a[i-1]<=v);})()`) {
			t.Fatal("the events are not in time order after the live ones")
		}
	})

	t.Run("a note posted through the form appears as context", func(t *testing.T) {
		tab := newTab(t, browser)
		run(t, tab, chromedp.Navigate(incidentURL))
		waitFor(t, tab, `document.getElementById('live').dataset.state === 'resolved'`)
		notes := eval[int](t, tab, `document.querySelectorAll('#context li.event').length`)
		// Without the script the time field is read as UTC and labelled so; the script relabels it.
		if _, html := s.page(t, "/incidents/"+id); !strings.Contains(html, "(optional, UTC)") {
			t.Error("without JavaScript the time field is not labelled UTC")
		}
		if zone := eval[string](t, tab, `document.querySelector('label[for=note-at]').textContent`); !strings.Contains(zone, "your time zone") {
			t.Errorf("time label %q, want it relabelled to the viewer's zone", zone)
		}
		run(t, tab,
			chromedp.SetValue(chromedp.CSS("#note-role"), "Dana Okafor"),
			chromedp.SetValue(chromedp.CSS("#note-text"), "Rolled back the 13:20 deploy with ops-lead@example.com; the author forgot to run the canary."),
			chromedp.Click(chromedp.CSS("form.note button[type=submit]")),
		)
		waitFor(t, tab, `location.hash === '#context' && document.querySelectorAll('#context li.event').length === `+itoa(notes+1))
		txt := eval[string](t, tab, `document.getElementById('context').textContent`)
		if !strings.Contains(txt, "Rolled back the 13:20 deploy") || !strings.Contains(txt, "the primary on-call for checkout") || strings.Contains(txt, "Dana") {
			t.Fatalf("context shows %q, want the name typed as the role stored as her role", txt)
		}
		if strings.Contains(txt, "ops-lead@example.com") {
			t.Fatalf("the address reached the timeline: %q", txt)
		}
		if flags := eval[string](t, tab, `(document.querySelector('#context .flags') || {}).textContent || ''`); !strings.Contains(flags, "forgot to") {
			t.Fatalf("the blaming wording is not flagged on the page: %q", txt)
		}
		if n := eval[int](t, tab, `document.querySelectorAll('#facts li.event').length`); n != len(timelineEvents(t, s, id))-notes-1 {
			t.Fatalf("the note is among the facts (%d facts)", n)
		}
	})
}

// dropConnections closes every connection to the service on the server's side, as a restart or a
// proxy's timeout would, and forgets this process's idle ones to it (or the next webhook post
// would go out on a closed connection).
func dropConnections(s *pageService) {
	s.CloseClientConnections()
	http.DefaultClient.CloseIdleConnections()
}

func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The first Run opens the tab, which lives as long as that Run's context: no timeout here.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}

func run(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits until the JavaScript condition holds on the page. It polls from Go with
// Runtime.evaluate, which the page's Content-Security-Policy does not restrict (chromedp's Poll
// compiles the predicate in the page, which the policy forbids).
func waitFor(t *testing.T, tab context.Context, cond string) {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		ctx, cancel := context.WithTimeout(tab, browserWait)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			ctx, cancel := context.WithTimeout(tab, 2*time.Second)
			defer cancel()
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.textContent.slice(0, 3000) : ''`))
			t.Fatalf("waiting for %s: %v\npage: %s", cond, err, page)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func eval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// timelineEvents reads the incident's events through the JSON API.
func timelineEvents(t *testing.T, s *pageService, id string) []json.RawMessage {
	t.Helper()
	resp, body := s.page(t, "/api/v1/incidents/"+id+"/timeline")
	var tl struct {
		Events []json.RawMessage `json:"events"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &tl) != nil {
		t.Fatalf("timeline: %d %s", resp.StatusCode, body)
	}
	return tl.Events
}

// postNote adds a note through the JSON API (writes are open in these tests).
func postNote(t *testing.T, s *pageService, id, text string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"role": "communications lead", "text": text})
	resp, err := http.Post(s.URL+"/api/v1/incidents/"+id+"/notes", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("note: %d", resp.StatusCode)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// The "done when", in a real browser: a live incident from a real Alertmanager updates by
// itself as alerts fire and resolve, and a note typed with an address keeps a role and is flagged.
func TestBrowserLiveAlertmanagerIncident(t *testing.T) {
	browser := testenv.StartChromium(t)
	csrf := web.NewCSRF("")
	s := startPageService(t, web.Options{
		Notes: web.NoteOptions{CSRF: csrf},
		Pages: web.PageOptions{PollInterval: 100 * time.Millisecond, CSRFToken: csrf.Token},
	}, true, nil)
	am := testenv.StartAlertmanager(t, testenv.AlertmanagerConfig{
		Receivers: []testenv.WebhookReceiver{{Name: "sre", URL: s.URL + "/webhook/alertmanager", SendResolved: true}},
		GroupWait: time.Second, GroupInterval: time.Second,
	})
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	alert := func(instance string, end time.Time) testenv.Alert {
		return testenv.Alert{
			Labels:      map[string]string{"alertname": "BrowserLatency", "service": "checkout", "severity": "critical", "instance": instance},
			Annotations: map[string]string{"summary": "p99 latency above 2s on " + instance},
			StartsAt:    start, EndsAt: end,
		}
	}
	post := func(alerts ...testenv.Alert) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := am.PostAlerts(ctx, alerts...); err != nil {
			t.Fatal(err)
		}
	}
	post(alert("inst-1", time.Time{}))
	var id string
	deadline := time.Now().Add(browserWait)
	for id == "" {
		var list struct {
			Incidents []struct{ ID string } `json:"incidents"`
		}
		if resp, body := s.page(t, "/api/v1/incidents"); resp.StatusCode == http.StatusOK && json.Unmarshal([]byte(body), &list) == nil && len(list.Incidents) > 0 {
			id = list.Incidents[0].ID
		} else if time.Now().After(deadline) {
			t.Fatal("Alertmanager's notification did not open an incident")
		}
		time.Sleep(50 * time.Millisecond)
	}

	tab := newTab(t, browser)
	run(t, tab, chromedp.Navigate(s.URL+"/incidents/"+id))
	waitFor(t, tab, `document.getElementById('live').dataset.state === 'live' && document.querySelectorAll('#facts li.event').length === 1`)
	eval[bool](t, tab, `window.__sameDocument = true`)

	post(alert("inst-2", time.Time{}))
	waitFor(t, tab, `document.getElementById('facts').textContent.includes('p99 latency above 2s on inst-2')`)

	end := time.Now()
	post(alert("inst-1", end), alert("inst-2", end))
	waitFor(t, tab, `document.getElementById('incident-status').textContent === 'resolved'`)
	waitFor(t, tab, `Array.from(document.querySelectorAll('#facts .type')).filter(e => e.textContent === 'alert_resolved').length === 2`)
	if !eval[bool](t, tab, `window.__sameDocument === true && document.querySelector('#incident-resolved time') !== null`) {
		t.Fatal("the page reloaded, or does not show when the incident resolved")
	}

	run(t, tab,
		chromedp.SetValue(chromedp.CSS("#note-role"), "incident commander"),
		chromedp.SetValue(chromedp.CSS("#note-text"), "Paged dba-oncall@example.com at 13:40; it was human error, someone should have checked."),
		chromedp.Click(chromedp.CSS("form.note button[type=submit]")),
	)
	waitFor(t, tab, `document.querySelectorAll('#context li.event').length === 1 && document.querySelector('#context .flags')`)
	txt := eval[string](t, tab, `document.getElementById('context').textContent`)
	if strings.Contains(txt, "dba-oncall@example.com") || !strings.Contains(txt, "incident commander") {
		t.Fatalf("the note shows %q: want the role and no address", txt)
	}
	flags := eval[[]string](t, tab, `Array.from(document.querySelectorAll('#context .flags li')).map(li => li.textContent)`)
	var said []string
	for _, f := range flags {
		for _, phrase := range []string{"human error", "should have"} {
			// Each finding says its phrase once, and its suggestion apart from the message.
			if n := strings.Count(strings.ToLower(f), phrase); n > 0 {
				said = append(said, phrase)
				if n != 1 || !strings.Contains(f, ". Instead: ") {
					t.Errorf("finding reads %q", f)
				}
			}
		}
	}
	if !slices.Contains(said, "human error") || !slices.Contains(said, "should have") {
		t.Fatalf("flagged %q; want both blaming phrases", flags)
	}
	t.Logf("note as shown: %s", strings.Join(strings.Fields(txt), " "))
}
