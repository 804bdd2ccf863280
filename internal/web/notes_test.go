package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// noteService is the HTTP surface with notes wired as cmd/postmortemd wires them, on miniredis or,
// with a URL, on a real Redis.
type noteService struct {
	*httptest.Server
	mr   *miniredis.Miniredis
	csrf *web.CSRF
}

func newNoteService(t *testing.T, o web.NoteOptions, redisURL string, lib web.Postmortems) *noteService {
	t.Helper()
	return newLoggedNoteService(t, o, redisURL, lib, nil)
}

// newLoggedNoteService is newNoteService writing its logs to log.
func newLoggedNoteService(t *testing.T, o web.NoteOptions, redisURL string, lib web.Postmortems, log *slog.Logger) *noteService {
	t.Helper()
	ns := &noteService{}
	so := redisstore.Options{Prefix: fmt.Sprintf("{pmnotes-%d}", time.Now().UnixNano())}
	var store *redisstore.Store
	if redisURL == "" {
		ns.mr, store = newMiniStore(t, so)
	} else {
		opt, err := redis.ParseURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
		store = redisstore.New(rdb, so)
	}
	reg := prometheus.NewRegistry()
	rcv := receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg),
		PagerDuty: receiver.PagerDutyOptions{AllowUnsigned: true, Participants: store}})
	o.Annotator, o.Participants = store, store
	ns.csrf = web.NewCSRF(o.WriteToken)
	o.CSRF = ns.csrf
	ns.Server = httptest.NewServer(web.New(web.Options{Store: store, Ready: store, Webhooks: rcv, Registry: reg, Logger: log,
		Notes: o, Postmortems: web.PostmortemOptions{Library: lib}}))
	t.Cleanup(ns.Server.Close)
	return ns
}

// request sends a request with a body of the given type and headers; it never follows redirects.
func (s *noteService) request(t *testing.T, method, path, ctype, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// incident opens an incident from the captured Alertmanager notification and returns its id.
func (s *noteService) incident(t *testing.T, hdr map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(fixtures + "01-first-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	if resp, out := s.request(t, "POST", "/webhook/alertmanager", "application/json", string(b), nil); resp.StatusCode != 200 {
		t.Fatalf("webhook: %d %s", resp.StatusCode, out)
	}
	return s.onlyIncident(t, hdr)
}

func (s *noteService) onlyIncident(t *testing.T, hdr map[string]string) string {
	t.Helper()
	_, out := s.request(t, "GET", "/api/v1/incidents", "", "", hdr)
	var list struct {
		Incidents []struct {
			ID string `json:"id"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Incidents) != 1 {
		t.Fatalf("incidents: %v %s", err, out)
	}
	return list.Incidents[0].ID
}

// storedNote is a note as the API answers it.
type storedNote struct {
	ID         string `json:"id"`
	At         time.Time
	Source     string `json:"source"`
	Type       string `json:"type"`
	Kind       string `json:"kind"`
	Role       string `json:"role"`
	Fact       string `json:"fact"`
	Attributes struct {
		Flags []struct {
			Rule       string `json:"rule"`
			Severity   string `json:"severity"`
			Match      string `json:"match"`
			Suggestion string `json:"suggestion"`
		} `json:"flags"`
		NamesReplaced int `json:"names_replaced"`
	} `json:"attributes"`
}

func decodeStoredNote(t *testing.T, body string) storedNote {
	t.Helper()
	var n storedNote
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		t.Fatalf("note: %v: %s", err, body)
	}
	return n
}

// timelineOf returns the incident's events as the timeline API shows them.
func (s *noteService) timelineOf(t *testing.T, id string, hdr map[string]string) []storedNote {
	t.Helper()
	resp, out := s.request(t, "GET", "/api/v1/incidents/"+id+"/timeline", "", "", hdr)
	if resp.StatusCode != 200 {
		t.Fatalf("timeline: %d %s", resp.StatusCode, out)
	}
	var tl struct {
		Events []storedNote `json:"events"`
	}
	if err := json.Unmarshal([]byte(out), &tl); err != nil {
		t.Fatalf("timeline: %v %s", err, out)
	}
	return tl.Events
}

func jsonNote(role, text string) string {
	b, _ := json.Marshal(map[string]string{"role": role, "text": text})
	return string(b)
}

func TestNotes(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := newNoteService(t, web.NoteOptions{Now: func() time.Time { return now }}, "", nil)
	id := s.incident(t, nil)

	t.Run("a note is stored as context and shows on the timeline", func(t *testing.T) {
		resp, out := s.request(t, "POST", "/api/v1/incidents/"+id+"/notes", "application/json",
			`{"role":"primary on-call for checkout","text":"Saw the p99 spike on the dashboard first.","at":"2026-11-23T11:58:00+09:00"}`, nil)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
		n := decodeStoredNote(t, out)
		if n.Kind != "context" || n.Source != "manual" || n.Type != "note" || n.Role != "primary on-call for checkout" ||
			n.Fact != "Saw the p99 spike on the dashboard first." || !n.At.Equal(time.Date(2026, 11, 23, 2, 58, 0, 0, time.UTC)) {
			t.Fatalf("stored %+v", n)
		}
		if n.Attributes.Flags == nil || len(n.Attributes.Flags) != 0 {
			t.Errorf("flags %+v, want an empty list", n.Attributes.Flags)
		}
		var found bool
		for _, ev := range s.timelineOf(t, id, nil) {
			if ev.ID == n.ID {
				found = ev.Kind == "context" && ev.Fact == n.Fact
			} else if ev.Kind != "fact" {
				t.Errorf("an alert event is %q", ev.Kind)
			}
		}
		if !found {
			t.Error("the note is not on the timeline as context")
		}
	})
	t.Run("blaming wording is flagged and stored, not rejected", func(t *testing.T) {
		resp, out := s.request(t, "POST", "/api/v1/incidents/"+id+"/notes", "application/json",
			jsonNote("incident commander", "The secondary forgot to drain the node. 確認不足だった。"), nil)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
		n := decodeStoredNote(t, out)
		var rules []string
		for _, f := range n.Attributes.Flags {
			rules = append(rules, f.Rule)
			if f.Suggestion == "" {
				t.Errorf("flag %s has no suggestion", f.Rule)
			}
		}
		if strings.Join(rules, ",") != "forgot-to,ja-careless" {
			t.Errorf("flags %v, want forgot-to and ja-careless", rules)
		}
		if n.At != now {
			t.Errorf("at %v, want now (%v) when not given", n.At, now)
		}
		if !strings.Contains(metricsOf(t, s), `postmortemd_lint_findings_total{origin="note",rule="forgot-to"} 1`) {
			t.Error("finding not counted")
		}
	})
	t.Run("a retry with the same Idempotency-Key is a no-op", func(t *testing.T) {
		before := len(s.timelineOf(t, id, nil))
		hdr := map[string]string{"Idempotency-Key": "retry-1"}
		resp1, out1 := s.request(t, "POST", "/api/v1/incidents/"+id+"/notes", "application/json", jsonNote("scribe", "first"), hdr)
		resp2, out2 := s.request(t, "POST", "/api/v1/incidents/"+id+"/notes", "application/json", jsonNote("scribe", "first"), hdr)
		if resp1.StatusCode != 201 || resp2.StatusCode != 200 || resp2.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("first %d, retry %d (%q)", resp1.StatusCode, resp2.StatusCode, resp2.Header.Get("Idempotent-Replayed"))
		}
		if decodeStoredNote(t, out1).ID != decodeStoredNote(t, out2).ID {
			t.Errorf("retry answered another note: %s vs %s", out1, out2)
		}
		if after := len(s.timelineOf(t, id, nil)); after != before+1 {
			t.Errorf("timeline grew by %d, want 1", after-before)
		}
		if !strings.Contains(metricsOf(t, s), `postmortemd_notes_added_total{outcome="duplicate"} 1`) {
			t.Error("duplicate not counted")
		}
	})
	t.Run("an Idempotency-Key reused for other content is refused, not dropped", func(t *testing.T) {
		hdr := map[string]string{"Idempotency-Key": "reused-1"}
		path := "/api/v1/incidents/" + id + "/notes"
		if resp, out := s.request(t, "POST", path, "application/json", jsonNote("scribe", "first"), hdr); resp.StatusCode != 201 {
			t.Fatalf("first %d %s", resp.StatusCode, out)
		}
		for _, body := range []string{
			jsonNote("scribe", "second"),
			jsonNote("comms lead", "first"),
			`{"role":"scribe","text":"first","at":"2026-11-23T11:00:00Z"}`,
		} {
			resp, out := s.request(t, "POST", path, "application/json", body, hdr)
			var e struct{ Error string }
			if resp.StatusCode != http.StatusUnprocessableEntity || json.Unmarshal([]byte(out), &e) != nil || !strings.Contains(e.Error, "Idempotency-Key") {
				t.Errorf("%s: %d %s, want 422 naming Idempotency-Key", body, resp.StatusCode, out)
			}
		}
	})
	t.Run("a time more than 24h before the incident started is refused", func(t *testing.T) {
		// The captured alert started at 2026-11-23T13:28:22Z.
		path := "/api/v1/incidents/" + id + "/notes"
		resp, out := s.request(t, "POST", path, "application/json", `{"role":"r","text":"t","at":"2026-11-22T13:28:00Z"}`, nil)
		if resp.StatusCode != 400 || !strings.Contains(out, "at:") || !strings.Contains(out, "before the incident started") {
			t.Fatalf("%d %s, want 400 naming at", resp.StatusCode, out)
		}
		resp, out = s.request(t, "POST", path, "application/json", `{"role":"r","text":"what led up to it","at":"2026-11-22T13:29:00Z"}`, nil)
		if resp.StatusCode != 201 {
			t.Fatalf("23h59m before: %d %s, want 201", resp.StatusCode, out)
		}
	})

	long := strings.Repeat("x", web.MaxNoteTextChars+1)
	bad := []struct {
		name, path, ctype, body string
		status                  int
		says                    string
	}{
		{"unknown incident", "/api/v1/incidents/nope/notes", "application/json", jsonNote("r", "t"), 404, "not found"},
		{"empty text", "", "application/json", jsonNote("scribe", "  "), 400, "text"},
		{"oversized text", "", "application/json", jsonNote("scribe", long), 400, "at most 8192 characters"},
		{"empty role", "", "application/json", jsonNote(" ", "t"), 400, "role"},
		{"oversized role", "", "application/json", jsonNote(strings.Repeat("r", 201), "t"), 400, "role"},
		{"bad time", "", "application/json", `{"role":"r","text":"t","at":"yesterday"}`, 400, "RFC 3339"},
		{"future time", "", "application/json", `{"role":"r","text":"t","at":"2027-01-01T00:00:00Z"}`, 400, "future"},
		{"unknown field", "", "application/json", `{"role":"r","text":"t","name":"Dana"}`, 400, "unknown field"},
		{"not JSON", "", "application/json", `{"role":`, 400, "note"},
		{"other media type", "", "application/xml", "<note/>", 415, "application/json"},
		// A text/plain body is what another site's form can send: it needs the CSRF token.
		{"plain text", "", "text/plain", "hello", 403, "CSRF"},
		{"huge body", "", "application/json", `{"role":"r","text":"` + strings.Repeat("y", 200<<10) + `"}`, 413, "larger"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/api/v1/incidents/" + id + "/notes"
			}
			resp, out := s.request(t, "POST", path, tt.ctype, tt.body, nil)
			if resp.StatusCode != tt.status || !strings.Contains(out, tt.says) {
				t.Fatalf("%d %s; want %d saying %q", resp.StatusCode, out, tt.status, tt.says)
			}
		})
	}

	t.Run("store down: 503 with Retry-After", func(t *testing.T) {
		s.mr.Close()
		resp, out := s.request(t, "POST", "/api/v1/incidents/"+id+"/notes", "application/json", jsonNote("scribe", "t"), nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
	})
}

func metricsOf(t *testing.T, s *noteService) string {
	t.Helper()
	_, out := s.request(t, "GET", "/metrics", "", "", nil)
	return out
}

// A note typed with the names and addresses of the PagerDuty story's people is stored with their
// roles instead, in the text and in the role; no read of the incident shows them.
func TestNoteNamesBecomeRoles(t *testing.T) {
	s := newNoteService(t, web.NoteOptions{}, "", nil)
	files, _ := filepath.Glob("../../receiver/testdata/pagerduty/story/[0-9]*.json")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if resp, out := s.request(t, "POST", "/webhook/pagerduty", "application/json", string(b), nil); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", f, resp.StatusCode, out)
		}
	}
	var people struct {
		PII []string `json:"pii_strings"`
	}
	raw, _ := os.ReadFile("../../receiver/testdata/pagerduty/story/people.json")
	if err := json.Unmarshal(raw, &people); err != nil || len(people.PII) == 0 {
		t.Fatal("people.json", err)
	}
	id := s.onlyIncident(t, nil)
	text := "Timeline from memory: " + strings.Join(people.PII, ", ") + ". Then Dana paged Priya; kenji checked, cc someone@else.example."
	resp, out := s.request(t, "POST", "/api/v1/incidents/"+id+"/notes", "application/json", jsonNote("Priya Raman (IC)", text), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	n := decodeStoredNote(t, out)
	if n.Attributes.NamesReplaced < len(people.PII)+4 {
		t.Errorf("names replaced %d, want at least %d", n.Attributes.NamesReplaced, len(people.PII)+4)
	}
	if strings.Contains(n.Role, "Priya") || !strings.Contains(n.Role, "(IC)") {
		t.Errorf("role %q, want the name replaced and the rest kept", n.Role)
	}
	if !strings.Contains(n.Fact, "(an e-mail address)") {
		t.Errorf("unknown address kept: %q", n.Fact)
	}
	for _, path := range []string{"/api/v1/incidents/" + id, "/api/v1/incidents/" + id + "/timeline"} {
		_, body := s.request(t, "GET", path, "", "", nil)
		for _, pii := range append(people.PII, "Dana", "Priya", "Kenji") {
			if strings.Contains(strings.ToLower(body), strings.ToLower(pii)) {
				t.Errorf("GET %s shows %q", path, pii)
			}
		}
	}
}

// A configured people directory covers incidents PagerDuty never saw: on an Alertmanager-only
// incident a note naming someone in it is stored with their role, in the text and in the role, and
// the role a person typed is neither offered to others nor listed as involved.
func TestNotePeopleDirectory(t *testing.T) {
	dana := timeline.Participant{Name: "Dana Okafor", Email: "dana.okafor@example.com", Role: "primary on-call for checkout-api"}
	s := newNoteService(t, web.NoteOptions{People: []timeline.Participant{dana}}, "", nil)
	id := s.incident(t, nil)
	path := "/api/v1/incidents/" + id + "/notes"

	resp, out := s.request(t, "POST", path, "application/json", jsonNote("Okafor (IC)", "Dana forgot to restart the worker."), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	n := decodeStoredNote(t, out)
	if n.Fact != "the primary on-call for checkout-api forgot to restart the worker." {
		t.Errorf("fact %q, want the name replaced by her role", n.Fact)
	}
	if n.Role != "the primary on-call for checkout-api (IC)" {
		t.Errorf("role %q, want the name replaced by her role", n.Role)
	}
	if n.Attributes.NamesReplaced != 2 || len(n.Attributes.Flags) != 1 || n.Attributes.Flags[0].Rule != "forgot-to" {
		t.Errorf("attributes %+v, want 2 names replaced and forgot-to flagged", n.Attributes)
	}

	t.Run("the role is linted", func(t *testing.T) {
		resp, out := s.request(t, "POST", path, "application/json", jsonNote("the one who forgot to page", "Paged late."), nil)
		var got struct {
			Attributes struct {
				RoleFlags []struct{ Rule string } `json:"role_flags"`
			} `json:"attributes"`
		}
		if resp.StatusCode != 201 || json.Unmarshal([]byte(out), &got) != nil || len(got.Attributes.RoleFlags) != 1 ||
			got.Attributes.RoleFlags[0].Rule != "forgot-to" {
			t.Fatalf("%d %s, want the role flagged forgot-to", resp.StatusCode, out)
		}
	})
	t.Run("the role limit applies once names are replaced", func(t *testing.T) {
		role := strings.Repeat("r", web.MaxNoteRoleChars-5) + " Dana"
		resp, out := s.request(t, "POST", path, "application/json", jsonNote(role, "t"), nil)
		if resp.StatusCode != 400 || !strings.Contains(out, "role:") {
			t.Fatalf("%d %s, want 400 naming role", resp.StatusCode, out)
		}
	})
	t.Run("typed roles are not offered or listed", func(t *testing.T) {
		if resp, out := s.request(t, "POST", path, "application/json", jsonNote("Dana's buddy from lunch", "t"), nil); resp.StatusCode != 201 {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
		_, page := s.request(t, "GET", "/incidents/"+id, "", "", nil)
		datalist := between(t, page, `<datalist id="note-roles">`, `</datalist>`)
		involved := between(t, page, `<dt>Roles involved</dt>`, `</dd>`)
		if !strings.Contains(page, "buddy from lunch") {
			t.Error("the note is not on the page")
		}
		for _, part := range []string{datalist, involved} {
			if strings.Contains(part, "buddy from lunch") || strings.Contains(part, "(IC)") {
				t.Errorf("a typed role is offered or listed: %s", part)
			}
		}
		if !strings.Contains(datalist, "<option") {
			t.Errorf("datalist %s, want the systems' roles", datalist)
		}
		_, list := s.request(t, "GET", "/incidents", "", "", nil)
		if strings.Contains(list, "buddy from lunch") || strings.Contains(list, "(IC)") {
			t.Error("the incident list shows a typed role")
		}
	})
	for _, path := range []string{"/api/v1/incidents/" + id, "/api/v1/incidents/" + id + "/timeline"} {
		_, body := s.request(t, "GET", path, "", "", nil)
		if strings.Contains(body, "Dana") || strings.Contains(body, "Okafor") {
			t.Errorf("GET %s names her", path)
		}
	}
}

// The notes' log lines carry component once (notes), not the server's as well.
func TestNoteLogScope(t *testing.T) {
	var buf safeBuffer
	s := newLoggedNoteService(t, web.NoteOptions{}, "", nil, slog.New(slog.NewJSONHandler(&buf, nil)))
	id := s.incident(t, nil)
	if resp, out := s.request(t, "POST", "/api/v1/incidents/"+id+"/notes", "application/json", jsonNote("scribe", "t"), nil); resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	var line string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, `"note added"`) {
			line = l
		}
	}
	if line == "" || strings.Count(line, `"component"`) != 1 || !strings.Contains(line, `"component":"notes"`) {
		t.Fatalf("log line %q, want component=notes once", line)
	}
}

// safeBuffer is a bytes.Buffer the server's goroutines may write to while the test reads it.
type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// between returns what s holds between from and the next to.
func between(t *testing.T, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	if i < 0 {
		t.Fatalf("no %q in the page", from)
	}
	rest := s[i+len(from):]
	j := strings.Index(rest, to)
	if j < 0 {
		t.Fatalf("no %q after %q", to, from)
	}
	return rest[:j]
}

// csrfPair returns a CSRF cookie and the form token that goes with it, as a rendered page has them.
func csrfPair(t *testing.T, csrf *web.CSRF) (cookie, token string) {
	t.Helper()
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest("GET", "/incidents/x", nil), rec)
	token = csrf.Token(c)
	if again := csrf.Token(c); again != token {
		t.Fatalf("two tokens for one page: %q, %q", token, again)
	}
	ck := rec.Result().Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", ck)
	}
	return ck[0].Name + "=" + ck[0].Value, token
}

func TestWriteAccess(t *testing.T) {
	form := func(extra url.Values) string {
		v := url.Values{"role": {"scribe"}, "text": {"Context from the form."}}
		for k, vs := range extra {
			v[k] = vs
		}
		return v.Encode()
	}
	const formType = "application/x-www-form-urlencoded"

	t.Run("write token: 401 without, 401 wrong, 201 with", func(t *testing.T) {
		s := newNoteService(t, web.NoteOptions{WriteToken: "w-secret"}, "", nil)
		id := s.incident(t, nil)
		path := "/api/v1/incidents/" + id + "/notes"
		resp, out := s.request(t, "POST", path, "application/json", jsonNote("scribe", "t"), nil)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(out, "POSTMORTEMD_WRITE_TOKEN") {
			t.Fatalf("no token: %d %s", resp.StatusCode, out)
		}
		if resp, _ := s.request(t, "POST", path, "application/json", jsonNote("scribe", "t"), map[string]string{"Authorization": "Bearer nope"}); resp.StatusCode != 401 {
			t.Fatalf("wrong token: %d", resp.StatusCode)
		}
		if resp, out := s.request(t, "POST", path, "application/json", jsonNote("scribe", "t"), map[string]string{"Authorization": "Bearer w-secret"}); resp.StatusCode != 201 {
			t.Fatalf("bearer: %d %s", resp.StatusCode, out)
		}
		// Reading stays open without a read token.
		if resp, _ := s.request(t, "GET", "/api/v1/incidents", "", "", nil); resp.StatusCode != 200 {
			t.Fatalf("read: %d", resp.StatusCode)
		}
	})
	t.Run("no token configured: writes are open", func(t *testing.T) {
		s := newNoteService(t, web.NoteOptions{}, "", nil)
		if !(web.NoteOptions{}).WritesOpen() {
			t.Fatal("WritesOpen false without a token")
		}
		id := s.incident(t, nil)
		if resp, out := s.request(t, "POST", "/api/v1/incidents/"+id+"/notes", "application/json", jsonNote("scribe", "t"), nil); resp.StatusCode != 201 {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
	})
	t.Run("forms: same origin with the CSRF token; cross-site refused", func(t *testing.T) {
		s := newNoteService(t, web.NoteOptions{}, "", nil)
		id := s.incident(t, nil)
		path := "/api/v1/incidents/" + id + "/notes"
		cookie, token := csrfPair(t, s.csrf)
		host := strings.TrimPrefix(s.URL, "http://")
		tests := []struct {
			name   string
			body   string
			hdr    map[string]string
			status int
		}{
			{"cross-origin", form(url.Values{"csrf_token": {token}}), map[string]string{"Cookie": cookie, "Origin": "http://evil.example"}, 403},
			{"cross-site fetch metadata", form(url.Values{"csrf_token": {token}}), map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "cross-site"}, 403},
			{"no token", form(nil), map[string]string{"Cookie": cookie, "Origin": "http://" + host}, 403},
			{"no cookie", form(url.Values{"csrf_token": {token}}), map[string]string{"Origin": "http://" + host}, 403},
			{"forged token", form(url.Values{"csrf_token": {"AAAA"}}), map[string]string{"Cookie": cookie}, 403},
			{"same origin", form(url.Values{"csrf_token": {token}, "idempotency_key": {"form-1"}}), map[string]string{"Cookie": cookie, "Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, 303},
			{"same origin, resubmitted", form(url.Values{"csrf_token": {token}, "idempotency_key": {"form-1"}}), map[string]string{"Cookie": cookie, "Origin": "http://" + host}, 303},
			{"same key, other text", form(url.Values{"csrf_token": {token}, "idempotency_key": {"form-1"}, "text": {"Other context."}}), map[string]string{"Cookie": cookie, "Origin": "http://" + host}, 422},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, out := s.request(t, "POST", path, formType, tt.body, tt.hdr)
				if resp.StatusCode != tt.status {
					t.Fatalf("%d %s, want %d", resp.StatusCode, out, tt.status)
				}
				if tt.status == 303 && resp.Header.Get("Location") != "/incidents/"+id+"#context" {
					t.Errorf("Location %q", resp.Header.Get("Location"))
				}
				if tt.status == 422 && !strings.Contains(out, "Idempotency-Key") {
					t.Errorf("%s, want the error to name Idempotency-Key", out)
				}
			})
		}
		notes := 0
		for _, ev := range s.timelineOf(t, id, nil) {
			if ev.Kind == "context" {
				notes++
				if ev.Fact != "Context from the form." {
					t.Errorf("note %q", ev.Fact)
				}
			}
		}
		if notes != 1 {
			t.Errorf("%d notes stored, want the one same-origin post (its resubmission is a no-op)", notes)
		}
	})
	t.Run("authenticating proxy header", func(t *testing.T) {
		s := newNoteService(t, web.NoteOptions{WriteToken: "w", WriteAuthHeader: "X-Forwarded-User"}, "", nil)
		id := s.incident(t, nil)
		path := "/api/v1/incidents/" + id + "/notes"
		cookie, token := csrfPair(t, s.csrf)
		body := form(url.Values{"csrf_token": {token}})
		if resp, _ := s.request(t, "POST", path, formType, body, map[string]string{"Cookie": cookie}); resp.StatusCode != 401 {
			t.Fatalf("without the header: %d, want 401", resp.StatusCode)
		}
		if resp, _ := s.request(t, "POST", path, formType, body, map[string]string{"Cookie": cookie, "X-Forwarded-User": " "}); resp.StatusCode != 401 {
			t.Fatalf("empty header: %d, want 401", resp.StatusCode)
		}
		if resp, out := s.request(t, "POST", path, formType, form(nil), map[string]string{"Cookie": cookie, "X-Forwarded-User": "sso-user"}); resp.StatusCode != 403 {
			t.Fatalf("proxy-authenticated form without CSRF token: %d %s, want 403", resp.StatusCode, out)
		}
		if resp, out := s.request(t, "POST", path, formType, body, map[string]string{"Cookie": cookie, "X-Forwarded-User": "sso-user"}); resp.StatusCode != 303 {
			t.Fatalf("with the header: %d %s", resp.StatusCode, out)
		}
	})
	t.Run("a sign-in expires after 30 days", func(t *testing.T) {
		now := time.Now()
		clock := func() time.Time { return now }
		s := newNoteService(t, web.NoteOptions{ReadToken: "r", WriteToken: "w", Now: func() time.Time { return clock() }}, "", nil)
		resp, _ := s.request(t, "POST", "/api/v1/session", formType, "token=r&next=/incidents", nil)
		if len(resp.Cookies()) != 1 {
			t.Fatalf("no session cookie: %v", resp.Cookies())
		}
		cookie := map[string]string{"Cookie": resp.Cookies()[0].Name + "=" + resp.Cookies()[0].Value}
		if resp, _ := s.request(t, "GET", "/api/v1/incidents", "", "", cookie); resp.StatusCode != 200 {
			t.Fatalf("fresh session: %d", resp.StatusCode)
		}
		now = now.Add(31 * 24 * time.Hour)
		if resp, _ := s.request(t, "GET", "/api/v1/incidents", "", "", cookie); resp.StatusCode != 401 {
			t.Fatalf("31-day-old session: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("secure cookies behind a TLS proxy", func(t *testing.T) {
		s := newNoteService(t, web.NoteOptions{ReadToken: "r", WriteToken: "w", SecureCookies: true}, "", nil)
		resp, _ := s.request(t, "POST", "/api/v1/session", formType, "token=r&next=/incidents", nil)
		if resp.StatusCode != 303 || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
			t.Fatalf("%d %v: want a Secure session cookie", resp.StatusCode, resp.Cookies())
		}
	})
	t.Run("read token", func(t *testing.T) {
		s := newNoteService(t, web.NoteOptions{ReadToken: "r", WriteToken: "w"}, "", nil)
		read := map[string]string{"Authorization": "Bearer r"}
		id := s.incident(t, read)
		for _, tt := range []struct {
			name, path string
			hdr        map[string]string
			status     int
		}{
			{"API without token", "/api/v1/incidents", nil, 401},
			{"API with wrong token", "/api/v1/incidents/" + id, map[string]string{"Authorization": "Bearer x"}, 401},
			{"API with read token", "/api/v1/incidents/" + id, read, 200},
			{"API with write token", "/api/v1/incidents/" + id, map[string]string{"Authorization": "Bearer w"}, 200},
			{"health stays open", "/-/healthy", nil, 200},
			{"metrics stay open", "/metrics", nil, 200},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if resp, out := s.request(t, "GET", tt.path, "", "", tt.hdr); resp.StatusCode != tt.status {
					t.Fatalf("%d %s, want %d", resp.StatusCode, out, tt.status)
				}
			})
		}
		t.Run("a read token cannot write", func(t *testing.T) {
			if resp, _ := s.request(t, "POST", "/api/v1/incidents/"+id+"/notes", "application/json", jsonNote("scribe", "t"), read); resp.StatusCode != 401 {
				t.Fatalf("%d, want 401", resp.StatusCode)
			}
		})
		t.Run("signing in keeps the token in a cookie", func(t *testing.T) {
			resp, _ := s.request(t, "POST", "/api/v1/session", formType, url.Values{"token": {"r"}, "next": {"/incidents/" + id}}.Encode(), nil)
			if resp.StatusCode != 303 || resp.Header.Get("Location") != "/incidents/"+id || len(resp.Cookies()) != 1 {
				t.Fatalf("%d %q %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
			}
			ck := resp.Cookies()[0]
			if !ck.HttpOnly || ck.Value == "r" {
				t.Fatalf("session cookie %+v: want HttpOnly, not the token itself", ck)
			}
			if ck.Secure {
				t.Fatalf("session cookie %+v over plain HTTP without --secure-cookies: not Secure (the browser would drop it)", ck)
			}
			if resp, _ := s.request(t, "GET", "/api/v1/incidents", "", "", map[string]string{"Cookie": ck.Name + "=" + ck.Value}); resp.StatusCode != 200 {
				t.Fatalf("with the cookie: %d", resp.StatusCode)
			}
			if resp, _ := s.request(t, "POST", "/api/v1/session", formType, "token=wrong", nil); resp.StatusCode != 401 {
				t.Fatalf("wrong token: %d", resp.StatusCode)
			}
			for _, next := range []string{"//evil.example/", "/%09/evil.example/x", "/%0a/evil.example", "/\\evil.example", "https://evil.example/"} {
				if resp, _ := s.request(t, "POST", "/api/v1/session", formType, "token=r&next="+next, nil); resp.Header.Get("Location") != "/incidents" {
					t.Fatalf("open redirect with next=%s: %q", next, resp.Header.Get("Location"))
				}
			}
			if resp, _ := s.request(t, "POST", "/api/v1/session", formType, "token=r&next=/incidents/x%3Fy", nil); resp.Header.Get("Location") != "/incidents/x?y" {
				t.Fatalf("a local next: %q", resp.Header.Get("Location"))
			}
		})
	})
}

// On a real redis-server, through HTTP: a note posted twice with one key is stored once.
func TestNotesOnRedisServer(t *testing.T) {
	srv := testenv.StartRedis(t)
	s := newNoteService(t, web.NoteOptions{WriteToken: "w"}, srv.URL(), nil)
	id := s.incident(t, nil)
	hdr := map[string]string{"Authorization": "Bearer w", "Idempotency-Key": "k1"}
	for i, want := range []int{201, 200} {
		if resp, out := s.request(t, "POST", "/api/v1/incidents/"+id+"/notes", "application/json",
			jsonNote("database on-call", "Failover was manual; human error is not the cause."), hdr); resp.StatusCode != want {
			t.Fatalf("post %d: %d %s, want %d", i, resp.StatusCode, out, want)
		}
	}
	var notes []storedNote
	for _, ev := range s.timelineOf(t, id, nil) {
		if ev.Kind == "context" {
			notes = append(notes, ev)
		}
	}
	if len(notes) != 1 || len(notes[0].Attributes.Flags) != 1 || notes[0].Attributes.Flags[0].Rule != "human-error" {
		t.Fatalf("notes %+v, want one, flagged human-error", notes)
	}
}

// lintLibrary is a drafts directory with one postmortem.
type lintLibrary struct{ id, content string }

func (f lintLibrary) List(drafts.Query) ([]drafts.Summary, error) { return nil, nil }
func (f lintLibrary) Get(id string) (drafts.Document, error) {
	if id != f.id {
		return drafts.Document{}, fmt.Errorf("postmortem %q: %w", id, timeline.ErrNotFound)
	}
	return drafts.Document{Summary: drafts.Summary{ID: id}, Content: []byte(f.content)}, nil
}
func (f lintLibrary) Save(string, []byte, string) (drafts.Document, error) {
	return drafts.Document{}, timeline.ErrConflict
}

func TestLintAPI(t *testing.T) {
	draft := "---\n# postmortemd:begin attributes sha256:0123456789abcdef\nid: \"human error\"\n# postmortemd:end attributes\n---\n# Summary\nThe on-call forgot to drain.\n```\nhuman error\n```\n"
	s := newNoteService(t, web.NoteOptions{WriteToken: "w"}, "", lintLibrary{id: "inc-1", content: draft})
	type result struct {
		Findings []struct {
			Line   int    `json:"line"`
			Column int    `json:"column"`
			Rule   string `json:"rule"`
		} `json:"findings"`
		Warnings int `json:"warnings"`
		Hints    int `json:"hints"`
	}
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		want                            string // rule@line:col, comma-separated
	}{
		{"plain text", "POST", "/api/v1/lint", "text/plain", "ok\nHe should have known. ミスです", 200, "should-have@2:4,ja-miss@2:23"},
		{"markdown skips code", "POST", "/api/v1/lint", "text/markdown; charset=utf-8", "`blame` it\n\n```\nblame\n```\nblame", 200, "blame@6:1"},
		{"JSON", "POST", "/api/v1/lint", "application/json", `{"text":"careless","format":"text"}`, 200, "careless@1:1"},
		{"clean", "POST", "/api/v1/lint", "text/plain", "The alert fired at 10:02.", 200, ""},
		{"bad format", "POST", "/api/v1/lint", "application/json", `{"text":"x","format":"html"}`, 400, ""},
		{"unsupported type", "POST", "/api/v1/lint", "image/png", "x", 415, ""},
		{"a postmortem", "GET", "/api/v1/postmortems/inc-1/lint", "", "", 200, "forgot-to@7:13"},
		{"a candidate edit", "POST", "/api/v1/postmortems/inc-1/lint", "text/markdown", "# Summary\nnegligent", 200, "negligent@2:1"},
		{"unknown postmortem", "GET", "/api/v1/postmortems/nope/lint", "", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := s.request(t, tt.method, tt.path, tt.ctype, tt.body, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, out, tt.status)
			}
			if tt.status != 200 {
				return
			}
			var r result
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err, out)
			}
			var got []string
			for _, f := range r.Findings {
				got = append(got, fmt.Sprintf("%s@%d:%d", f.Rule, f.Line, f.Column))
			}
			if strings.Join(got, ",") != tt.want || r.Warnings+r.Hints != len(r.Findings) {
				t.Errorf("findings %v (%d warnings, %d hints), want %s", got, r.Warnings, r.Hints, tt.want)
			}
		})
	}
}

// Linting an incident's postmortem flags where it names the incident's people, without repeating
// the names.
func TestLintPostmortemNamesPeople(t *testing.T) {
	lib := &lintLibrary{}
	s := newNoteService(t, web.NoteOptions{}, "", lib)
	files, _ := filepath.Glob("../../receiver/testdata/pagerduty/story/[0-9]*.json")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if resp, out := s.request(t, "POST", "/webhook/pagerduty", "application/json", string(b), nil); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", f, resp.StatusCode, out)
		}
	}
	lib.id = s.onlyIncident(t, nil)
	lib.content = "# Summary\n\nDana Okafor acknowledged; mail kenji.watanabe@example.com.\n"
	resp, out := s.request(t, "GET", "/api/v1/postmortems/"+lib.id+"/lint", "", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	for _, pii := range []string{"Dana", "Okafor", "kenji"} {
		if strings.Contains(out, pii) {
			t.Errorf("lint answer repeats %q: %s", pii, out)
		}
	}
	var r struct {
		Findings []struct {
			Line, Column int
			Rule         string
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range r.Findings {
		got = append(got, fmt.Sprintf("%s@%d:%d", f.Rule, f.Line, f.Column))
	}
	if strings.Join(got, ",") != "person-name@3:1,email-address@3:32" {
		t.Errorf("findings %v", got)
	}
}
