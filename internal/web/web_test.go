package web_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

const fixtures = "../../receiver/testdata/alertmanager/v0.25.0/"

// service is the whole HTTP surface on an embedded Redis, as cmd/postmortemd wires it.
type service struct {
	*httptest.Server
	mr *miniredis.Miniredis
}

// newMiniStore starts miniredis and a store on it, closed when the test ends. The client does not
// retry, so a test that stops miniredis sees the failure at once.
func newMiniStore(tb testing.TB, o redisstore.Options) (*miniredis.Miniredis, *redisstore.Store) {
	tb.Helper()
	mr := miniredis.RunT(tb)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	tb.Cleanup(func() { rdb.Close() })
	return mr, redisstore.New(rdb, o)
}

func newService(t *testing.T, rcv receiver.Options) *service {
	t.Helper()
	mr, store := newMiniStore(t, redisstore.Options{})
	reg := prometheus.NewRegistry()
	rcv.Store = store
	rcv.Metrics = receiver.NewMetrics(reg)
	srv := httptest.NewServer(web.New(web.Options{Store: store, Ready: store, Webhooks: receiver.New(rcv), Registry: reg}))
	t.Cleanup(srv.Close)
	return &service{Server: srv, mr: mr}
}

func (s *service) post(t *testing.T, path string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, body)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func (s *service) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func fixture(t *testing.T, name string) *strings.Reader {
	t.Helper()
	b, err := os.ReadFile(fixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReader(string(b))
}

// Each kind of bad input has its status, a JSON error that says what was wrong, and a metric.
func TestWebhookStatuses(t *testing.T) {
	s := newService(t, receiver.Options{MaxBodyBytes: 64 << 10,
		Alertmanager: receiver.Auth{BearerToken: "s3cret-token"}})
	auth := map[string]string{"Authorization": "Bearer s3cret-token"}
	tests := []struct {
		name      string
		body      io.Reader
		hdr       map[string]string
		status    int
		errSays   string
		outcome   string
		retryable bool
	}{
		{"stored", fixture(t, "01-first-firing.json"), auth, 200, "", "stored", false},
		{"duplicate", fixture(t, "01-first-firing.json"), auth, 200, "", "duplicate", false},
		{"malformed JSON", strings.NewReader(`{"version":"4",`), auth, 400, "not an Alertmanager webhook payload", "invalid", false},
		{"wrong version", strings.NewReader(`{"version":"3"}`), auth, 400, `version: want "4"`, "invalid", false},
		{"no credentials", fixture(t, "01-first-firing.json"), nil, 401, "credentials", "unauthorized", false},
		{"over the body limit", fixture(t, "10-storm-200-firing.json"), auth, 413, "limit", "too_large", false},
	}
	counted := map[string]int{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counted[tt.outcome]++
			resp, body := s.post(t, "/webhook/alertmanager", tt.body, tt.hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.errSays != "" {
				var e struct {
					Error  string `json:"error"`
					Status int    `json:"status"`
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tt.errSays) || e.Status != tt.status {
					t.Fatalf("error body %s does not say %q", body, tt.errSays)
				}
			}
			if !strings.Contains(metrics(t, s), fmt.Sprintf(`postmortemd_webhooks_received_total{outcome=%q,source="alertmanager"} %d`, tt.outcome, counted[tt.outcome])) {
				t.Fatalf("no %s outcome counted", tt.outcome)
			}
		})
	}

	t.Run("store unreachable", func(t *testing.T) {
		s.mr.Close()
		resp, body := s.post(t, "/webhook/alertmanager", fixture(t, "02-second-alert-joins.json"), auth)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q: %s; want 503 with Retry-After so Alertmanager retries",
				resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if !strings.Contains(metrics(t, s), `postmortemd_webhooks_received_total{outcome="unavailable",source="alertmanager"} 1`) {
			t.Fatal("unavailable outcome not counted")
		}
		if resp, _ := s.get(t, "/-/ready"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/-/ready %d with the store down, want 503", resp.StatusCode)
		}
		if resp, _ := s.get(t, "/-/healthy"); resp.StatusCode != http.StatusOK {
			t.Fatalf("/-/healthy %d, want 200 (the process is fine)", resp.StatusCode)
		}
	})
}

func TestPagerDutyWebhookWithTheStoreDown(t *testing.T) {
	s := newService(t, receiver.Options{PagerDuty: receiver.PagerDutyOptions{AllowUnsigned: true}})
	s.mr.Close()
	body, _ := os.ReadFile("../../receiver/testdata/pagerduty/story/02-acknowledged.json")
	resp, out := s.post(t, "/webhook/pagerduty", strings.NewReader(string(body)), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %s: want 503 with Retry-After, so PagerDuty retries", resp.StatusCode, out)
	}
	if !strings.Contains(metrics(t, s), `postmortemd_webhooks_received_total{outcome="unavailable",source="pagerduty"} 1`) {
		t.Fatal("unavailable outcome not counted")
	}
}

func metrics(t *testing.T, s *service) string {
	t.Helper()
	_, body := s.get(t, "/metrics")
	return body
}

func TestReadAPI(t *testing.T) {
	s := newService(t, receiver.Options{})
	for _, f := range []string{"01-first-firing.json", "02-second-alert-joins.json", "03-partial-recovery.json",
		"04-all-resolved.json", "05-refire-new-episode.json"} {
		if resp, body := s.post(t, "/webhook/alertmanager", fixture(t, f), nil); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", f, resp.StatusCode, body)
		}
	}
	var list struct {
		Incidents []map[string]any `json:"incidents"`
	}
	getJSON(t, s, "/api/v1/incidents", &list)
	if len(list.Incidents) != 2 || list.Incidents[0]["status"] != "open" || list.Incidents[1]["status"] != "resolved" {
		t.Fatalf("incidents newest first: %v", list.Incidents)
	}
	for _, field := range []string{"id", "title", "status", "severity", "started_at", "resolved_at", "services", "labels", "sources"} {
		if _, ok := list.Incidents[0][field]; !ok {
			t.Errorf("incident lacks %q", field)
		}
	}
	if list.Incidents[0]["resolved_at"] != nil {
		t.Errorf("open incident's resolved_at = %v, want null", list.Incidents[0]["resolved_at"])
	}
	resolvedID := list.Incidents[1]["id"].(string)

	for status, want := range map[string]int{"open": 1, "resolved": 1, "acknowledged": 0} {
		getJSON(t, s, "/api/v1/incidents?status="+status, &list)
		if len(list.Incidents) != want {
			t.Errorf("?status=%s: %d incidents, want %d", status, len(list.Incidents), want)
		}
	}

	var tl struct {
		Incident  map[string]any `json:"incident"`
		Events    []map[string]any
		NextAfter string `json:"next_after"`
	}
	getJSON(t, s, "/api/v1/incidents/"+resolvedID+"/timeline", &tl)
	if tl.Incident["id"] != resolvedID || len(tl.Events) != 5 || tl.NextAfter != "" {
		t.Fatalf("timeline: incident %v, %d events, next %q", tl.Incident["id"], len(tl.Events), tl.NextAfter)
	}
	var prev time.Time
	for i, e := range tl.Events {
		for _, field := range []string{"id", "at", "recorded_at", "source", "type", "kind", "role", "fact", "attributes"} {
			if _, ok := e[field]; !ok {
				t.Errorf("event %d lacks %q", i, field)
			}
		}
		at, err := time.Parse(time.RFC3339Nano, e["at"].(string))
		if err != nil || at.Before(prev) || !strings.HasSuffix(e["at"].(string), "Z") {
			t.Fatalf("event %d at %v: not RFC 3339 UTC in order", i, e["at"])
		}
		prev = at
	}

	// Paging: two at a time, continuing after the last one seen.
	var got []any
	next := ""
	for page := 0; page < 5; page++ {
		path := "/api/v1/incidents/" + resolvedID + "/timeline?limit=2"
		if next != "" {
			path += "&after=" + next
		}
		tl.NextAfter = ""
		getJSON(t, s, path, &tl)
		for _, e := range tl.Events {
			got = append(got, e["id"])
		}
		if next = tl.NextAfter; next == "" {
			break
		}
	}
	if len(got) != 5 || got[0] != tl0(t, s, resolvedID) {
		t.Fatalf("paged ids %v", got)
	}

	for path, want := range map[string]int{
		"/api/v1/incidents/no-such-incident":                       404,
		"/api/v1/incidents/no-such-incident/timeline":              404,
		"/api/v1/incidents?status=closed":                          400,
		"/api/v1/incidents?limit=0":                                400,
		"/api/v1/incidents/" + resolvedID + "/timeline?after=nope": 400,
	} {
		resp, body := s.get(t, path)
		if resp.StatusCode != want || !strings.Contains(resp.Header.Get("Content-Type"), "application/json") ||
			!strings.Contains(body, `"error"`) {
			t.Errorf("GET %s: %d %s, want %d with a JSON error", path, resp.StatusCode, body, want)
		}
	}
}

func tl0(t *testing.T, s *service, id string) any {
	var tl struct{ Events []map[string]any }
	getJSON(t, s, "/api/v1/incidents/"+id+"/timeline", &tl)
	return tl.Events[0]["id"]
}

func getJSON(t *testing.T, s *service, path string, v any) {
	t.Helper()
	resp, body := s.get(t, path)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	s := newService(t, receiver.Options{})
	for _, path := range []string{"/-/healthy", "/-/ready"} {
		if resp, body := s.get(t, path); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	s.post(t, "/webhook/alertmanager", fixture(t, "01-first-firing.json"), nil)
	s.post(t, "/webhook/alertmanager", fixture(t, "01-first-firing.json"), nil)
	m := metrics(t, s)
	for _, want := range []string{
		`postmortemd_events_appended_total{source="alertmanager"} 1`,
		`postmortemd_duplicates_dropped_total{source="alertmanager"} 1`,
		`postmortemd_incidents_opened_total{source="alertmanager"} 1`,
		`postmortemd_http_request_duration_seconds_count{code="200",method="POST",route="/webhook/alertmanager"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The default body limit takes a 5,000-alert storm: the captured 200-alert notification, widened to
// 5,000 alerts of as many services.
func TestFiveThousandAlertStorm(t *testing.T) {
	raw, err := os.ReadFile(fixtures + "10-storm-200-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	captured := m["alerts"].([]any)
	alerts := make([]any, 0, 5000)
	for i := 0; i < 5000; i++ {
		a := map[string]any{}
		b, _ := json.Marshal(captured[i%len(captured)])
		_ = json.Unmarshal(b, &a)
		labels := a["labels"].(map[string]any)
		labels["instance"] = fmt.Sprintf("node-%d.dc1.example:9100", i)
		labels["service"] = fmt.Sprintf("svc-%d", i)
		a["fingerprint"] = fmt.Sprintf("%016x", i+1)
		alerts = append(alerts, a)
	}
	m["alerts"] = alerts
	delete(m, "commonLabels")
	body, _ := json.Marshal(m)
	s := newService(t, receiver.Options{}) // default limit, 16 MiB
	start := time.Now()
	resp, out := s.post(t, "/webhook/alertmanager", strings.NewReader(string(body)), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(out, `"appended":5000`) {
		t.Fatalf("%d bytes: %d %s", len(body), resp.StatusCode, out)
	}
	t.Logf("%d alerts, %d bytes, stored in %v", len(alerts), len(body), time.Since(start))
	var inc struct {
		Services []string `json:"services"`
	}
	id := out[strings.Index(out, `"incident_id":"`)+15:]
	id = id[:strings.IndexByte(id, '"')]
	getJSON(t, s, "/api/v1/incidents/"+id, &inc)
	if len(inc.Services) != 5000 {
		t.Fatalf("%d services, want 5000", len(inc.Services))
	}
}

func TestPagerDutyWebhookOverHTTP(t *testing.T) {
	body, err := os.ReadFile("../../receiver/testdata/pagerduty/story/01-triggered.json")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("not configured: 503 so PagerDuty retries", func(t *testing.T) {
		s := newService(t, receiver.Options{})
		resp, out := s.post(t, "/webhook/pagerduty", strings.NewReader(string(body)), nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(out, "--pagerduty-secret") {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
	})
	t.Run("signed delivery stored; unsigned 401", func(t *testing.T) {
		s := newService(t, receiver.Options{PagerDuty: receiver.PagerDutyOptions{Secrets: []string{"s3cret"}}})
		m := hmac.New(sha256.New, []byte("s3cret"))
		m.Write(body)
		sig := "v1=" + hex.EncodeToString(m.Sum(nil))
		resp, out := s.post(t, "/webhook/pagerduty", strings.NewReader(string(body)), map[string]string{"X-PagerDuty-Signature": sig, "X-Webhook-Id": "w1"})
		if resp.StatusCode != http.StatusOK || !strings.Contains(out, `"opened":true`) {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
		resp, out = s.post(t, "/webhook/pagerduty", strings.NewReader(string(body)), nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unsigned: %d %s", resp.StatusCode, out)
		}
		if !strings.Contains(metrics(t, s), `postmortemd_webhooks_received_total{outcome="unauthorized",source="pagerduty"} 1`) {
			t.Fatal("unauthorized PagerDuty delivery not counted")
		}
	})
}

// No API response names a person: the whole PagerDuty story (with the Alertmanager notification
// that paged it) is delivered, then every read endpoint is scanned for the names and addresses the
// payloads carried.
func TestNoAPIResponseNamesAPerson(t *testing.T) {
	s := newService(t, receiver.Options{PagerDuty: receiver.PagerDutyOptions{AllowUnsigned: true}})
	s.post(t, "/webhook/alertmanager", fixture(t, "01-first-firing.json"), nil)
	files, _ := filepath.Glob("../../receiver/testdata/pagerduty/story/[0-9]*.json")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if resp, out := s.post(t, "/webhook/pagerduty", strings.NewReader(string(b)), nil); resp.StatusCode != 200 {
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
	var list struct {
		Incidents []struct {
			ID string `json:"id"`
		} `json:"incidents"`
	}
	getJSON(t, s, "/api/v1/incidents", &list)
	if len(list.Incidents) != 1 {
		t.Fatalf("%d incidents, want the one merged incident", len(list.Incidents))
	}
	id := list.Incidents[0].ID
	for _, path := range []string{"/api/v1/incidents", "/api/v1/incidents?status=resolved", "/api/v1/incidents/" + id,
		"/api/v1/incidents/" + id + "/timeline", "/api/v1/incidents/" + id + "/timeline?limit=3"} {
		_, body := s.get(t, path)
		for _, pii := range people.PII {
			if strings.Contains(strings.ToLower(body), strings.ToLower(pii)) {
				t.Errorf("GET %s shows %q", path, pii)
			}
		}
	}
}
