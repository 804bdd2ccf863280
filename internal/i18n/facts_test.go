package i18n_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
)

const testdata = "../../receiver/testdata/"

// recorder keeps the events of every batch the receiver records, in order.
type recorder struct {
	mu     sync.Mutex
	events []timeline.Event
}

func (r *recorder) Record(_ context.Context, b timeline.Batch) (timeline.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range b.Occurrences {
		r.events = append(r.events, o.Event)
	}
	for _, k := range b.Events {
		r.events = append(r.events, k.Event)
	}
	if b.Resolve {
		r.events = append(r.events, b.Resolution)
	}
	return timeline.Result{IncidentID: "inc-1", Appended: 1}, nil
}

// receive posts body to the real receiver and returns the events it recorded.
func receive(t *testing.T, path string, body []byte) []timeline.Event {
	t.Helper()
	rec := &recorder{}
	h := receiver.New(receiver.Options{Store: rec, PagerDuty: receiver.PagerDutyOptions{AllowUnsigned: true},
		Now: func() time.Time { return time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC) }})
	e := echo.New()
	e.POST("/webhook/alertmanager", h.Alertmanager)
	e.POST("/webhook/pagerduty", h.PagerDuty)
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, w.Code, w.Body)
	}
	return rec.events
}

// pdDataFiles maps every PagerDuty event type the receiver records to the documented data object
// PagerDuty sends with it (receiver/testdata/pagerduty/data).
var pdDataFiles = map[string]string{
	"incident.triggered": "incident", "incident.acknowledged": "incident", "incident.unacknowledged": "incident",
	"incident.escalated": "incident", "incident.reassigned": "incident", "incident.delegated": "incident",
	"incident.priority_updated": "incident", "incident.resolved": "incident", "incident.reopened": "incident",
	"incident.service_updated": "incident", "incident.incident_type.changed": "incident",
	"incident.responder.added": "incident_responder", "incident.responder.replied": "incident_responder",
	"incident.role.assigned":               "incident_role_assignment",
	"incident.conference_bridge.updated":   "incident_conference_bridge",
	"incident.custom_field_values.updated": "incident_field_values",
	"incident.workflow.started":            "incident_workflow_instance", "incident.workflow.completed": "incident_workflow_instance",
	"incident.task.created": "incident_task", "incident.task.updated": "incident_task", "incident.task.completed": "incident_task",
	"incident.action_invocation.created":    "incident_action_invocation",
	"incident.action_invocation.updated":    "incident_action_invocation",
	"incident.action_invocation.terminated": "incident_action_invocation",
	// Free text people wrote: stays as written (checked below).
	"incident.annotated": "incident_note", "incident.status_update_published": "incident_status_update",
}

// englishWords are the words of the English catalogue's facts and roles: postmortemd's English.
func englishWords(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("messages/en.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for id, v := range raw {
		if !strings.HasPrefix(id, "fact.") && !strings.HasPrefix(id, "role.") && !strings.HasPrefix(id, "state.") {
			continue
		}
		fmt.Fprint(&text, v, " ")
	}
	words := map[string]bool{}
	actions := regexp.MustCompile(`\{\{[^}]*\}\}`)
	for _, w := range regexp.MustCompile(`[A-Za-z]{3,}`).FindAllString(actions.ReplaceAllString(text.String(), " "), -1) {
		words[strings.ToLower(w)] = true
	}
	for _, brand := range []string{"pagerduty", "alertmanager", "max", "alerts", "acknowledge", "other", "one"} {
		delete(words, brand) // product names, the max_alerts setting, and the term Japanese SREs use
	}
	return words
}

// senderStrings are the strings a sender wrote in body: they stay as written in any language.
func senderStrings(body []byte) []string {
	var v any
	_ = json.Unmarshal(body, &v)
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if len(v) >= 3 {
				out = append(out, v)
			}
		case map[string]any:
			for k, x := range v {
				out = append(out, k+"="+fmt.Sprint(x)) // label pairs as facts list them
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// leftoverEnglish returns the English words of postmortemd's own that s still contains once what
// the sender wrote is taken out.
func leftoverEnglish(s string, sender []string, words map[string]bool) []string {
	s = strings.ToLower(s) // the receiver lowercases incident role names
	for _, v := range sender {
		s = strings.ReplaceAll(s, strings.ToLower(v), " ")
	}
	var left []string
	for _, w := range regexp.MustCompile(`[A-Za-z]{3,}`).FindAllString(s, -1) {
		if words[strings.ToLower(w)] {
			left = append(left, w)
		}
	}
	return left
}

// Every PagerDuty and Alertmanager event type the receiver records, from the senders' documented
// and captured payloads, has a Japanese sentence with none of postmortemd's English in it.
func TestEveryEventTypeHasAJapaneseRendering(t *testing.T) {
	ja := i18n.For(i18n.Japanese)
	words := englishWords(t)
	agent := `{"id":"PUSER01","type":"user_reference","summary":"Kenji Watanabe","html_url":"https://acme.pagerduty.com/users/PUSER01"}`
	for typ, file := range pdDataFiles {
		t.Run(typ, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(testdata, "pagerduty/data", file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			body := fmt.Sprintf(`{"event":{"id":"01EV%s","event_type":%q,"resource_type":"incident","occurred_at":"2026-11-23T13:40:00Z","agent":%s,"client":null,"data":%s}}`,
				strings.ReplaceAll(typ, ".", ""), typ, agent, data)
			evs := receive(t, "/webhook/pagerduty", []byte(body))
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1", len(evs))
			}
			got := ja.Facts(evs)[0]
			if evs[0].Kind == timeline.KindContext {
				if got != evs[0].Fact {
					t.Errorf("people's words changed: %q, stored %q", got, evs[0].Fact)
				}
				return
			}
			if got == evs[0].Fact || got == "" {
				t.Fatalf("no Japanese rendering: %q", got)
			}
			if left := leftoverEnglish(got, senderStrings(data), words); len(left) > 0 {
				t.Errorf("%q keeps English %v (stored: %q)", got, left, evs[0].Fact)
			}
			t.Logf("%s\n  en: %s\n  ja: %s", evs[0].Type, evs[0].Fact, got)
		})
	}
	for _, f := range []string{"alertmanager/v0.34.2/04-all-resolved.json", "alertmanager/v0.34.2/15b-truncated-3-resolved-status-resolved-while-2-firing.json",
		"alertmanager/v0.34.2/02-second-alert-joins.json"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(testdata, f))
			if err != nil {
				t.Fatal(err)
			}
			evs := receive(t, "/webhook/alertmanager", body)
			sender := senderStrings(body)
			for i, got := range ja.Facts(evs) {
				if got == evs[i].Fact {
					t.Errorf("%s: no Japanese rendering: %q", evs[i].Type, got)
				}
				if left := leftoverEnglish(got, sender, words); len(left) > 0 {
					t.Errorf("%s: %q keeps English %v", evs[i].Type, got, left)
				}
				t.Logf("%s\n  en: %s\n  ja: %s", evs[i].Type, evs[i].Fact, got)
			}
		})
	}
}

// The types the test above covers are every type the receiver can record: a new type without a
// Japanese sentence fails here.
func TestEventTypesCovered(t *testing.T) {
	seen := map[timeline.Type]bool{}
	for typ, file := range pdDataFiles {
		data, err := os.ReadFile(filepath.Join(testdata, "pagerduty/data", file+".json"))
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"event":{"id":"01X","event_type":%q,"resource_type":"incident","occurred_at":"2026-11-23T13:40:00Z","agent":null,"client":null,"data":%s}}`, typ, data)
		for _, e := range receive(t, "/webhook/pagerduty", []byte(body)) {
			seen[e.Type] = true
		}
	}
	for _, want := range []timeline.Type{timeline.TypeIncidentTriggered, timeline.TypeIncidentAcknowledged,
		timeline.TypeIncidentUnacknowledged, timeline.TypeIncidentEscalated, timeline.TypeIncidentReassigned,
		timeline.TypeIncidentDelegated, timeline.TypePriorityUpdated, timeline.TypeIncidentReopened,
		timeline.TypeServiceUpdated, timeline.TypeIncidentTypeChanged, timeline.TypeResponderAdded,
		timeline.TypeResponderReplied, timeline.TypeRoleAssigned, timeline.TypeNote, timeline.TypeStatusUpdate,
		timeline.TypeConferenceBridgeUpdated, timeline.TypeCustomFieldsUpdated, timeline.TypeIncidentResolved} {
		if !seen[want] {
			t.Errorf("no documented payload exercises %s", want)
		}
	}
}

// A role enrichment refined after the event was stored (it rewrites the stored sentence, not the
// attributes) is the role the Japanese sentence names too.
func TestRefinedRolesReachTheJapaneseSentence(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testdata, "pagerduty/data/incident.json"))
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"event":{"id":"01REF","event_type":"incident.reassigned","resource_type":"incident","occurred_at":"2026-11-23T13:40:00Z","agent":null,"client":null,"data":%s}}`, data)
	evs := receive(t, "/webhook/pagerduty", []byte(body))
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	ev.Fact = strings.ReplaceAll(ev.Fact, timeline.FromPlaceholder("assignees"), "") // as the store leaves it
	ja := i18n.For(i18n.Japanese)
	before := ja.Facts([]timeline.Event{ev})[0]
	if !strings.Contains(before, "Default ポリシー経由のオンコール担当") {
		t.Fatalf("before refinement: %q (stored %q)", before, ev.Fact)
	}
	// What the on-call enrichment does: the same phrase, replaced in the stored sentence.
	refined := strings.Replace(ev.Fact, "the on-call responder via the Default policy", "the secondary on-call (level 2) for API Service", 1)
	if refined == ev.Fact {
		t.Fatalf("stored %q does not name the policy role", ev.Fact)
	}
	ev.Fact = refined
	after := ja.Facts([]timeline.Event{ev})[0]
	if !strings.Contains(after, "API Service の二次オンコール（レベル 2）") || strings.Contains(after, "Default ポリシー経由") {
		t.Errorf("after refinement: %q (stored %q)", after, ev.Fact)
	}
	// A stored sentence that differs in some other way is not guessed at: the attributes' roles stay.
	ev.Fact = "Reassigned by hand to the secondary on-call (level 2) for API Service"
	if got := ja.Facts([]timeline.Event{ev})[0]; !strings.Contains(got, "Default ポリシー経由のオンコール担当") {
		t.Errorf("unrelated stored sentence: %q", got)
	}
}
