package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/postmortemd/postmortemd/timeline"
)

const (
	pdToken     = "test-token"
	storyPD     = "Q2W5L8MZ1RBT4J"
	checkoutEP  = "PEPC7K3"
	primary     = "primary on-call (level 1) for checkout"
	secondary   = "secondary on-call (level 2) for checkout"
	dbResponder = "responder requested via the Database On-Call policy"
)

// storyNames are the display names PagerDuty's API shows for the story's people (people.json); the
// fake answers with them so a test notices any that leaks.
var storyNames = map[string]string{
	"PXK4R2M": "Dana Okafor",
	"P7QHN3D": "Priya Raman",
	"PJ2L5WS": "m.lindqvist@example.com",
	"PM3V8YC": "Kenji Watanabe",
}

// fakePagerDuty answers the REST calls enrichment makes, in the shapes go-pagerduty v1.8.0 decodes
// (GET /oncalls, /incidents/{id}/notes, /incidents/{id}/log_entries, /users/{id}).
type fakePagerDuty struct {
	t  *testing.T
	mu sync.Mutex
	// levels are the escalation levels at which a user is on call (for any policy and time asked).
	levels map[string][]int
	notes  map[string][]map[string]any
	logs   map[string][]map[string]any
	// users are the people GET /users/{id} knows, by id; any other id is 404 (a deleted user).
	users map[string]storyPerson
	// pageSize is how many log entries one page holds, whatever limit was asked for.
	pageSize int
	// faults are the statuses a path answers with before it answers normally; 0 drops the connection.
	faults  map[string][]int
	hits    map[string]int
	oncalls []url.Values
}

func newFakePagerDuty(t *testing.T) *fakePagerDuty {
	return &fakePagerDuty{t: t, levels: map[string][]int{}, notes: map[string][]map[string]any{},
		logs: map[string][]map[string]any{}, users: map[string]storyPerson{}, pageSize: 3, faults: map[string][]int{}, hits: map[string]int{}}
}

func (f *fakePagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := r.URL.Path
	f.hits[path]++
	if r.Method != http.MethodGet || r.Header.Get("Authorization") != "Token token="+pdToken {
		f.t.Errorf("%s %s with Authorization %q", r.Method, path, r.Header.Get("Authorization"))
		pdError(w, http.StatusUnauthorized)
		return
	}
	if q := f.faults[path]; len(q) > 0 {
		f.faults[path] = q[1:]
		if q[0] == 0 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		pdError(w, q[0])
		return
	}
	q := r.URL.Query()
	id, rest, _ := strings.Cut(strings.TrimPrefix(path, "/incidents/"), "/")
	switch {
	case path == "/oncalls":
		f.oncalls = append(f.oncalls, q)
		var ocs []map[string]any
		for _, u := range q["user_ids[]"] {
			for _, l := range f.levels[u] {
				ocs = append(ocs, map[string]any{
					"user":              pdUser(u),
					"schedule":          map[string]any{"id": "PSCHED" + strconv.Itoa(l), "type": "schedule_reference", "summary": "Checkout level " + strconv.Itoa(l)},
					"escalation_policy": map[string]any{"id": q.Get("escalation_policy_ids[]"), "type": "escalation_policy_reference", "summary": "Checkout On-Call"},
					"escalation_level":  l,
					"start":             "2026-11-23T09:00:00Z",
					"end":               "2026-11-24T09:00:00Z",
				})
			}
		}
		pdJSON(w, map[string]any{"oncalls": ocs, "limit": 100, "offset": 0, "more": false, "total": nil})
	case strings.HasPrefix(path, "/incidents/") && rest == "notes":
		notes, ok := f.notes[id]
		if !ok {
			pdError(w, http.StatusNotFound)
			return
		}
		pdJSON(w, map[string]any{"notes": notes})
	case strings.HasPrefix(path, "/incidents/") && rest == "log_entries":
		entries, ok := f.logs[id]
		if !ok {
			pdError(w, http.StatusNotFound)
			return
		}
		if q.Get("time_zone") != "UTC" || q.Get("limit") != "100" {
			f.t.Errorf("log entries asked with %v, want time_zone=UTC and limit=100", q)
		}
		off, _ := strconv.Atoi(q.Get("offset"))
		end := min(off+f.pageSize, len(entries))
		off = min(off, end)
		pdJSON(w, map[string]any{"log_entries": entries[off:end], "limit": 100, "offset": off,
			"more": end < len(entries), "total": nil})
	case strings.HasPrefix(path, "/users/"):
		id := strings.TrimPrefix(path, "/users/")
		u, ok := f.users[id]
		if !ok {
			pdError(w, http.StatusNotFound)
			return
		}
		// A user as GET /users/{id} shows it (PagerDuty's API reference, "Get a user").
		pdJSON(w, map[string]any{"user": map[string]any{
			"id": id, "type": "user", "summary": u.Summary, "name": u.Summary, "email": u.Email,
			"time_zone": "Europe/Berlin", "color": "green", "role": "user", "description": "", "invitation_sent": false,
			"job_title": "", "self": "https://api.pagerduty.com/users/" + id, "html_url": "https://acme.pagerduty.com/users/" + id,
			"contact_methods":    []any{map[string]any{"id": "PC" + id, "type": "email_contact_method_reference", "summary": "Default"}},
			"notification_rules": []any{}, "teams": []any{},
		}})
	default:
		pdError(w, http.StatusNotFound)
	}
}

// storyPerson is one person of people.json.
type storyPerson struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
	Email   string `json:"email"`
}

// storyPeople are the story's people by id, with the addresses only GET /users/{id} tells.
func storyPeople(t *testing.T) map[string]storyPerson {
	t.Helper()
	var people struct {
		People []storyPerson `json:"people"`
	}
	if err := json.Unmarshal(mustRead(t, "testdata/pagerduty/story/people.json"), &people); err != nil {
		t.Fatal(err)
	}
	out := map[string]storyPerson{}
	for _, p := range people.People {
		out[p.ID] = p
	}
	if len(out) != 4 {
		t.Fatalf("people.json lists %d people, want 4", len(out))
	}
	return out
}

func (f *fakePagerDuty) hitsOf(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func pdJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// pdError answers as PagerDuty does: {"error": {"message", "code"}}.
func pdError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": http.StatusText(status), "code": 2000 + status}})
}

func pdUser(id string) map[string]any {
	return map[string]any{"id": id, "type": "user_reference", "summary": storyNames[id],
		"self": "https://api.pagerduty.com/users/" + id, "html_url": "https://acme.pagerduty.com/users/" + id}
}

func pdNote(id, user, at, content string) map[string]any {
	return map[string]any{"id": id, "user": pdUser(user), "content": content, "created_at": at}
}

// pdLogEntry is a log entry as GET /incidents/{id}/log_entries shows it; its summary names people,
// as PagerDuty's do.
func pdLogEntry(id, typ, at string, agent map[string]any, extra map[string]any) map[string]any {
	le := map[string]any{
		"id": id, "type": typ, "created_at": at, "agent": agent,
		"self":     "https://api.pagerduty.com/log_entries/" + id,
		"html_url": "https://acme.pagerduty.com/incidents/" + storyPD + "/log_entries/" + id,
		"summary":  strings.TrimSuffix(typ, "_log_entry") + " by " + fmt.Sprint(agent["summary"]),
		"service":  map[string]any{"id": "PCHK4S1", "type": "service_reference", "summary": "checkout"},
		"incident": map[string]any{"id": storyPD, "type": "incident_reference", "summary": "[#4217] HighLatency"},
		"channel":  map[string]any{"type": "website"},
		"teams":    []any{},
		"contexts": []any{},
	}
	for k, v := range extra {
		le[k] = v
	}
	return le
}

type enrichHarness struct {
	*harness
	fake *fakePagerDuty
	e    *PagerDutyEnricher
	srv  *httptest.Server
}

// newEnrichHarness is newPDHarness with an enricher wired to the handler and the fake PagerDuty.
func newEnrichHarness(t *testing.T, ro RoleMap, opts func(*EnricherOptions)) *enrichHarness {
	t.Helper()
	hs := newPDHarness(t, PagerDutyOptions{Roles: ro})
	fake := newFakePagerDuty(t)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	eh := &enrichHarness{harness: hs, fake: fake, srv: srv}
	eh.e = eh.newEnricher(ro, opts)
	hs.h.pd.Enricher = eh.e
	return eh
}

func (eh *enrichHarness) newEnricher(ro RoleMap, opts func(*EnricherOptions)) *PagerDutyEnricher {
	o := EnricherOptions{
		Client:           pagerduty.NewClient(pdToken, pagerduty.WithAPIEndpoint(eh.srv.URL)),
		Store:            eh.store,
		Roles:            ro,
		Metrics:          prometheus.NewRegistry(),
		Now:              func() time.Time { return time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) },
		RetryBase:        time.Millisecond,
		RetryMax:         4 * time.Millisecond,
		BackfillInterval: time.Hour,
	}
	if opts != nil {
		opts(&o)
	}
	return NewPagerDutyEnricher(o)
}

// run runs the enricher until the test ends.
func (eh *enrichHarness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eh.e.Run(ctx); close(done) }()
	eh.t.Cleanup(func() { cancel(); <-done })
}

// settle waits until every enqueued job is done.
func (eh *enrichHarness) settle() {
	eh.t.Helper()
	waitFor(eh.t, "enrichment jobs to finish", func() bool { return eh.e.pending.Load() == 0 })
}

// deliverStory delivers the story's events by number (1-14), all of them without numbers.
func (eh *enrichHarness) deliverStory(numbers ...int) {
	eh.t.Helper()
	files := storyFiles(eh.t)
	if len(numbers) == 0 {
		for i := range files {
			numbers = append(numbers, i+1)
		}
	}
	for _, n := range numbers {
		f := files[n-1]
		eh.deliverPD(filepath.Base(f), mustRead(eh.t, f), "wh-"+strconv.Itoa(n))
	}
}

func (eh *enrichHarness) incident() timeline.Incident {
	eh.t.Helper()
	incs := eh.incidents()
	if len(incs) != 1 {
		eh.t.Fatalf("%d incidents, want 1", len(incs))
	}
	return incs[0]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func byType(evs []timeline.Event) map[timeline.Type][]timeline.Event {
	out := map[timeline.Type][]timeline.Event{}
	for _, e := range evs {
		out[e.Type] = append(out[e.Type], e)
	}
	return out
}

// assertNamesNobody checks every stored incident and timeline entry (with refinements applied) for
// the names and addresses in people.json.
func assertNamesNobody(t *testing.T, hs *harness) {
	t.Helper()
	var all bytes.Buffer
	for _, inc := range hs.incidents() {
		b, _ := json.Marshal(inc)
		all.Write(b)
		es, err := hs.store.Entries(context.Background(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			all.Write(e.JSON)
		}
	}
	stored := bytes.ToLower(all.Bytes())
	for _, pii := range storyPII(t) {
		if bytes.Contains(stored, bytes.ToLower([]byte(pii))) {
			t.Errorf("%q appears in a stored timeline", pii)
		}
	}
}

// (a) On-call levels from PagerDuty's API replace roles inferred from payloads, never configured
// or incident roles, and only where they say something new.
func TestEnrichOnCallLevelsRefineRoles(t *testing.T) {
	type want struct{ role, fact string }
	tests := []struct {
		name   string
		roles  RoleMap
		levels map[string][]int
		story  []int
		want   map[timeline.Type]want
	}{{
		name: "the story: levels confirmed, the manager found on call at level 3, the incident commander stays",
		// PXK4R2M is on call at levels 1 and 3 (two rules of the policy): the lowest counts.
		levels: map[string][]int{"PXK4R2M": {3, 1}, "P7QHN3D": {2}, "PJ2L5WS": {3}},
		want: map[timeline.Type]want{
			timeline.TypeIncidentAcknowledged: {primary, "Acknowledged by the " + primary},
			timeline.TypeIncidentEscalated: {primary, "Escalated within the Checkout On-Call policy from the " + primary +
				" to the " + secondary},
			timeline.TypeIncidentReassigned: {"level-3 on-call for checkout", "Reassigned by the level-3 on-call for checkout from the " +
				secondary + " to the " + primary + " and the " + secondary},
			timeline.TypePriorityUpdated:  {primary, "Priority changed by the " + primary + " from P2 to P1"},
			timeline.TypeIncidentReopened: {"incident commander", "Reopened by the incident commander and assigned to the " + primary},
		},
	}, {
		name: "a level inferred wrongly is corrected, in one pass",
		// Alone, the escalation looks like a page of level 1; the API says level 2, and the actor
		// (a responder to the payload) was the primary.
		levels: map[string][]int{"PXK4R2M": {1}, "P7QHN3D": {2}},
		story:  []int{3},
		want: map[timeline.Type]want{
			timeline.TypeIncidentEscalated: {primary, "Escalated within the Checkout On-Call policy to the " + secondary},
		},
	}, {
		name:   "a role two people shared is not guessed apart, the actor's is refined",
		levels: map[string][]int{"PXK4R2M": {1}, "P7QHN3D": {2}, "PJ2L5WS": {3}},
		story:  []int{4},
		want: map[timeline.Type]want{
			timeline.TypeIncidentReassigned: {"level-3 on-call for checkout",
				"Reassigned by the level-3 on-call for checkout to the on-call responder via the Checkout On-Call policy (2 people)"},
		},
	}, {
		name:   "a configured role stays",
		roles:  RoleMap{Users: map[string]string{"PJ2L5WS": "engineering manager for checkout"}},
		levels: map[string][]int{"PXK4R2M": {1}, "P7QHN3D": {2}, "PJ2L5WS": {3}},
		story:  []int{1, 2, 3, 4},
		want: map[timeline.Type]want{
			timeline.TypeIncidentReassigned: {"engineering manager for checkout", "Reassigned by the engineering manager for checkout from the " +
				secondary + " to the " + primary + " and the " + secondary},
		},
	}, {
		name:   "not on call for the policy: the provisional role stays",
		levels: map[string][]int{},
		story:  []int{3},
		want: map[timeline.Type]want{
			timeline.TypeIncidentEscalated: {"a responder", "Escalated within the Checkout On-Call policy to the " + primary},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eh := newEnrichHarness(t, tt.roles, nil)
			eh.fake.levels = tt.levels
			eh.deliverStory(tt.story...)
			eh.run()
			eh.settle()
			got := byType(eh.events(eh.incident().ID))
			for typ, w := range tt.want {
				if len(got[typ]) != 1 {
					t.Fatalf("%s: %d events", typ, len(got[typ]))
				}
				if e := got[typ][0]; e.Role != timeline.Role(w.role) || e.Fact != w.fact {
					t.Errorf("%s:\n[%s] %s\nwant\n[%s] %s", typ, e.Role, e.Fact, w.role, w.fact)
				}
			}
			eh.fake.mu.Lock()
			queries := slices.Clone(eh.fake.oncalls)
			eh.fake.mu.Unlock()
			if len(queries) == 0 {
				t.Fatal("PagerDuty was not asked who was on call")
			}
			for _, q := range queries {
				since, err1 := time.Parse(time.RFC3339, q.Get("since"))
				until, err2 := time.Parse(time.RFC3339, q.Get("until"))
				if err1 != nil || err2 != nil || until.Sub(since) != time.Second ||
					q.Get("escalation_policy_ids[]") != checkoutEP || len(q["user_ids[]"]) != 1 {
					t.Errorf("on-call query %v: want one user, the incident's policy, a 1s RFC 3339 range", q)
				}
			}
			assertNamesNobody(t, eh.harness)
		})
	}
}

// The story's participants record after enrichment: on-call ranks where PagerDuty confirmed a
// level, the incident role kept.
func TestEnrichKeepsOnCallRolesInParticipants(t *testing.T) {
	eh := newEnrichHarness(t, RoleMap{}, nil)
	eh.fake.levels = map[string][]int{"PXK4R2M": {1}, "P7QHN3D": {2}, "PJ2L5WS": {3}}
	eh.deliverStory()
	eh.run()
	eh.settle()
	ps, err := eh.store.Participants(context.Background(), storyPD)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]timeline.Participant{
		"PXK4R2M": {Role: primary, RoleRank: timeline.RankOnCall, Level: 1},
		"P7QHN3D": {Role: "incident commander", RoleRank: timeline.RankIncidentRole, Level: 2},
		"PJ2L5WS": {Role: "level-3 on-call for checkout", RoleRank: timeline.RankOnCall, Level: 3},
		"PM3V8YC": {Role: dbResponder, RoleRank: timeline.RankPayload},
	}
	for id, w := range want {
		p := ps[id]
		if p.Role != w.Role || p.RoleRank != w.RoleRank || p.Level != w.Level {
			t.Errorf("%s: %q rank %d level %d, want %q rank %d level %d", id, p.Role, p.RoleRank, p.Level, w.Role, w.RoleRank, w.Level)
		}
	}
	if n := counterValue(t, eh.e.metrics.refinements.WithLabelValues("role")); n != 1 {
		t.Errorf("%v role refinements, want 1 (only the reassignment named someone differently)", n)
	}
}

func TestOnCallLevelsAreCachedPerFiveMinutes(t *testing.T) {
	eh := newEnrichHarness(t, RoleMap{}, nil)
	eh.fake.levels = map[string][]int{"PXK4R2M": {1}}
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 13, 31, 43, 418e6, time.UTC)
	for _, c := range []struct {
		user string
		at   time.Time
		hits int
	}{
		{"PXK4R2M", at, 1},
		{"PXK4R2M", at.Add(2 * time.Minute), 1}, // same five minutes
		{"PXK4R2M", at.Add(4 * time.Minute), 2}, // 13:35:43, the next five minutes
		{"P7QHN3D", at, 3},                      // not on call: remembered too
		{"P7QHN3D", at.Add(time.Minute), 3},
	} {
		lvl, err := eh.e.onCallLevel(ctx, checkoutEP, c.user, c.at)
		if err != nil {
			t.Fatal(err)
		}
		if want := len(eh.fake.levels[c.user]); lvl != want {
			t.Errorf("%s at %s: level %d, want %d", c.user, c.at.Format(time.TimeOnly), lvl, want)
		}
		if n := eh.fake.hitsOf("/oncalls"); n != c.hits {
			t.Errorf("%s at %s: %d requests, want %d", c.user, c.at.Format(time.TimeOnly), n, c.hits)
		}
	}
}

// (b) A trimmed note gets its full text from GET /incidents/{id}/notes, with names scrubbed.
func TestEnrichTrimmedNoteGetsItsFullScrubbedText(t *testing.T) {
	eh := newEnrichHarness(t, RoleMap{}, nil)
	body := mustRead(t, "testdata/pagerduty/story/08-annotated.json")
	body = bytes.Replace(body, []byte(`"trimmed": false`), []byte(`"trimmed": true`), 1)
	body = bytes.Replace(body, []byte("holding row locks on the orders table. Cancelled it; lock waits are dropping."),
		[]byte("holding row loc"), 1)
	full := "orders-db primary: a long-running schema migration started by Dana Okafor is holding row locks on the orders table. " +
		"Cancelled it after checking with Priya (priya.raman@example.com); Kenji will re-run it in small batches. " +
		"m.lindqvist@example.com has been told. " + strings.Repeat("Lock waits are dropping. ", 300)
	eh.fake.notes[storyPD] = []map[string]any{
		pdNote("PN4TQ8X", "PM3V8YC", "2026-11-23T14:01:22Z", full),
		pdNote("PX0THER", "PXK4R2M", "2026-11-23T14:02:00Z", "Another note by Dana Okafor"),
	}
	eh.fake.faults["/incidents/"+storyPD+"/notes"] = []int{http.StatusInternalServerError}
	eh.deliverStory(1, 2, 3, 4, 5, 6, 7)
	eh.deliverPD("08 trimmed", body, "wh-8")
	eh.run()
	eh.settle()

	notes := byType(eh.events(eh.incident().ID))[timeline.TypeNote]
	if len(notes) != 1 {
		t.Fatalf("%d notes", len(notes))
	}
	want := "orders-db primary: a long-running schema migration started by the " + primary + " is holding row locks on the orders table. " +
		"Cancelled it after checking with the " + secondary + " ((an e-mail address)); the " + dbResponder + " will re-run it in small batches. " +
		"a responder has been told. " + strings.Repeat("Lock waits are dropping. ", 300)
	if n := notes[0]; n.Fact != want || n.Role != dbResponder || n.Kind != timeline.KindContext {
		t.Errorf("note [%s, %s]:\n%s\nwant [%s, context]:\n%s", n.Role, n.Kind, n.Fact, dbResponder, want)
	}
	if n := eh.fake.hitsOf("/incidents/" + storyPD + "/notes"); n != 2 {
		t.Errorf("%d requests for notes, want 2 (a 500, then the notes)", n)
	}
	assertNamesNobody(t, eh.harness)
}

// (c) Log entries that no webhook brought are recorded once, with roles; those a webhook brought,
// and those an earlier pass (on any replica) recorded, are not recorded again.
func TestEnrichBackfillsMissedLogEntries(t *testing.T) {
	dana := pdUser("PXK4R2M")
	integration := map[string]any{"id": "PINT0AM", "type": "events_api_v2_inbound_integration_reference", "summary": "Alertmanager"}
	entries := []map[string]any{
		pdLogEntry("R01", "trigger_log_entry", "2026-11-23T13:31:43Z", integration, map[string]any{"channel": map[string]any{"type": "api"}}),
		pdLogEntry("R02", "notify_log_entry", "2026-11-23T13:31:44Z", nil, map[string]any{"user": dana,
			"channel": map[string]any{"type": "sms", "summary": "Dana Okafor's phone"}}),
		pdLogEntry("R03", "acknowledge_log_entry", "2026-11-23T13:34:09Z", dana, nil),
		pdLogEntry("R04", "escalate_log_entry", "2026-11-23T13:38:27Z", dana, map[string]any{"assignees": []any{pdUser("P7QHN3D")}}),
		pdLogEntry("R05", "annotate_log_entry", "2026-11-23T14:01:22Z", pdUser("PM3V8YC"), map[string]any{"channel": map[string]any{"type": "note"}}),
		pdLogEntry("R06", "annotate_log_entry", "2026-11-23T14:05:00Z", dana, map[string]any{"channel": map[string]any{"type": "note"}}),
	}
	resolve := pdLogEntry("R07", "resolve_log_entry", "2026-11-23T14:21:39Z", dana, nil)
	notes := []map[string]any{pdNote("PN4TQ8X", "PM3V8YC", "2026-11-23T14:01:22Z", "Cancelled the blocking migration after Dana Okafor agreed.")}
	recoveredFacts := []string{
		"Acknowledged by the " + primary + " (recovered from PagerDuty's log)",
		"Cancelled the blocking migration after the " + primary + " agreed.",
		"Note added by the " + primary + " (recovered from PagerDuty's log; its text is no longer among the incident's notes)",
	}

	t.Run("once, at start, then never again", func(t *testing.T) {
		eh := newEnrichHarness(t, RoleMap{}, nil)
		eh.fake.logs[storyPD] = slices.Clone(entries)
		eh.fake.notes[storyPD] = notes
		eh.deliverStory(1, 3) // triggered and escalated; the acknowledgement webhook never came
		backfilled := eh.e.metrics.backfilled
		func() {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { eh.e.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			waitFor(t, "the backfill at start", func() bool { return counterValue(t, backfilled) == 3 })
		}()
		if n := eh.fake.hitsOf("/incidents/" + storyPD + "/log_entries"); n != 2 {
			t.Errorf("%d log entry pages read, want 2", n)
		}
		evs := eh.events(eh.incident().ID)
		if got := factsOf(evs); len(got) != 5 || !containsAll(got, recoveredFacts) {
			t.Fatalf("timeline:\n%s", strings.Join(got, "\n"))
		}
		got := byType(evs)
		if ack := got[timeline.TypeIncidentAcknowledged][0]; ack.Role != primary || ack.Kind != timeline.KindFact ||
			!ack.At.Equal(time.Date(2026, 11, 23, 13, 34, 9, 0, time.UTC)) || !ack.RecordedAt.Equal(time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)) {
			t.Errorf("acknowledgement %+v", ack)
		}
		if n := got[timeline.TypeNote][0]; n.Kind != timeline.KindContext || n.Role != "a responder" {
			t.Errorf("recovered note [%s, %s]", n.Role, n.Kind)
		}
		// Acknowledged at 13:34:09, escalated (triggered again) at 13:38:27: the newer word wins.
		if s := eh.incident().Status; s != timeline.StatusOpen {
			t.Errorf("status %s, want open", s)
		}

		eh.e.backfill(context.Background())
		if n := len(eh.events(eh.incident().ID)); n != 5 {
			t.Fatalf("second pass: %d events, want 5", n)
		}

		eh.fake.mu.Lock()
		eh.fake.logs[storyPD] = append(eh.fake.logs[storyPD], resolve)
		eh.fake.mu.Unlock()
		eh.e.backfill(context.Background())
		inc := eh.incident()
		resolved := byType(eh.events(inc.ID))[timeline.TypeIncidentResolved]
		if inc.Status != timeline.StatusResolved || len(resolved) != 1 ||
			resolved[0].Fact != "Resolved in PagerDuty by the "+primary+" (recovered from PagerDuty's log)" {
			t.Fatalf("after the resolve entry: %s, %v", inc.Status, factsOf(resolved))
		}
		eh.e.backfill(context.Background()) // resolved: no longer read
		if n, err := eh.e.backfillIncident(context.Background(), storyPD); n != 0 || err != nil {
			t.Fatalf("read again: %d appended, %v", n, err)
		}
		// Late webhooks for what the log recorded are duplicates.
		for _, n := range []int{2, 11} {
			f := storyFiles(t)[n-1]
			if r := eh.deliverPD(f, mustRead(t, f), "late-"+strconv.Itoa(n)); r.Appended != 0 || r.Duplicates != 1 {
				t.Errorf("late webhook %s: %+v, want a duplicate", filepath.Base(f), r)
			}
		}
		if n := len(eh.events(inc.ID)); n != 6 {
			t.Fatalf("%d events, want 6:\n%s", n, strings.Join(factsOf(eh.events(inc.ID)), "\n"))
		}
		ps, err := eh.store.Participants(context.Background(), storyPD)
		if err != nil {
			t.Fatal(err)
		}
		if d := ps["PXK4R2M"].Duties; !slices.Contains(d, "acknowledger") || !slices.Contains(d, "resolver") {
			t.Errorf("duties %v", d)
		}
		if p := ps["PM3V8YC"]; p.Name != "Kenji Watanabe" || !slices.Contains(p.Duties, "note author") {
			t.Errorf("note author %+v", p)
		}
		assertNamesNobody(t, eh.harness)
	})

	t.Run("two replicas at once", func(t *testing.T) {
		eh := newEnrichHarness(t, RoleMap{}, nil)
		eh.fake.logs[storyPD] = append(slices.Clone(entries), resolve)
		eh.fake.notes[storyPD] = notes
		eh.deliverStory(1, 3)
		other := eh.newEnricher(RoleMap{}, nil)
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for _, e := range []*PagerDutyEnricher{eh.e, other, eh.e, other} {
			wg.Go(func() {
				n, err := e.backfillIncident(context.Background(), storyPD)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			})
		}
		wg.Wait()
		if n := len(eh.events(eh.incident().ID)); total != 4 || n != 6 {
			t.Fatalf("%d appended, %d events; want 4 and 6", total, n)
		}
	})
}

func containsAll(xs, want []string) bool {
	for _, w := range want {
		if !slices.Contains(xs, w) {
			return false
		}
	}
	return true
}

// (d) Rate limits, PagerDuty's 5xx and dropped connections are retried with backoff; other 4xx are
// not.
func TestEnrichRetries(t *testing.T) {
	tests := []struct {
		name   string
		faults []int
		hits   int
		ok     bool
	}{
		{"429 then 200", []int{http.StatusTooManyRequests}, 2, true},
		{"500 then 200", []int{http.StatusInternalServerError}, 2, true},
		{"503, 429, 502 then 200", []int{503, 429, 502}, 4, true},
		{"connection dropped then 200", []int{0}, 2, true},
		{"404 is not retried", []int{http.StatusNotFound}, 1, false},
		{"400 is not retried", []int{http.StatusBadRequest}, 1, false},
		{"403 is not retried", []int{http.StatusForbidden}, 1, false},
		{"gives up after MaxAttempts", []int{500, 500, 500, 500, 500}, 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eh := newEnrichHarness(t, RoleMap{}, func(o *EnricherOptions) { o.MaxAttempts = 4 })
			eh.fake.levels = map[string][]int{"PXK4R2M": {1}}
			eh.fake.faults["/oncalls"] = tt.faults
			start := time.Now()
			lvl, err := eh.e.onCallLevel(context.Background(), checkoutEP, "PXK4R2M", time.Now())
			if tt.ok && (err != nil || lvl != 1) {
				t.Fatalf("level %d, %v", lvl, err)
			}
			if !tt.ok && err == nil {
				t.Fatal("no error")
			}
			if n := eh.fake.hitsOf("/oncalls"); n != tt.hits {
				t.Errorf("%d requests, want %d", n, tt.hits)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %s with millisecond backoff", d)
			}
		})
	}

	t.Run("a job whose incident PagerDuty does not know fails at once", func(t *testing.T) {
		eh := newEnrichHarness(t, RoleMap{}, nil)
		eh.e.pending.Add(1)
		eh.e.process(context.Background(), EnrichJob{IncidentID: "20261123-x", PagerDutyIncident: "QGONE", EventID: "e1", TrimmedNoteID: "N1"})
		if n := eh.fake.hitsOf("/incidents/QGONE/notes"); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
		if n := counterValue(t, eh.e.metrics.jobs.WithLabelValues(jobFailed)); n != 1 {
			t.Errorf("%v failed jobs, want 1", n)
		}
	})

	t.Run("backoff doubles up to RetryMax, with jitter", func(t *testing.T) {
		e := NewPagerDutyEnricher(EnricherOptions{Client: pagerduty.NewClient(pdToken), Store: newHarness(t, Options{}).store,
			RetryBase: time.Second, RetryMax: 5 * time.Minute})
		for attempt, ceil := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 20: 5 * time.Minute} {
			for range 50 {
				if d := e.backoff(attempt); d < ceil/2 || d > ceil {
					t.Fatalf("attempt %d: %s, want within [%s, %s]", attempt, d, ceil/2, ceil)
				}
			}
		}
	})
}

func TestRetryable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{pagerduty.APIError{StatusCode: 429}, true},
		{fmt.Errorf("oncalls: %w", pagerduty.APIError{StatusCode: 502}), true},
		{pagerduty.APIError{StatusCode: 404}, false},
		{pagerduty.APIError{StatusCode: 401}, false},
		{fmt.Errorf("refine: %w: connection refused", timeline.ErrUnavailable), true},
		{fmt.Errorf("refine: %w", timeline.ErrNotFound), false},
		{errors.New("error calling the API endpoint: dial tcp: connection refused"), true},
		{&json.SyntaxError{}, false},
		{errors.New("JSON response does not have notes field"), false},
	} {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// (e) Webhook ingest never waits for enrichment.
func TestEnqueueNeverBlocks(t *testing.T) {
	eh := newEnrichHarness(t, RoleMap{}, func(o *EnricherOptions) { o.QueueSize = 2 })
	job := EnrichJob{IncidentID: "i", PagerDutyIncident: storyPD, EventID: "e", EscalationPolicyID: checkoutEP, Users: []string{"PXK4R2M"}}
	done := make(chan struct{})
	go func() {
		for range 500 {
			eh.e.Enqueue(job)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Enqueue blocked on a full queue")
	}
	if n := counterValue(t, eh.e.metrics.jobs.WithLabelValues(jobDropped)); n != 498 {
		t.Errorf("%v jobs dropped, want 498", n)
	}
	if n := eh.e.pending.Load(); n != 2 {
		t.Errorf("%d jobs pending, want 2", n)
	}
	// Jobs the REST API cannot add to are not queued at all.
	eh.e.Enqueue(EnrichJob{IncidentID: "i", PagerDutyIncident: storyPD, EventID: "e2"})
	if n := counterValue(t, eh.e.metrics.jobs.WithLabelValues(jobDropped)); n != 498 {
		t.Errorf("a job with nothing to do counted as dropped")
	}
}

// (f) Whatever PagerDuty's API says of people (names in on-call answers, log entry summaries,
// notes), the stored timeline names nobody.
func TestEnrichmentNamesNobody(t *testing.T) {
	eh := newEnrichHarness(t, RoleMap{}, nil)
	eh.fake.levels = map[string][]int{"PXK4R2M": {1}, "P7QHN3D": {2}, "PJ2L5WS": {3}, "PM3V8YC": {1}}
	trimmed := bytes.Replace(mustRead(t, "testdata/pagerduty/story/12-annotated-resolution-note.json"),
		[]byte(`"trimmed": false`), []byte(`"trimmed": true`), 1)
	eh.fake.notes[storyPD] = []map[string]any{
		pdNote("PR7ZK2D", "PXK4R2M", "2026-11-23T14:21:39Z", "Dana Okafor, Priya Raman, Kenji Watanabe and m.lindqvist@example.com "+
			"(dana.okafor@example.com, priya.raman@example.com, kenji.watanabe@example.com) agreed: the migration is re-run in batches."),
	}
	eh.fake.logs[storyPD] = []map[string]any{
		pdLogEntry("R1", "assign_log_entry", "2026-11-23T14:36:13Z", pdUser("P7QHN3D"),
			map[string]any{"assignees": []any{pdUser("PXK4R2M"), pdUser("PM3V8YC")}}),
	}
	for i, f := range storyFiles(t)[:11] {
		eh.deliverPD(f, mustRead(t, f), "wh-"+strconv.Itoa(i))
	}
	eh.deliverPD("12 trimmed", trimmed, "wh-12")
	eh.deliverStory(13) // reopened: the backfill reads the open incident's log
	eh.run()
	eh.settle()
	waitFor(t, "the backfill", func() bool { return counterValue(t, eh.e.metrics.backfilled) == 1 })
	got := byType(eh.events(eh.incident().ID))
	if r := got[timeline.TypeIncidentReassigned]; len(r) != 2 || r[1].Fact != "Reassigned by the incident commander to the "+primary+
		" and the "+dbResponder+" (recovered from PagerDuty's log)" {
		t.Errorf("reassignments %v", factsOf(r))
	}
	// The manager is "a responder" or, once the reassignment's job found them on call, "the level-3
	// on-call for checkout": jobs run concurrently.
	if n := got[timeline.TypeNote]; len(n) != 2 || !strings.HasPrefix(n[1].Fact, "the "+primary+", the incident commander, the "+dbResponder+" and ") ||
		!strings.Contains(n[1].Fact, " ((an e-mail address), (an e-mail address), (an e-mail address)) agreed: the migration is re-run in batches.") {
		t.Errorf("resolution note %v", factsOf(n))
	}
	assertNamesNobody(t, eh.harness)
}

func TestReplacePhrases(t *testing.T) {
	for _, tt := range []struct {
		in   string
		repl map[string]string
		want string
	}{
		{"Escalated to the primary on-call (level 1) for checkout by a responder",
			map[string]string{"the primary on-call (level 1) for checkout": "the secondary on-call (level 2) for checkout",
				"a responder": "the primary on-call (level 1) for checkout"},
			"Escalated to the secondary on-call (level 2) for checkout by the primary on-call (level 1) for checkout"},
		{"Paged the on-call for checkout-api and the on-call for checkout",
			map[string]string{"the on-call for checkout": "the primary"},
			"Paged the on-call for checkout-api and the primary"},
		{"Asked a responders' channel and a responder", map[string]string{"a responder": "X"}, "Asked a responders' channel and X"},
		{"nothing to do", map[string]string{}, "nothing to do"},
	} {
		if got := replacePhrases(tt.in, tt.repl); got != tt.want {
			t.Errorf("replacePhrases(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// assertNoPII fails for each name or address of people.json found in what.
func assertNoPII(t *testing.T, what, s string) {
	t.Helper()
	for _, pii := range storyPII(t) {
		if strings.Contains(strings.ToLower(s), strings.ToLower(pii)) {
			t.Errorf("%q appears in %s", pii, what)
		}
	}
}

// (g) Webhooks carry no addresses; enrichment reads them (GET /users/{id}) into the participants
// record, once per person, so the review can invite the assignee, the acknowledger, the incident
// commander and the responder. Nothing else learns them.
func TestEnrichReadsParticipantsAddressesForInvitations(t *testing.T) {
	var logs lockedBuffer
	eh := newEnrichHarness(t, RoleMap{}, func(o *EnricherOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	people := storyPeople(t)
	eh.fake.users = people
	eh.fake.levels = map[string][]int{"PXK4R2M": {1}, "P7QHN3D": {2}, "PJ2L5WS": {3}}
	eh.run() // a burst of webhooks while both workers run
	var responses strings.Builder
	for i, f := range storyFiles(t) {
		body := mustRead(t, f)
		req := httptest.NewRequest(http.MethodPost, "/webhook/pagerduty", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-PagerDuty-Signature", sign(pdSecret, body))
		req.Header.Set("X-Webhook-Id", "wh-"+strconv.Itoa(i))
		rec := httptest.NewRecorder()
		if err := eh.h.PagerDuty(echo.New().NewContext(req, rec)); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %v", filepath.Base(f), rec.Code, err)
		}
		responses.Write(rec.Body.Bytes())
	}
	eh.settle()

	ps, err := eh.store.Participants(context.Background(), storyPD)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 {
		t.Fatalf("participants %v, want the story's 4 people", slices.Collect(maps.Keys(ps)))
	}
	for _, duty := range []string{"assignee", "acknowledger", "incident commander", "responder"} {
		n := 0
		for id, p := range ps {
			if !slices.Contains(p.Duties, duty) {
				continue
			}
			n++
			if p.Email != people[id].Email {
				t.Errorf("%s %s: e-mail %q, want %q", duty, id, p.Email, people[id].Email)
			}
		}
		if n == 0 {
			t.Errorf("nobody holds the duty %q in %+v", duty, ps)
		}
	}
	for id, p := range ps {
		name := people[id].Summary
		if strings.Contains(name, "@") {
			name = "" // PagerDuty shows the address for a user without a name
		}
		if p.Email != people[id].Email || p.Name != name {
			t.Errorf("%s: %q <%s>, want %q <%s>", id, p.Name, p.Email, people[id].Summary, people[id].Email)
		}
	}
	if p := ps["P7QHN3D"]; p.Role != "incident commander" || p.RoleRank != timeline.RankIncidentRole {
		t.Errorf("the incident commander's role became %q rank %d", p.Role, p.RoleRank)
	}
	// One request per person in the burst; the manager's address was their display name.
	for id, want := range map[string]int{"PXK4R2M": 1, "P7QHN3D": 1, "PM3V8YC": 1, "PJ2L5WS": 0} {
		if n := eh.fake.hitsOf("/users/" + id); n != want {
			t.Errorf("GET /users/%s %d times, want %d", id, n, want)
		}
	}
	for outcome, want := range map[string]float64{userFetched: 3, userNotFound: 0, userFailed: 0} {
		if n := counterValue(t, eh.e.metrics.users.WithLabelValues(outcome)); n != want {
			t.Errorf("%v user look-ups %s, want %v", n, outcome, want)
		}
	}
	if n := counterValue(t, eh.e.metrics.jobs.WithLabelValues(jobFailed)); n != 0 {
		t.Errorf("%v jobs failed:\n%s", n, logs.String())
	}
	assertNamesNobody(t, eh.harness)
	assertNoPII(t, "a webhook response", responses.String())
	assertNoPII(t, "the enricher's log (debug level included)", logs.String())
}

// People PagerDuty names only in its log (no webhook brought the change) are looked up too.
func TestEnrichBackfillReadsAddresses(t *testing.T) {
	eh := newEnrichHarness(t, RoleMap{}, nil)
	people := storyPeople(t)
	eh.fake.users = people
	eh.fake.logs[storyPD] = []map[string]any{
		pdLogEntry("R1", "assign_log_entry", "2026-11-23T13:05:00Z", pdUser("PJ2L5WS"),
			map[string]any{"assignees": []any{pdUser("PM3V8YC")}}),
	}
	eh.deliverStory(1)
	eh.run()
	waitFor(t, "the backfilled responder's address", func() bool {
		ps, err := eh.store.Participants(context.Background(), storyPD)
		return err == nil && ps["PM3V8YC"].Email == people["PM3V8YC"].Email
	})
	assertNamesNobody(t, eh.harness)
}

// Look-ups are idempotent and bounded: retried as other calls are, a deleted user (404) neither
// retried nor asked again within the cache's TTL, a known address never asked for again.
func TestEnrichUserLookups(t *testing.T) {
	dana := storyPeople(t)["PXK4R2M"]
	tests := []struct {
		name     string
		deleted  bool
		faults   []int
		ids      []string
		calls    int
		wantErr  []bool // per call
		hits     int
		email    string
		outcomes map[string]float64
	}{
		{name: "answered: the address is saved", calls: 1, hits: 1, email: dana.Email,
			outcomes: map[string]float64{userFetched: 1}},
		{name: "a known address is not asked for again", calls: 3, hits: 1, email: dana.Email,
			outcomes: map[string]float64{userFetched: 1, userCached: 0}},
		{name: "429, 500 and a dropped connection are retried", faults: []int{429, 500, 0}, calls: 1, hits: 4,
			email: dana.Email, outcomes: map[string]float64{userFetched: 1}},
		{name: "a deleted user (404) is not retried, and remembered", deleted: true, calls: 3, hits: 1,
			outcomes: map[string]float64{userNotFound: 1, userCached: 2, userFailed: 0}},
		{name: "403 is not retried, and not remembered", faults: []int{403}, calls: 2, wantErr: []bool{true, false},
			hits: 2, email: dana.Email, outcomes: map[string]float64{userFailed: 1, userFetched: 1}},
		{name: "gives up after MaxAttempts", faults: []int{500, 500, 500, 500}, calls: 1, wantErr: []bool{true},
			hits: 4, outcomes: map[string]float64{userFailed: 1}},
		{name: "ids the record does not hold, or not shaped like PagerDuty's, are not asked for",
			ids: []string{"PNOBODY", "../oncalls", "P X"}, calls: 1, hits: 0,
			outcomes: map[string]float64{userFetched: 0, userNotFound: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eh := newEnrichHarness(t, RoleMap{}, func(o *EnricherOptions) { o.MaxAttempts = 4 })
			if !tt.deleted {
				eh.fake.users = map[string]storyPerson{dana.ID: dana}
			}
			eh.fake.faults["/users/"+dana.ID] = tt.faults
			ctx := context.Background()
			at := t0()
			seed := []timeline.Participant{{ID: dana.ID, Role: primary, RoleRank: timeline.RankOnCall, Level: 1,
				Duties: []string{"assignee"}, FirstSeen: at, LastSeen: at}, {ID: "../oncalls", FirstSeen: at}, {ID: "P X", FirstSeen: at}}
			if err := eh.store.SaveParticipants(ctx, storyPD, seed); err != nil {
				t.Fatal(err)
			}
			ids := tt.ids
			if ids == nil {
				ids = []string{dana.ID, dana.ID}
			}
			for i := range tt.calls {
				err := eh.e.completeAddresses(ctx, storyPD, ids)
				if want := i < len(tt.wantErr) && tt.wantErr[i]; (err != nil) != want {
					t.Errorf("call %d: error %v, want one: %v", i+1, err, want)
				}
			}
			total := 0
			for _, id := range slices.Compact(slices.Sorted(slices.Values(append([]string{dana.ID}, ids...)))) {
				total += eh.fake.hitsOf("/users/" + id)
			}
			if total != tt.hits {
				t.Errorf("%d requests, want %d", total, tt.hits)
			}
			for outcome, want := range tt.outcomes {
				if n := counterValue(t, eh.e.metrics.users.WithLabelValues(outcome)); n != want {
					t.Errorf("%v look-ups %s, want %v", n, outcome, want)
				}
			}
			ps, err := eh.store.Participants(ctx, storyPD)
			if err != nil {
				t.Fatal(err)
			}
			p := ps[dana.ID]
			if p.Email != tt.email {
				t.Errorf("e-mail %q, want %q", p.Email, tt.email)
			}
			if p.Role != primary || p.RoleRank != timeline.RankOnCall || p.Level != 1 || !p.FirstSeen.Equal(at) ||
				!slices.Equal(p.Duties, []string{"assignee"}) {
				t.Errorf("the look-up changed more than the address: %+v", p)
			}
			if len(ps) != 3 {
				t.Errorf("participants %v", slices.Collect(maps.Keys(ps)))
			}
		})
	}

	t.Run("a deleted user is asked about again once the TTL has passed", func(t *testing.T) {
		var mu sync.Mutex
		now := t0()
		eh := newEnrichHarness(t, RoleMap{}, func(o *EnricherOptions) {
			o.UserCacheTTL = 10 * time.Minute
			o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		})
		ctx := context.Background()
		if err := eh.store.SaveParticipants(ctx, storyPD, []timeline.Participant{{ID: dana.ID, FirstSeen: now}}); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			advance time.Duration
			hits    int
		}{{0, 1}, {9 * time.Minute, 1}, {2 * time.Minute, 2}, {time.Minute, 2}} {
			mu.Lock()
			now = now.Add(step.advance)
			mu.Unlock()
			if err := eh.e.completeAddresses(ctx, storyPD, []string{dana.ID}); err != nil {
				t.Fatal(err)
			}
			if n := eh.fake.hitsOf("/users/" + dana.ID); n != step.hits {
				t.Fatalf("after %s more: %d requests, want %d", step.advance, n, step.hits)
			}
		}
	})
}

// Workers asking for one user at once share a single request; the cache stays within its size.
func TestUserCache(t *testing.T) {
	t.Run("concurrent look-ups share one request", func(t *testing.T) {
		c := newUserCache(8, time.Minute, t0)
		gate := make(chan struct{})
		var fetches atomic.Int32
		var wg sync.WaitGroup
		var cached atomic.Int32
		for range 8 {
			wg.Go(func() {
				p, hit, err := c.get(context.Background(), "PXK4R2M", func(context.Context) (pdPerson, error) {
					fetches.Add(1)
					<-gate
					return pdPerson{name: "Dana Okafor", email: "dana.okafor@example.com"}, nil
				})
				if err != nil || p.email != "dana.okafor@example.com" {
					t.Errorf("%+v, %v", p, err)
				}
				if hit {
					cached.Add(1)
				}
			})
		}
		time.Sleep(50 * time.Millisecond) // let every worker reach the cache
		close(gate)
		wg.Wait()
		if n := fetches.Load(); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
		if n := cached.Load(); n != 7 {
			t.Errorf("%d answers from the cache, want 7", n)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		c := newUserCache(3, time.Minute, t0)
		for i := range 10 {
			_, _, _ = c.get(context.Background(), "P"+strconv.Itoa(i), func(context.Context) (pdPerson, error) {
				return pdPerson{email: "x@example.com"}, nil
			})
		}
		if len(c.m) > 3 {
			t.Errorf("%d users cached, want at most 3", len(c.m))
		}
		if _, hit, _ := c.get(context.Background(), "P9", nil); !hit {
			t.Error("the newest user was evicted")
		}
	})
}
