//go:build linux

package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// e2eSignedPagerDuty posts a story fixture as PagerDuty would, signed with secret, with the
// incident_key set to key (empty: the fixture's) and, when at is not zero, occurred_at moved to at
// (so it is news next to the live alert). It returns the reply's body; any status but 200 fails t.
func e2eSignedPagerDuty(t *testing.T, svc *e2eService, secret, name, key string, at time.Time) string {
	t.Helper()
	body, err := os.ReadFile("../../receiver/testdata/pagerduty/story/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		body = bytes.ReplaceAll(body, []byte("d4061866bc333de2350285b0452a21f78349e3d63b4f06b6c956f64f95d7be36"), []byte(key))
	}
	if !at.IsZero() {
		body = regexp.MustCompile(`"occurred_at": *"[^"]*"`).ReplaceAll(body,
			[]byte(`"occurred_at": "`+at.UTC().Format("2006-01-02T15:04:05.000Z")+`"`))
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	resp, out, err := svc.do(http.MethodPost, "/webhook/pagerduty", string(body), map[string]string{
		"Content-Type":          "application/json",
		"X-PagerDuty-Signature": "v1=" + hex.EncodeToString(m.Sum(nil)),
		"X-Webhook-Id":          "e2e-" + name,
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", name, resp.StatusCode, out)
	}
	return out
}

// A real Alertmanager pages "PagerDuty" (its Events API v2 integration, posting to a stand-in that
// records the dedup key it sends) and notifies postmortemd through a sibling route; PagerDuty's V3
// webhooks for the incident that dedup key opened, signed, then join the Alertmanager incident: one
// incident, both senders' facts.
func TestE2E_PagerDutyJoinsTheAlertmanagerIncidentThatPagedIt(t *testing.T) {
	e2eTest(t)
	const secret = "e2e-subscription-secret"
	var mu sync.Mutex
	var dedupKeys []string
	pd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			DedupKey string `json:"dedup_key"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		dedupKeys = append(dedupKeys, ev.DedupKey)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"`+ev.DedupKey+`"}`)
	}))
	t.Cleanup(pd.Close)

	rds := testenv.StartRedis(t)
	svc := startE2EService(t, rds.URL(), "--pagerduty-secret", secret)
	am := testenv.StartAlertmanager(t, testenv.AlertmanagerConfig{Receivers: []testenv.WebhookReceiver{
		{Name: "postmortemd", URL: svc.webhook(), SendResolved: true},
		{Name: "pagerduty", PagerDutyURL: pd.URL + "/v2/enqueue", SendResolved: true},
	}})
	alert := e2eAlert("CheckoutLatencyE2E", "inst-1", "critical", "p99 latency above 2s", time.Now().Add(-time.Minute))
	e2ePost(t, []*testenv.Alertmanager{am}, alert)

	var key string
	e2eEventually(t, 20*time.Second, "Alertmanager pages PagerDuty", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(dedupKeys) == 0 {
			return fmt.Errorf("no Events API call yet")
		}
		key = dedupKeys[0]
		return nil
	})
	var incID, groupKey string
	e2eEventually(t, 20*time.Second, "the Alertmanager incident opens", func() error {
		incs, err := svc.incidents("open", "")
		if err != nil || len(incs) != 1 {
			return fmt.Errorf("incidents %v %v", incs, err)
		}
		incID, groupKey = incs[0].ID, incs[0].Sources["alertmanager.group_key"]
		return nil
	})
	sum := sha256.Sum256([]byte(groupKey))
	if key != hex.EncodeToString(sum[:]) {
		t.Fatalf("Alertmanager's dedup key %s is not sha256(%q)", key, groupKey)
	}

	// PagerDuty's webhooks for the incident that dedup key opened.
	for _, name := range []string{"01-triggered.json", "02-acknowledged.json"} {
		if out := e2eSignedPagerDuty(t, svc, secret, name, key, time.Time{}); !strings.Contains(out, incID) {
			t.Fatalf("%s: %s, want it recorded on %s", name, out, incID)
		}
	}
	incs, err := svc.incidents("", "")
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents %v %v: want the one merged incident", incs, err)
	}
	tl, err := svc.timeline(incID)
	if err != nil {
		t.Fatal(err)
	}
	if tl.Incident.Status != "acknowledged" || tl.Incident.Sources["pagerduty.incident_id"] != "Q2W5L8MZ1RBT4J" {
		t.Fatalf("incident %+v", tl.Incident)
	}
	var sources []string
	for _, e := range tl.Events {
		sources = append(sources, e.Source+":"+e.Type)
		if strings.Contains(e.Fact, "Dana") || strings.Contains(e.Role, "Dana") {
			t.Errorf("event names a person: %+v", e)
		}
	}
	sort.Strings(sources) // the fixtures' occurred_at predate the live alert
	want := "[alertmanager:alert_firing pagerduty:incident_acknowledged pagerduty:incident_triggered]"
	if got := fmt.Sprint(sources); got != want {
		t.Fatalf("timeline %s, want %s", got, want)
	}
}

// With --pagerduty-api-token the binary asks PagerDuty's on-call API (a stand-in speaking its REST
// shapes) which level each person held, and the timeline's provisional role is refined.
func TestE2E_PagerDutyEnrichmentRefinesRoles(t *testing.T) {
	e2eTest(t)
	const secret = "e2e-subscription-secret"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Token token=e2e-api-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/oncalls":
			// The acknowledger was on call at level 2 (the payloads suggested level 1).
			_, _ = io.WriteString(w, `{"oncalls":[{"escalation_level":2,"start":"2026-11-23T00:00:00Z","end":"2026-11-24T00:00:00Z",`+
				`"user":{"id":"`+r.URL.Query().Get("user_ids[]")+`","type":"user_reference"},`+
				`"escalation_policy":{"id":"PEPC7K3","type":"escalation_policy_reference"},`+
				`"schedule":{"id":"PSCHED1","type":"schedule_reference"}}],"limit":100,"offset":0,"more":false,"total":null}`)
		case strings.HasSuffix(r.URL.Path, "/log_entries"):
			_, _ = io.WriteString(w, `{"log_entries":[],"limit":100,"offset":0,"more":false,"total":null}`)
		case strings.HasSuffix(r.URL.Path, "/notes"):
			_, _ = io.WriteString(w, `{"notes":[]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(api.Close)
	rds := testenv.StartRedis(t)
	svc := startE2EService(t, rds.URL(), "--pagerduty-secret", secret,
		"--pagerduty-api-token", "e2e-api-token", "--pagerduty-api-url", api.URL)
	var incID string
	for _, name := range []string{"01-triggered.json", "02-acknowledged.json"} {
		var d struct {
			IncidentID string `json:"incident_id"`
		}
		_ = json.Unmarshal([]byte(e2eSignedPagerDuty(t, svc, secret, name, "", time.Time{})), &d)
		incID = d.IncidentID
	}
	e2eEventually(t, 20*time.Second, "the acknowledgement names the level on-call data gives", func() error {
		tl, err := svc.timeline(incID)
		if err != nil {
			return err
		}
		for _, e := range tl.Events {
			if e.Type == "incident_acknowledged" {
				if e.Role != "secondary on-call (level 2) for checkout" || !strings.Contains(e.Fact, "secondary on-call (level 2)") {
					return fmt.Errorf("acknowledged: role %q, fact %q", e.Role, e.Fact)
				}
				return nil
			}
		}
		return fmt.Errorf("no acknowledgement yet")
	})
}
