package receiver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/timeline"
)

const pdSecret = "test-subscription-secret"

// sign computes X-PagerDuty-Signature as PagerDuty documents it: v1= hex HMAC-SHA256 of the raw body.
func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

func newPDHarness(t *testing.T, o PagerDutyOptions) *harness {
	t.Helper()
	hs := newHarness(t, Options{})
	if o.Secrets == nil && !o.AllowUnsigned {
		o.Secrets = []string{pdSecret}
	}
	o.Participants = hs.store
	hs.h.pd = o
	return hs
}

func (hs *harness) postPD(body []byte, hdr map[string]string) (deliveryResponse, error) {
	hs.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook/pagerduty", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "PagerDuty-Webhook/V3.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	err := hs.h.PagerDuty(echo.New().NewContext(req, rec))
	var resp deliveryResponse
	if err == nil {
		if rec.Code != http.StatusOK {
			hs.t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	}
	return resp, err
}

func (hs *harness) deliverPD(name string, body []byte, webhookID string) deliveryResponse {
	hs.t.Helper()
	r, err := hs.postPD(body, map[string]string{"X-PagerDuty-Signature": sign(pdSecret, body), "X-Webhook-Id": webhookID})
	if err != nil {
		hs.t.Fatalf("deliver %s: %v", name, err)
	}
	return r
}

func storyFiles(t *testing.T) []string {
	files, _ := filepath.Glob("testdata/pagerduty/story/[0-9]*.json")
	if len(files) != 14 {
		t.Fatalf("%d story files", len(files))
	}
	return files
}

func TestPagerDutySignatures(t *testing.T) {
	body := mustRead(t, "testdata/pagerduty/story/02-acknowledged.json")
	altered := bytes.Replace(body, []byte("acknowledged"), []byte("resolved"), 1)
	tests := []struct {
		name string
		sig  string
		body []byte
		ok   bool
	}{
		{"valid", sign(pdSecret, body), body, true},
		{"rotation: old and new secret", sign("old-secret", body) + "," + sign(pdSecret, body), body, true},
		{"uppercase hex", "v1=" + strings.ToUpper(strings.TrimPrefix(sign(pdSecret, body), "v1=")), body, true},
		{"wrong secret", sign("another-secret", body), body, false},
		{"missing header", "", body, false},
		{"malformed header", "sha256=abc", body, false},
		{"body altered after signing", sign(pdSecret, body), altered, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newPDHarness(t, PagerDutyOptions{Secrets: []string{"unrelated", pdSecret}})
			hdr := map[string]string{}
			if tt.sig != "" {
				hdr["X-PagerDuty-Signature"] = tt.sig
			}
			_, err := hs.postPD(tt.body, hdr)
			var he *echo.HTTPError
			switch {
			case tt.ok && err != nil:
				t.Fatalf("rejected: %v", err)
			case !tt.ok && (!errors.As(err, &he) || he.Code != http.StatusUnauthorized):
				t.Fatalf("error %v, want 401", err)
			case !tt.ok && len(hs.incidents()) != 0:
				t.Fatal("stored an unverified delivery")
			}
		})
	}
}

func TestPagerDutyPingUnknownAndV2(t *testing.T) {
	hs := newPDHarness(t, PagerDutyOptions{})
	for name, body := range map[string]string{
		"ping":    `{"event":{"id":"01PING","event_type":"pagey.ping","resource_type":"pagey","occurred_at":"2026-11-23T13:00:00Z","agent":null,"client":null,"data":{"message":"Hello from your friend Pagey!","type":"ping"}}}`,
		"unknown": `{"event":{"id":"01NEW","event_type":"incident.something_new","resource_type":"incident","occurred_at":"2026-11-23T13:00:00Z","agent":null,"client":null,"data":{"id":"Q1","type":"incident"}}}`,
		"service": string(mustRead(t, "testdata/pagerduty/service.updated.json")),
		"v2":      `{"messages":[{"id":"x","event":"incident.trigger"}]}`,
	} {
		r := hs.deliverPD(name, []byte(body), "")
		if r.Status == "ok" || r.Appended != 0 {
			t.Errorf("%s: %+v, want accepted and nothing recorded", name, r)
		}
	}
	if n := len(hs.incidents()); n != 0 {
		t.Fatalf("%d incidents from pings and unknown events", n)
	}
	if _, err := hs.postPD([]byte(`{"event":`), map[string]string{"X-PagerDuty-Signature": sign(pdSecret, []byte(`{"event":`))}); !errors.Is(err, timeline.ErrInvalid) {
		t.Fatalf("malformed body: %v, want invalid (400)", err)
	}
}

// The documented-shape story (escalation, reassignment, responders, priority change, notes, role
// assignment, resolve, reopen, resolve again), delivered with retries and out of order, after the
// Alertmanager notification that paged it: one incident, each event once, ordered by occurred_at,
// with roles in place of every person.
func TestPagerDutyStoryMergesWithAlertmanagerAndNamesNobody(t *testing.T) {
	hs := newPDHarness(t, PagerDutyOptions{})
	am, err := hs.post(mustRead(t, "testdata/alertmanager/v0.34.2/01-first-firing.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	files := storyFiles(t)
	type delivery struct {
		name, id string
		body     []byte
	}
	var ds []delivery
	for i, f := range files {
		ds = append(ds, delivery{filepath.Base(f), fmt.Sprintf("wh-%02d", i), mustRead(t, f)})
	}
	// Out of order and with retries (same X-Webhook-Id): a note arrives before the trigger (so it
	// opens an incident of its own that must be merged), the resolution note before the resolve.
	order := []int{7, 0, 1, 1, 2, 4, 3, 5, 6, 6, 8, 9, 11, 10, 12, 13, 10}
	for _, i := range order {
		hs.deliverPD(ds[i].name, ds[i].body, ds[i].id)
	}
	incs := hs.incidents()
	if len(incs) != 1 || incs[0].ID != am.IncidentID {
		t.Fatalf("incidents %+v, want only the Alertmanager one %s", incs, am.IncidentID)
	}
	inc := incs[0]
	if inc.Sources[timeline.SourceKeyPagerDutyIncidentID] != "Q2W5L8MZ1RBT4J" ||
		inc.Sources[timeline.SourceKeyAlertmanagerGroupKey] == "" {
		t.Fatalf("sources %v", inc.Sources)
	}
	if inc.Status != timeline.StatusResolved {
		t.Fatalf("status %s after resolve, reopen, resolve again", inc.Status)
	}
	evs := hs.events(inc.ID)
	if len(evs) != 15 { // the alert firing + 14 PagerDuty events
		t.Fatalf("%d events, want 15:\n%s", len(evs), strings.Join(factsOf(evs), "\n"))
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].At.Before(evs[i-1].At) {
			t.Fatalf("events out of order at %d", i)
		}
	}
	byType := map[timeline.Type][]timeline.Event{}
	for _, e := range evs {
		byType[e.Type] = append(byType[e.Type], e)
	}
	want := map[timeline.Type]string{
		timeline.TypePriorityUpdated:      "Priority changed by the primary on-call (level 1) for checkout from P2 to P1",
		timeline.TypeIncidentAcknowledged: "Acknowledged by the primary on-call (level 1) for checkout",
	}
	for typ, fact := range want {
		if len(byType[typ]) != 1 || byType[typ][0].Fact != fact {
			t.Errorf("%s: %v, want %q", typ, factsOf(byType[typ]), fact)
		}
	}
	if n := len(byType[timeline.TypeNote]); n != 2 {
		t.Errorf("%d notes, want 2", n)
	}
	for _, e := range append(byType[timeline.TypeNote], byType[timeline.TypeStatusUpdate]...) {
		if e.Kind != timeline.KindContext {
			t.Errorf("%s is %s, want context", e.Type, e.Kind)
		}
	}
	if r := byType[timeline.TypeIncidentReopened]; len(r) != 1 || !strings.Contains(r[0].Fact, "incident commander") {
		t.Errorf("reopen by the incident commander: %v", factsOf(r))
	}
	if r := byType[timeline.TypeIncidentTriggered]; len(r) != 1 || r[0].Role != "monitoring integration (Alertmanager)" {
		t.Errorf("trigger: %+v", r)
	}

	// Nobody is named: not in the timeline, the incident, or anywhere the API shows.
	incJSON, _ := json.Marshal(inc)
	es, _ := hs.store.Entries(context.Background(), inc.ID)
	var all bytes.Buffer
	all.Write(incJSON)
	for _, e := range es {
		all.Write(e.JSON)
	}
	for _, pii := range storyPII(t) {
		if bytes.Contains(bytes.ToLower(all.Bytes()), bytes.ToLower([]byte(pii))) {
			t.Errorf("%q appears in stored output", pii)
		}
	}
	// Who is who is kept apart, for the review's invitations.
	ps, err := hs.store.Participants(context.Background(), "Q2W5L8MZ1RBT4J")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 || ps["P7QHN3D"].Role != "incident commander" || ps["PJ2L5WS"].Email != "m.lindqvist@example.com" {
		t.Errorf("participants %+v", ps)
	}
}

func storyPII(t *testing.T) []string {
	var people struct {
		PII []string `json:"pii_strings"`
	}
	if err := json.Unmarshal(mustRead(t, "testdata/pagerduty/story/people.json"), &people); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range people.PII {
		if !strings.Contains(s, "/users/") { // URLs with user ids are not names
			out = append(out, s)
		}
	}
	if len(out) < 4 {
		t.Fatalf("people.json lists %v", people.PII)
	}
	return out
}

func TestScrubReplacesNamesWithRoles(t *testing.T) {
	book := newRoleBook(map[string]timeline.Participant{
		"P1": {ID: "P1", Name: "Dana Okafor", Role: "primary on-call", RoleRank: timeline.RankOnCall},
		"P2": {ID: "P2", Email: "m.lindqvist@example.com", Role: "incident commander", RoleRank: timeline.RankIncidentRole},
	}, RoleMap{}, t0())
	got := book.scrub("Dana Okafor paged Lindqvist; dana restarted it. Mail m.lindqvist@example.com or ops@example.org. Danae is someone else.")
	want := "the primary on-call paged the incident commander; the primary on-call restarted it. Mail the incident commander or (an e-mail address). Danae is someone else."
	if got != want {
		t.Fatalf("scrub:\n%s\nwant:\n%s", got, want)
	}
}

func t0() time.Time { return time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC) }

func TestPrintStoryForReview(t *testing.T) {
	if testing.Short() || !testing.Verbose() {
		t.Skip("prints the story's timeline with -v")
	}
	hs := newPDHarness(t, PagerDutyOptions{})
	hs.post(mustRead(t, "testdata/alertmanager/v0.34.2/01-first-firing.json"), nil)
	for i, f := range storyFiles(t) {
		hs.deliverPD(f, mustRead(t, f), fmt.Sprint(i))
	}
	for _, e := range hs.events(hs.incidents()[0].ID) {
		t.Logf("%s %-8s %-26s [%s] %s", e.At.Format("15:04:05"), e.Kind, e.Type, e.Role, e.Fact)
	}
}

func TestEscalationLevelsAndIncidentRoles(t *testing.T) {
	hs := newPDHarness(t, PagerDutyOptions{})
	for i, f := range storyFiles(t) {
		hs.deliverPD(f, mustRead(t, f), fmt.Sprint(i))
	}
	evs := hs.events(hs.incidents()[0].ID)
	want := map[timeline.Type]string{
		timeline.TypeIncidentEscalated: "Escalated within the Checkout On-Call policy from the primary on-call (level 1) for checkout to the secondary on-call (level 2) for checkout",
		timeline.TypeRoleAssigned:      "Incident role incident commander assigned to the secondary on-call (level 2) for checkout by a responder",
		timeline.TypeResponderReplied:  "Responder request accepted by the responder requested via the Database On-Call policy",
	}
	for _, e := range evs {
		if w, ok := want[e.Type]; ok && e.Fact != w {
			t.Errorf("%s: %q, want %q", e.Type, e.Fact, w)
		}
		if e.Type == timeline.TypeIncidentReopened && e.Role != "incident commander" {
			t.Errorf("reopened by %q, want the incident commander", e.Role)
		}
	}
}

func TestConfiguredRolesWin(t *testing.T) {
	hs := newPDHarness(t, PagerDutyOptions{Roles: RoleMap{Users: map[string]string{"PJ2L5WS": "engineering manager for checkout"}}})
	for i, f := range storyFiles(t)[:4] {
		hs.deliverPD(f, mustRead(t, f), fmt.Sprint(i))
	}
	for _, e := range hs.events(hs.incidents()[0].ID) {
		if e.Type == timeline.TypeIncidentReassigned && e.Role != "engineering manager for checkout" {
			t.Fatalf("reassigned by %q, want the configured role", e.Role)
		}
	}
}
