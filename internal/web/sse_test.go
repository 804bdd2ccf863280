package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/actions"
	"github.com/postmortemd/postmortemd/drafts/insights"
	"github.com/postmortemd/postmortemd/drafts/lint"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

const streamFixtures = "../../receiver/testdata/alertmanager/v0.25.0/"

func TestCursorAfter(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"10-0", "9-5", true}, // numeric, not lexical
		{"9-5", "10-0", false},
		{"1732300000000-1", "1732300000000-0", true},
		{"1732300000000-10", "1732300000000-9", true},
		{"1732300000000-0", "1732300000000-0", false},
		{"1732300000001", "1732300000000-7", true}, // no sequence counts as 0
		{"1-0", "", true},
		{"", "0-0", false},
	}
	for _, tt := range tests {
		t.Run(tt.a+" after "+tt.b, func(t *testing.T) {
			if got := cursorAfter(tt.a, tt.b); got != tt.want {
				t.Fatalf("cursorAfter(%q, %q) = %v", tt.a, tt.b, got)
			}
		})
	}
}

// streamService is the whole HTTP surface with fast polls, on an embedded Redis.
type streamService struct {
	*httptest.Server
	store    *redisstore.Store
	web      *Server
	shutdown chan struct{}
}

func newStreamService(t *testing.T) *streamService {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	store := redisstore.New(rdb, redisstore.Options{})
	reg := prometheus.NewRegistry()
	shutdown := make(chan struct{})
	s := New(Options{Store: store, Ready: store, Registry: reg,
		Webhooks: receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg)}),
		Notes:    NoteOptions{Annotator: store},
		Pages: PageOptions{PollInterval: 20 * time.Millisecond, Heartbeat: 150 * time.Millisecond,
			Retry: 100 * time.Millisecond, Shutdown: shutdown}})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &streamService{Server: srv, store: store, web: s, shutdown: shutdown}
}

func (s *streamService) alert(t *testing.T, fixture string) string {
	t.Helper()
	b, err := os.ReadFile(streamFixtures + fixture)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(s.URL+"/webhook/alertmanager", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		IncidentID string `json:"incident_id"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("webhook: %d %s", resp.StatusCode, body)
	}
	return out.IncidentID
}

func (s *streamService) cursors(t *testing.T, id string) []string {
	t.Helper()
	es, err := s.store.Entries(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Cursor
	}
	return out
}

// sseMessage is one message read off an event stream; a comment has only Comment set.
type sseMessage struct {
	ID, Event, Data, Comment string
}

// sseClient reads an event stream in the background.
type sseClient struct {
	resp   *http.Response
	msgs   chan sseMessage
	cancel context.CancelFunc
}

func openStream(t *testing.T, url string, hdr map[string]string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sseClient{resp: resp, msgs: make(chan sseMessage, 100), cancel: cancel}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		return c
	}
	go func() {
		defer close(c.msgs)
		r := bufio.NewReader(resp.Body)
		var m sseMessage
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "":
				if m != (sseMessage{}) {
					c.msgs <- m
				}
				m = sseMessage{}
			case strings.HasPrefix(line, ":"):
				m.Comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				m.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				m.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				m.Data += line[6:]
			}
		}
	}()
	return c
}

// next returns the next message that is not a heartbeat or a retry hint.
func (c *sseClient) next(t *testing.T) sseMessage {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatal("the stream ended")
			}
			if m.Comment != "" || (m.Event == "" && m.Data == "") {
				continue
			}
			return m
		case <-timeout:
			t.Fatal("no message within 5s")
		}
	}
}

func TestEventStream(t *testing.T) {
	s := newStreamService(t)
	id := s.alert(t, "01-first-firing.json")
	first := s.cursors(t, id)
	url := s.URL + "/api/v1/incidents/" + id + "/events"

	t.Run("without a position it starts from now", func(t *testing.T) {
		c := openStream(t, url, nil)
		if ct := c.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("Content-Type %q", ct)
		}
		if m := c.next(t); m.Event != "status" || !strings.Contains(m.Data, `"status":"open"`) {
			t.Fatalf("first message %+v, want the incident's status", m)
		}
		s.alert(t, "02-second-alert-joins.json")
		m := c.next(t)
		all := s.cursors(t, id)
		if m.Event != "fact" || m.ID != all[len(all)-1] || !strings.Contains(m.Data, `"type":"alert_firing"`) {
			t.Fatalf("got %+v, want the new event (cursor %s)", m, all[len(all)-1])
		}
		var ev timeline.Event
		if err := json.Unmarshal([]byte(m.Data), &ev); err != nil || ev.ID == "" {
			t.Fatalf("data is not an event: %v", err)
		}
		// The status is unchanged (open), but the event count moved: the page's count follows.
		m = c.next(t)
		if m.Event != "status" || !strings.Contains(m.Data, fmt.Sprintf(`"event_count":%d`, len(all))) {
			t.Fatalf("got %+v, want a status message with event_count %d", m, len(all))
		}
	})

	all := s.cursors(t, id)
	if len(all) < 2 {
		t.Fatalf("%d events, want 2", len(all))
	}
	for _, tt := range []struct {
		name string
		path string
		hdr  map[string]string
	}{
		{"Last-Event-ID resumes strictly after it", "", map[string]string{"Last-Event-ID": first[0]}},
		{"?last_event_id= resumes strictly after it", "?last_event_id=" + first[0], nil},
		{"the header wins over the query", "?last_event_id=" + all[len(all)-1], map[string]string{"Last-Event-ID": first[0]}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := openStream(t, url+tt.path, tt.hdr)
			if m := c.next(t); m.Event != "status" {
				t.Fatalf("first message %+v", m)
			}
			for _, want := range all[1:] {
				if m := c.next(t); m.ID != want {
					t.Fatalf("got event %s, want %s", m.ID, want)
				}
			}
			select { // nothing more, in particular not the event before the position
			case m := <-c.msgs:
				if m.ID != "" {
					t.Fatalf("extra event %+v", m)
				}
			case <-time.After(100 * time.Millisecond):
			}
		})
	}

	t.Run("two clients share one poll and each gets every event once", func(t *testing.T) {
		last := all[len(all)-1]
		c1 := openStream(t, url, map[string]string{"Last-Event-ID": last})
		c2 := openStream(t, url, map[string]string{"Last-Event-ID": last})
		c1.next(t)
		c2.next(t)
		if n := s.web.pages.hub.watched(); n != 1 {
			t.Fatalf("%d polls for one incident, want 1", n)
		}
		s.alert(t, "03-partial-recovery.json")
		for _, c := range []*sseClient{c1, c2} {
			seen := map[string]bool{}
			now := s.cursors(t, id)
			for range now[len(all):] {
				m := c.next(t)
				if seen[m.ID] || !cursorAfter(m.ID, last) {
					t.Fatalf("event %s twice or not after %s", m.ID, last)
				}
				seen[m.ID] = true
			}
		}
	})

	t.Run("a note arrives as context", func(t *testing.T) {
		c := openStream(t, url, nil)
		c.next(t)
		resp, err := http.Post(s.URL+"/api/v1/incidents/"+id+"/notes", "application/json",
			strings.NewReader(`{"role":"incident commander","text":"Rolled back the deploy."}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("note: %d", resp.StatusCode)
		}
		if m := c.next(t); m.Event != "context" || !strings.Contains(m.Data, `"kind":"context"`) || !strings.Contains(m.Data, "Rolled back the deploy.") {
			t.Fatalf("got %+v, want the note as context", m)
		}
	})

	t.Run("a status message when the incident resolves", func(t *testing.T) {
		c := openStream(t, url, nil)
		c.next(t)
		s.alert(t, "04-all-resolved.json")
		for {
			m := c.next(t)
			if m.Event == "status" {
				if !strings.Contains(m.Data, `"status":"resolved"`) || !strings.Contains(m.Data, `"resolved_at":"20`) {
					t.Fatalf("status %s", m.Data)
				}
				return
			}
		}
	})

	t.Run("heartbeats keep an idle stream open", func(t *testing.T) {
		c := openStream(t, url, nil)
		timeout := time.After(2 * time.Second)
		for {
			select {
			case m := <-c.msgs:
				if m.Comment == "heartbeat" {
					return
				}
			case <-timeout:
				t.Fatal("no heartbeat")
			}
		}
	})

	t.Run("errors before the stream starts", func(t *testing.T) {
		for path, want := range map[string]int{
			"/api/v1/incidents/nope/events":                       http.StatusNotFound,
			"/api/v1/incidents/" + id + "/events?last_event_id=x": http.StatusBadRequest,
		} {
			if c := openStream(t, s.URL+path, nil); c.resp.StatusCode != want {
				t.Errorf("%s: %d, want %d", path, c.resp.StatusCode, want)
			}
		}
	})

	t.Run("a client that leaves stops the poll", func(t *testing.T) {
		waitWatched(t, s.web, 0) // the earlier subtests' clients are gone
		c := openStream(t, url, nil)
		c.next(t)
		waitWatched(t, s.web, 1)
		c.cancel()
		waitWatched(t, s.web, 0)
	})

	t.Run("server shutdown ends every stream", func(t *testing.T) {
		c := openStream(t, url, nil)
		c.next(t)
		close(s.shutdown)
		timeout := time.After(2 * time.Second)
		for {
			select {
			case _, ok := <-c.msgs:
				if !ok {
					return
				}
			case <-timeout:
				t.Fatal("the stream is still open after shutdown")
			}
		}
	})
}

// A stream outlives the server's read and write timeouts (cmd/postmortemd sets both to 60s).
func TestEventStreamOutlivesServerTimeouts(t *testing.T) {
	s := newStreamService(t)
	id := s.alert(t, "01-first-firing.json")
	srv := httptest.NewUnstartedServer(s.web)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	c := openStream(t, srv.URL+"/api/v1/incidents/"+id+"/events", nil)
	c.next(t)
	beats := 0
	end := time.After(time.Second) // five times the timeouts
	for waiting := true; waiting; {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatalf("the stream ended after %d heartbeats", beats)
			}
			if m.Comment == "heartbeat" {
				beats++
			}
		case <-end:
			waiting = false
		}
	}
	s.alert(t, "02-second-alert-joins.json")
	if m := c.next(t); m.Event != "fact" {
		t.Fatalf("after the timeouts: %+v, want the new event", m)
	}
}

func waitWatched(t *testing.T, s *Server, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for s.pages.hub.watched() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d incidents polled, want %d", s.pages.hub.watched(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// referenceRow is the incident page's event row as html/template writes it; writeEventRows must
// write the same bytes.
// It takes the row's words as .W and the row as .R.
var referenceRow = template.Must(template.New("row").Funcs(template.FuncMap{"findingText": findingText,
	"own": func(w rowWords, f noteFlag) noteFlag {
		f.Message, f.Suggestion = ownFinding(i18n.For(w.Lang), f.Rule, f.Message, f.Suggestion)
		return f
	}}).Parse(`{{$w := .W}}{{with .R}}<li class="event" id="ev-{{.Cursor}}" data-id="{{.ID}}" data-cursor="{{.Cursor}}" data-at="{{.AtMillis}}">
<time datetime="{{.AtISO}}" title="{{.AtUTC}}">{{.AtUTC}}</time>
<span class="meta"><span class="source">{{.Source}}</span> · <span class="type">{{.Type}}</span>{{if .Role}} · <span class="role">{{.Role}}</span>{{end}}</span>
<p class="fact">{{.Fact}}</p>
{{if .Summary}}<p class="summary">{{.Summary}}</p>
{{end}}{{if .Flags}}<ul class="flags" aria-label="{{$w.Flagged}}">
{{range .Flags}}{{with own $w .}}<li>{{findingText .Match .Message}}{{if .Suggestion}} <span class="suggestion">{{$w.Instead}} {{.Suggestion}}</span>{{end}}</li>{{end}}
{{end}}</ul>
{{end}}{{if .Link}}<a class="source-link" href="{{.Link}}" rel="noopener noreferrer" target="_blank">{{$w.Source}}</a>
{{end}}</li>
{{end}}`))

// Every page template executes, also on the zero value of its data (nothing optional is assumed).
func TestEveryPageTemplateExecutes(t *testing.T) {
	data := map[string]any{
		"library":      libraryPage{Items: []reading{{}}},
		"insights":     insightsPage{Report: insights.Report{Incidents: insights.Incidents{Total: 1}}, Plots: []plotImage{{}}},
		"incidents":    incidentsPage{},
		"incident":     incidentPage{Review: &ReviewLink{}, Draft: &draftLink{}, NotesOn: true, CanWrite: true, HasCSRF: true},
		"postmortems":  postmortemsPage{},
		"postmortem":   postmortemPage{},
		"error":        errorPage{SignIn: true},
		"editor":       editorPage{CanWrite: true, Conflict: &editConflict{}, Problems: []pageProblem{{EditProblem: drafts.EditProblem{Blocking: true}}}, Findings: []pageFinding{{InMachineBlock: true}}},
		"review":       reviewPage{Info: ReviewInfo{Status: "scheduled", Roles: []string{"x"}}, CanWrite: true},
		"action-items": actionItemsPageData{Groups: []actionGroup{{Items: []pageItem{{}}}}},
	}
	if len(pageTemplates) != len(i18n.Langs) {
		t.Fatalf("templates for %d languages, want %d", len(pageTemplates), len(i18n.Langs))
	}
	for lang, pages := range pageTemplates {
		if len(data) != len(pages) {
			t.Fatalf("%s: %d templates, %d tested", lang, len(pages), len(data))
		}
		for name, tmpl := range pages {
			t.Run(string(lang)+"/"+name, func(t *testing.T) {
				var b strings.Builder
				if err := tmpl.Execute(&b, data[name]); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(b.String(), `<main id="main"`) || !strings.HasSuffix(strings.TrimSpace(b.String()), "</html>") {
					t.Fatalf("incomplete page:\n%s", b.String())
				}
				// Every text lookup found its message: an unknown id would show as "ui.…".
				if strings.Contains(b.String(), "ui.") {
					t.Errorf("a message id shows on the page:\n%s", b.String())
				}
			})
		}
	}
}

// An event whose attributes have an unexpected shape is still shown.
func TestEventRowToleratesOddAttributes(t *testing.T) {
	for _, attrs := range []string{`[1,2]`, `"text"`, `{"annotations":"x","flags":{"a":1}}`, `{"generator_url":7}`} {
		t.Run(attrs, func(t *testing.T) {
			row, kind, err := newEventRow(timeline.Entry{Cursor: "1-0",
				JSON: []byte(`{"id":"e1","at":"2026-11-23T13:28:22Z","kind":"context","role":"r","fact":"it happened","attributes":` + attrs + `}`)})
			if err != nil || kind != timeline.KindContext || row.Fact != "it happened" || row.ID != "e1" {
				t.Fatalf("%+v %s %v", row, kind, err)
			}
		})
	}
	if _, _, err := newEventRow(timeline.Entry{Cursor: "1-0", JSON: []byte(`{"id":`)}); err == nil {
		t.Fatal("a broken event decoded")
	}
}

func TestEventRowsAreWhatHTMLTemplateWrites(t *testing.T) {
	hostile := `<script>alert("x")</script> & 'quoted' <img src=x onerror=alert(1)>` + "\x00"
	tests := []struct {
		name string
		row  eventRow
	}{
		{"plain", eventRow{Cursor: "1732300000000-0", ID: "am-1", AtISO: "2026-11-23T13:28:22Z", AtUTC: "2026-11-23 13:28:22 UTC",
			AtMillis: 1732300000000, Source: "alertmanager", Type: "alert_firing", Role: "Alertmanager (receiver x)",
			Fact: "HighLatency started firing", Summary: "p99 above 2s", Link: "https://prometheus.example/graph?g0.expr=up&g0.tab=1"}},
		{"no role, summary or link", eventRow{Cursor: "1-0", ID: "x", Source: "manual", Type: "note", Fact: "text"}},
		{"hostile text everywhere", eventRow{Cursor: "2-0", ID: hostile, AtISO: hostile, AtUTC: hostile, Source: timeline.Source(hostile),
			Type: timeline.Type(hostile), Role: timeline.Role(hostile), Fact: hostile, Summary: hostile, Flags: []noteFlag{{Match: hostile, Message: hostile, Suggestion: hostile}, {Match: "forgot to", Message: "blames a person"}}}},
		{"postmortemd's own name findings, with and without a rule id", eventRow{Cursor: "4-0", Fact: "f", Flags: []noteFlag{
			{Rule: lint.RulePersonName, Message: lint.PersonNameMessage, Suggestion: lint.PersonNameSuggestion + "incident commander"},
			{Message: lint.PersonNameMessage, Suggestion: lint.PersonNameSuggestion + "db-team"},
			{Rule: lint.RuleEmailAddress, Message: lint.EmailAddressMessage, Suggestion: lint.EmailAddressSuggestion},
			{Rule: "person-name", Message: "a configured rule's own words", Suggestion: "theirs"}}}},
		{"hostile but well-formed link", eventRow{Cursor: "3-0", Fact: "f", Link: webURL(`https://x.example/a"onmouseover="alert(1)`)}},
	}
	// English rows read as they always have.
	if w := eventRowWords(i18n.For(i18n.English)); w != (rowWords{Lang: i18n.English, Flagged: "Wording flagged by the blameless guardrail", Instead: "Instead:", Source: "source"}) {
		t.Errorf("English row words %+v", w)
	}
	for _, lang := range i18n.Langs {
		w := eventRowWords(i18n.For(lang))
		for _, tt := range tests {
			t.Run(string(lang)+"/"+tt.name, func(t *testing.T) {
				var want strings.Builder
				if err := referenceRow.Execute(&want, map[string]any{"W": w, "R": tt.row}); err != nil {
					t.Fatal(err)
				}
				if got := string(writeEventRows([]eventRow{tt.row}, w)); got != want.String() {
					t.Fatalf("writeEventRows:\n%s\nhtml/template:\n%s", got, want.String())
				}
			})
		}
	}
	for _, bad := range []string{"javascript:alert(1)", "data:text/html,x", "//evil.example/x", "/relative"} {
		if webURL(bad) != "" {
			t.Errorf("webURL(%q) lets it through", bad)
		}
	}
}

func TestStatusChanged(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	base := timeline.Incident{Status: timeline.StatusResolved, ResolvedAt: &t0, EventCount: 3}
	for _, tt := range []struct {
		name string
		now  func(timeline.Incident) timeline.Incident
		want bool
	}{
		{"nothing changed", func(i timeline.Incident) timeline.Incident { t := t0; i.ResolvedAt = &t; return i }, false},
		{"status", func(i timeline.Incident) timeline.Incident { i.Status = timeline.StatusOpen; return i }, true},
		{"resolved time moved", func(i timeline.Incident) timeline.Incident { i.ResolvedAt = &t1; return i }, true},
		{"resolved time cleared", func(i timeline.Incident) timeline.Incident { i.ResolvedAt = nil; return i }, true},
		{"event count", func(i timeline.Incident) timeline.Incident { i.EventCount++; return i }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusChanged(base, tt.now(base)); got != tt.want {
				t.Errorf("statusChanged = %v, want %v", got, tt.want)
			}
		})
	}
}

// A flood of event streams is refused with a retryable 503 beyond MaxStreams, and a closed stream
// frees its place.
func TestEventStreamsAreBounded(t *testing.T) {
	s := newStreamService(t)
	s.web.pages.streams = make(chan struct{}, 1) // MaxStreams 1
	id := s.alert(t, "01-first-firing.json")
	url := s.URL + "/api/v1/incidents/" + id + "/events"
	first := openStream(t, url, nil)
	if first.resp.StatusCode != http.StatusOK {
		t.Fatalf("first stream: %d", first.resp.StatusCode)
	}
	second := openStream(t, url, nil)
	if second.resp.StatusCode != http.StatusServiceUnavailable || second.resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second stream: %d, Retry-After %q; want 503 with Retry-After", second.resp.StatusCode, second.resp.Header.Get("Retry-After"))
	}
	first.cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		third := openStream(t, url, nil)
		if third.resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the first closed: %d", third.resp.StatusCode)
		}
		third.cancel()
		time.Sleep(20 * time.Millisecond)
	}
}

// The row cache serves an unchanged entry from memory and decodes it again when its JSON changed
// (a refined role), so the page never shows a stale role.
func TestRowCacheFollowsRefinements(t *testing.T) {
	var rc rowCache
	entry := func(role string) timeline.Entry {
		return timeline.Entry{Cursor: "1732300000000-0", At: 1, JSON: []byte(`{"id":"e1","at":"2026-11-23T13:28:22Z","source":"pagerduty","type":"incident_acknowledged","kind":"fact","role":"` + role + `","fact":"Acknowledged by ` + role + `."}`)}
	}
	first := rc.decode("inc", []timeline.Entry{entry("a responder")})
	again := rc.decode("inc", []timeline.Entry{entry("a responder")})
	refined := rc.decode("inc", []timeline.Entry{entry("the primary on-call for checkout")})
	if first[0].err != nil || again[0].row.Role != "a responder" {
		t.Fatalf("first %+v, again %+v", first[0], again[0])
	}
	if refined[0].row.Role != "the primary on-call for checkout" {
		t.Fatalf("after the refinement the row says %q", refined[0].row.Role)
	}
	if other := rc.decode("other", []timeline.Entry{entry("x")}); other[0].row.Role != "x" {
		t.Fatalf("another incident's entry with the same cursor: %q", other[0].row.Role)
	}
}

// postmortemd's own name findings read in the reader's language, also those stored before flags
// carried their rule id; a configured rule's words, and every word for an English reader, stay
// as stored.
func TestOwnFindingInTheReadersLanguage(t *testing.T) {
	ja, en := i18n.For(i18n.Japanese), i18n.For(i18n.English)
	// The English catalogue says what the rules store, so both stay one text.
	if en.T("lint.person-name") != lint.PersonNameMessage || en.T("lint.email-address") != lint.EmailAddressMessage ||
		en.T("lint.suggestion.person-name", "Role", "x") != lint.PersonNameSuggestion+"x" || en.T("lint.suggestion.email-address") != lint.EmailAddressSuggestion {
		t.Error("en.yaml's lint messages differ from the words drafts/lint stores")
	}
	for _, tt := range []struct {
		name                  string
		rule, message, sugg   string
		wantMessage, wantSugg string
	}{
		{"person name", lint.RulePersonName, lint.PersonNameMessage, lint.PersonNameSuggestion + "incident commander",
			"人名が書かれています。記録にはロールを書きます。", "ロールで書く（インシデントコマンダー）"},
		{"person name stored without a rule id", "", lint.PersonNameMessage, lint.PersonNameSuggestion + "db-team",
			"人名が書かれています。記録にはロールを書きます。", "ロールで書く（db-team）"},
		{"e-mail address", lint.RuleEmailAddress, lint.EmailAddressMessage, lint.EmailAddressSuggestion,
			"メールアドレスで人を特定しています。", "ロールで書く（例:「一次オンコール」）"},
		{"a configured rule with the same id", lint.RulePersonName, "their words", "theirs", "their words", "theirs"},
		{"an action item without an owner", actions.RuleOwner, `action item "Move the queue": no owner`, en.T("actions.suggest.no_owner"),
			"アクションアイテム「Move the queue」: 担当者がいない", "担当するロールを書く（担当者のいない項目は忘れられる）"},
		{"an action item whose due date is not a date", actions.RuleDue, `action item "Fix it": "soon": due date "next week" is not a date (write YYYY-MM-DD)`,
			en.T("actions.suggest.due"), `アクションアイテム「Fix it": "soon」: 期日「next week」が日付ではない（YYYY-MM-DD で書く）`, "期日を YYYY-MM-DD で書く"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if m, s := ownFinding(ja, tt.rule, tt.message, tt.sugg); m != tt.wantMessage || s != tt.wantSugg {
				t.Errorf("Japanese: %q, %q; want %q, %q", m, s, tt.wantMessage, tt.wantSugg)
			}
			if m, s := ownFinding(en, tt.rule, tt.message, tt.sugg); m != tt.message || s != tt.sugg {
				t.Errorf("English: %q, %q; want them as stored", m, s)
			}
		})
	}
	var b strings.Builder
	b.WriteString(string(writeEventRows([]eventRow{{Cursor: "1-0", Fact: "f", Flags: []noteFlag{
		{Rule: lint.RulePersonName, Message: lint.PersonNameMessage, Suggestion: lint.PersonNameSuggestion + "db-team"}}}}, eventRowWords(ja))))
	if !strings.Contains(b.String(), "<li>人名が書かれています。記録にはロールを書きます。 <span class=\"suggestion\">言い換え案: ロールで書く（db-team）</span>") || strings.Contains(b.String(), "names a person") {
		t.Errorf("the Japanese row: %s", b.String())
	}
}
