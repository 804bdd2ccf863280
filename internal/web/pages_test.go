package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// pageService is the whole HTTP surface on an embedded Redis, with the pages' options.
type pageService struct {
	*httptest.Server
	mr *miniredis.Miniredis
}

func newPageService(tb testing.TB, o web.Options) *pageService {
	tb.Helper()
	return startPageService(tb, o, false, nil)
}

// startPageService starts the service; with notes, the store takes notes too; wrap, if set, wraps
// the handler (a test's fault injection).
func startPageService(tb testing.TB, o web.Options, notes bool, wrap func(http.Handler) http.Handler) *pageService {
	tb.Helper()
	mr, store := newMiniStore(tb, redisstore.Options{})
	reg := prometheus.NewRegistry()
	o.Store, o.Ready, o.Registry = store, store, reg
	o.Webhooks = receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg)})
	if notes {
		o.Notes.Annotator = store
	}
	var h http.Handler = web.New(o)
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &pageService{Server: srv, mr: mr}
}

// alert posts an Alertmanager notification and returns the incident it went to.
func (s *pageService) alert(tb testing.TB, body []byte) string {
	tb.Helper()
	resp, err := http.Post(s.URL+"/webhook/alertmanager", "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		IncidentID string `json:"incident_id"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.IncidentID == "" {
		tb.Fatalf("webhook: %d %s", resp.StatusCode, b)
	}
	return out.IncidentID
}

// page GETs a path and returns the response and its body.
func (s *pageService) page(tb testing.TB, path string, hdr ...string) (*http.Response, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func amFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(fixtures + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// hostileAlert is a captured firing notification of a new group whose alert carries markup and
// script in every free-text field a sender controls.
func hostileAlert(tb testing.TB, group string, n int) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(amFixture(tb, "01-first-firing.json"), &m); err != nil {
		tb.Fatal(err)
	}
	a := m["alerts"].([]any)[0].(map[string]any)
	a["annotations"] = map[string]any{
		"summary":     `<img src=x onerror="window.__xss=1">`,
		"description": `<script>window.__xss=2</script>`,
	}
	labels := a["labels"].(map[string]any)
	labels["alertname"] = `<svg onload="window.__xss=3">`
	labels["service"] = `"><script>window.__xss=4</script>`
	a["generatorURL"] = "javascript:window.__xss=5"
	a["fingerprint"] = fmt.Sprintf("%016x", n+0xbad)
	a["startsAt"] = time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
	m["groupKey"] = group
	delete(m, "commonLabels")
	delete(m, "commonAnnotations")
	b, _ := json.Marshal(m)
	return b
}

// fakeLibrary is a drafts directory in memory.
type fakeLibrary struct {
	mu    sync.Mutex
	docs  map[string]drafts.Document
	lastQ drafts.Query
}

func (l *fakeLibrary) List(q drafts.Query) ([]drafts.Summary, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastQ = q
	var out []drafts.Summary
	for _, d := range l.docs {
		if q.Status == "" || q.Status == d.Status {
			out = append(out, d.Summary)
		}
	}
	slices.SortFunc(out, func(a, b drafts.Summary) int { return strings.Compare(b.ID, a.ID) })
	return out, nil
}

func (l *fakeLibrary) Get(id string) (drafts.Document, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.docs[id]
	if !ok {
		return drafts.Document{}, fmt.Errorf("postmortem %q: %w", id, timeline.ErrNotFound)
	}
	return d, nil
}

func (l *fakeLibrary) Save(string, []byte, string) (drafts.Document, error) {
	return drafts.Document{}, timeline.ErrInvalid
}

const samplePostmortem = `---
# postmortemd:begin attributes
id: %s
title: "Checkout latency <b>spike</b>"
status: in-review
severity: critical
services: [checkout, payments]
# postmortemd:end attributes
tags: [latency]
recommended: true
---
# Summary

p99 latency of **checkout** rose above 2s.

| time | what |
| --- | --- |
| 13:28 | alert fired |

<script>alert("x")</script>

[click](javascript:alert(1)) and <img src=x onerror=alert(2)>
`

func TestIncidentPages(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	lib := &fakeLibrary{docs: map[string]drafts.Document{}}
	full := startPageService(t, web.Options{
		Postmortems: web.PostmortemOptions{Library: lib},
		Pages: web.PageOptions{
			Now:       func() time.Time { return at },
			CSRFToken: func(echo.Context) string { return "tok-123" },
			Review: func(_ context.Context, id string) (*web.ReviewLink, error) {
				return &web.ReviewLink{Start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}, nil
			},
		},
	}, true, nil)
	id := full.alert(t, amFixture(t, "01-first-firing.json"))
	full.alert(t, amFixture(t, "02-second-alert-joins.json"))
	lib.docs[id] = drafts.Document{Summary: drafts.Summary{ID: id, Title: "Checkout", Status: "draft"}}
	bare := newPageService(t, web.Options{})
	bareID := bare.alert(t, amFixture(t, "01-first-firing.json"))
	locked := startPageService(t, web.Options{Notes: web.NoteOptions{WriteToken: "w-token"}}, true, nil)
	lockedID := locked.alert(t, amFixture(t, "01-first-firing.json"))

	tests := []struct {
		name         string
		s            *pageService
		path         string
		want, reject []string
	}{
		{"list shows the open incident", full, "/incidents", []string{
			`href="/incidents/` + id + `"`, `status-open`, `>critical<`, `checkout`, `<h2 id="open-h">Open</h2>`,
			`<time datetime="2026-11-23T13:28:22Z"`,
			`<td class="roles">Alertmanager (receiver postmortemd)</td>`,
		}, []string{"HighLatency on inst-1"}},
		{"incident page: facts, roles, sources, draft, review, form", full, "/incidents/" + id, []string{
			`<ol id="facts"`, `p99 latency above 2s`, `Alertmanager (receiver postmortemd)`,
			`href="http://127.0.0.1:19093"`, `href="/postmortems/` + id + `">Draft postmortem</a>`,
			`href="/incidents/` + id + `/review.ics"`, `datetime="2026-11-24T10:00:00Z"`,
			`name="csrf_token" value="tok-123"`, `name="idempotency_key" value="`,
			`action="/api/v1/incidents/` + id + `/notes"`, `<datalist id="note-roles"><option value="Alertmanager (receiver postmortemd)">`,
			`data-stream="/api/v1/incidents/` + id + `/events"`, `title="2026-11-23 13:28:22 UTC"`,
			`<p id="context-empty" class="empty">No notes yet.</p>`,
		}, nil},
		{"incident page without draft, review or notes", bare, "/incidents/" + bareID, []string{`p99 latency above 2s`},
			[]string{"Draft postmortem", "review.ics", "csrf_token", `<form`}},
		{"notes need a token: a sign-in form instead of the note form", locked, "/incidents/" + lockedID, []string{
			`action="/api/v1/session"`, `name="next" value="/incidents/` + lockedID + `"`, `type="password"`,
		}, []string{`/notes"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.s.page(t, tt.path)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy %q does not restrict scripts", csp)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %s", w)
				}
			}
			for _, r := range tt.reject {
				if strings.Contains(body, r) {
					t.Errorf("page has %s", r)
				}
			}
		})
	}

	t.Run("the page resumes the stream after its last event", func(t *testing.T) {
		_, body := full.page(t, "/incidents/"+id)
		m := regexp.MustCompile(`data-last-event-id="([0-9]+-[0-9]+)"`).FindStringSubmatch(body)
		cursors := regexp.MustCompile(`data-cursor="([0-9]+-[0-9]+)"`).FindAllStringSubmatch(body, -1)
		if m == nil || len(cursors) != 2 {
			t.Fatalf("last event id %v, %d events rendered", m, len(cursors))
		}
		if m[1] != cursors[0][1] && m[1] != cursors[1][1] {
			t.Fatalf("last event id %s is none of the rendered events", m[1])
		}
	})
	t.Run("unknown incident", func(t *testing.T) {
		if resp, _ := full.page(t, "/incidents/nope"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d, want 404", resp.StatusCode)
		}
	})
}

// Text from senders is shown as text: markup in annotations, labels and titles never becomes
// elements, and a javascript: link never becomes a link.
func TestIncidentPageEscapesHostileText(t *testing.T) {
	s := newPageService(t, web.Options{})
	id := s.alert(t, hostileAlert(t, `{}:{alertname="hostile"}`, 1))
	for _, path := range []string{"/incidents", "/incidents/" + id} {
		t.Run(path, func(t *testing.T) {
			_, body := s.page(t, path)
			for _, bad := range []string{"<script>window", "<img src=x", "<svg onload", `"><script>`, `href="javascript:`} {
				if strings.Contains(body, bad) {
					t.Errorf("page contains %q unescaped", bad)
				}
			}
			if path != "/incidents" && !strings.Contains(body, "&lt;img src=x onerror=&#34;window.__xss=1&#34;&gt;") {
				t.Error("the hostile summary is not shown as text")
			}
		})
	}
}

func TestPostmortemPages(t *testing.T) {
	lib := &fakeLibrary{docs: map[string]drafts.Document{}}
	for _, d := range []struct{ id, status string }{{"2026-11-23-checkout", "in-review"}, {"2026-11-20-db", "published"}} {
		lib.docs[d.id] = drafts.Document{Summary: drafts.Summary{ID: d.id, Title: "PM " + d.id, Status: d.status,
			Services: []string{"checkout"}, Tags: []string{"latency"}},
			Content: fmt.Appendf(nil, samplePostmortem, d.id)}
	}
	s := newPageService(t, web.Options{Postmortems: web.PostmortemOptions{Library: lib}})
	none := newPageService(t, web.Options{})

	t.Run("a broken front matter and versions waiting beside are shown", func(t *testing.T) {
		d := lib.docs["2026-11-20-db"]
		d.Problem = "front matter does not parse at line 7: mapping values are not allowed in this context"
		d.PendingVersions = []string{"2026-11-20-db.regenerated-20261123T150000Z.md"}
		lib.docs["2026-11-20-db"] = d
		defer func() { d.Problem, d.PendingVersions = "", nil; lib.docs["2026-11-20-db"] = d }()
		_, body := s.page(t, "/postmortems/2026-11-20-db")
		for _, w := range []string{"does not parse at line 7", "2026-11-20-db.regenerated-20261123T150000Z.md", `role="alert"`} {
			if !strings.Contains(body, w) {
				t.Errorf("page lacks %q", w)
			}
		}
	})

	t.Run("list passes the filters and shows them back", func(t *testing.T) {
		resp, body := s.page(t, "/postmortems?status=in-review&service=checkout&severity=critical&tag=latency&recommended=yes&q=latency+spike")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		q := lib.lastQ
		if q.Status != "in-review" || q.Service != "checkout" || q.Severity != "critical" || q.Tag != "latency" ||
			q.Text != "latency spike" || q.Recommended == nil || !*q.Recommended {
			t.Fatalf("query %+v", q)
		}
		for _, w := range []string{`href="/postmortems/2026-11-23-checkout"`, `<option value="in-review" selected>`,
			`value="latency spike"`, `<option value="yes" selected>`} {
			if !strings.Contains(body, w) {
				t.Errorf("list lacks %s", w)
			}
		}
		if strings.Contains(body, "2026-11-20-db") {
			t.Error("list shows a postmortem the filter left out")
		}
	})
	t.Run("bad filter", func(t *testing.T) {
		if resp, _ := s.page(t, "/postmortems?recommended=maybe"); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	})
	t.Run("one postmortem: a header in words, Markdown as sanitised HTML", func(t *testing.T) {
		resp, body := s.page(t, "/postmortems/2026-11-23-checkout")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for _, w := range []string{
			`<dd id="pm-status">in-review · <strong>recommended reading</strong></dd>`, `<dt>Services</dt><dd>checkout, payments</dd>`,
			`<dt>Severity</dt><dd>critical</dd>`, `<dt>Tags</dt><dd>latency</dd>`, `<h1>PM 2026-11-23-checkout</h1>`,
			`<h1>Summary</h1>`, `<strong>checkout</strong>`, `<th>time</th>`, `<td>alert fired</td>`,
			// The page service has no such incident: the page says so rather than linking to a 404.
			`id="incident-gone"`, `href="/postmortems/2026-11-23-checkout/edit"`,
		} {
			if !strings.Contains(body, w) {
				t.Errorf("page lacks %s", w)
			}
		}
		for _, bad := range []string{"---", "postmortemd:begin", "<script>alert", "javascript:", "onerror", "null", "services:"} {
			if strings.Contains(body, bad) {
				t.Errorf("page contains %q", bad)
			}
		}
	})
	t.Run("front matter that is not YAML is shown as written", func(t *testing.T) {
		lib.docs["2026-11-21-broken"] = drafts.Document{Summary: drafts.Summary{ID: "2026-11-21-broken", Status: "draft"},
			Content: []byte("---\nid: %s\ntitle: [unclosed <b>\n---\n# Body\n")}
		_, body := s.page(t, "/postmortems/2026-11-21-broken")
		for _, w := range []string{"not valid YAML", "<pre class=\"front-matter\">id: %s\ntitle: [unclosed &lt;b&gt;</pre>", "<h1>Body</h1>"} {
			if !strings.Contains(body, w) {
				t.Errorf("page lacks %s", w)
			}
		}
	})
	for _, tt := range []struct {
		name string
		s    *pageService
		path string
	}{
		{"unknown postmortem", s, "/postmortems/nope"},
		{"no drafts directory: list", none, "/postmortems"},
		{"no drafts directory: one", none, "/postmortems/2026-11-23-checkout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if resp, _ := tt.s.page(t, tt.path); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want 404", resp.StatusCode)
			}
		})
	}
}

func TestAssetsAreCached(t *testing.T) {
	s := newPageService(t, web.Options{})
	_, page := s.page(t, "/incidents")
	for _, name := range []string{"style.css", "app.js"} {
		t.Run(name, func(t *testing.T) {
			m := regexp.MustCompile(`/assets/` + regexp.QuoteMeta(name) + `\?v=([0-9a-f]+)`).FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("the page does not link %s with a version", name)
			}
			resp, body := s.page(t, m[0])
			if resp.StatusCode != http.StatusOK || len(body) < 100 ||
				!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || resp.Header.Get("ETag") != `"`+m[1]+`"` {
				t.Fatalf("%d, %d bytes, Cache-Control %q, ETag %q", resp.StatusCode, len(body),
					resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
			}
			if resp, _ := s.page(t, m[0], "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
				t.Fatalf("revalidation: %d, want 304", resp.StatusCode)
			}
		})
	}
	if resp, _ := s.page(t, "/assets/nope.js"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown asset: %d", resp.StatusCode)
	}
}

// The incident page of a 5,000-event incident (25 storms of 200 alerts), read through the handler
// with the store's cache warm; gzip as a browser asks for it. "json-timeline" serves the same
// events from the JSON read API in the same run: the page's cost is reported as a ratio to it.
func BenchmarkIncidentPage5000(b *testing.B) {
	s := newPageService(b, web.Options{})
	post := stormPoster(b, s.Config.Handler)
	var id string
	for range 25 {
		id = post()
	}
	path := "/incidents/" + url.PathEscape(id)
	b.Run("json-timeline", func(b *testing.B) {
		for b.Loop() {
			rec := httptest.NewRecorder()
			s.Config.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/incidents/"+url.PathEscape(id)+"/timeline", nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			var size int
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Header.Set("Accept-Encoding", enc)
				s.Config.Handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != strings.TrimPrefix(enc, "identity") {
					b.Fatalf("status %d, Content-Encoding %q", rec.Code, rec.Header().Get("Content-Encoding"))
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size)/1024, "KiB/page")
		})
	}
}

// A browser gets errors as pages, and, when reading needs a token, a sign-in page that returns to
// where it was going; API clients keep getting JSON.
func TestBrowserErrorsArePages(t *testing.T) {
	open := newPageService(t, web.Options{})
	locked := newPageService(t, web.Options{Notes: web.NoteOptions{ReadToken: "r-token"}})
	const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, tc := range []struct {
		name     string
		s        *pageService
		path     string
		accept   string
		code     int
		ctype    string
		want     []string
		unwanted []string
	}{
		{"unknown incident, browser", open, "/incidents/nope", html, http.StatusNotFound, "text/html",
			[]string{"<h1>Not Found</h1>", `href="/incidents"`}, nil},
		{"unknown incident, API client", open, "/api/v1/incidents/nope", html, http.StatusNotFound, "application/json",
			[]string{`"status":404`}, nil},
		{"unknown incident page, curl", open, "/incidents/nope", "*/*", http.StatusNotFound, "application/json", nil, nil},
		{"reading needs a token: sign-in page", locked, "/incidents?status=open", html, http.StatusUnauthorized, "text/html",
			[]string{`action="/api/v1/session"`, `name="next" value="/incidents?status=open"`, `type="password"`},
			[]string{"r-token"}},
		{"its stylesheet is served to the sign-in page", locked, "", html, http.StatusOK, "text/css", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				_, page := tc.s.page(t, "/incidents", "Authorization", "Bearer r-token")
				m := regexp.MustCompile(`href="(/assets/style\.css[^"]*)"`).FindStringSubmatch(page)
				if m == nil {
					t.Fatalf("no stylesheet link in %.300s", page)
				}
				path = strings.ReplaceAll(m[1], "&amp;", "&")
			}
			resp, body := tc.s.page(t, path, "Accept", tc.accept)
			if resp.StatusCode != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
				t.Fatalf("%d %s, want %d %s:\n%.400s", resp.StatusCode, resp.Header.Get("Content-Type"), tc.code, tc.ctype, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, u := range tc.unwanted {
				if strings.Contains(body, u) {
					t.Errorf("page has %q", u)
				}
			}
		})
	}
}
