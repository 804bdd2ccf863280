package web_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/postmortemd/postmortemd/receiver"
)

// A web page a user visits can make their browser post to a webhook with a "simple" request
// (text/plain, no preflight). Browsers mark such requests; senders never do. Without a webhook
// token such a request would open an incident: it gets 403 that says why, is logged and counted,
// and stores nothing.
func TestWebhooksRefuseRequestsFromBrowsers(t *testing.T) {
	s := newService(t, receiver.Options{PagerDuty: receiver.PagerDutyOptions{AllowUnsigned: true}})
	am, _ := os.ReadFile(fixtures + "01-first-firing.json")
	pd, _ := os.ReadFile("../../receiver/testdata/pagerduty/story/01-triggered.json")
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		says             string
	}{
		{"cross-site form post", "/webhook/alertmanager", string(am),
			map[string]string{"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, "Sec-Fetch-Site: cross-site"},
		{"same-site", "/webhook/alertmanager", string(am), map[string]string{"Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site: same-site"},
		{"Origin only (an older browser)", "/webhook/alertmanager", string(am), map[string]string{"Origin": "null"}, "Origin"},
		{"PagerDuty endpoint", "/webhook/pagerduty", string(pd), map[string]string{"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site: cross-site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.post(t, tt.path, strings.NewReader(tt.body), tt.hdr)
			var e struct {
				Error string `json:"error"`
			}
			if resp.StatusCode != http.StatusForbidden || json.Unmarshal([]byte(body), &e) != nil ||
				!strings.Contains(e.Error, tt.says) || !strings.Contains(e.Error, "browser") {
				t.Fatalf("%d %s; want 403 saying %q and that a browser sent it", resp.StatusCode, body, tt.says)
			}
		})
	}
	m := metrics(t, s)
	for _, want := range []string{`postmortemd_webhooks_received_total{outcome="browser",source="alertmanager"} 3`,
		`postmortemd_webhooks_received_total{outcome="browser",source="pagerduty"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if _, body := s.get(t, "/api/v1/incidents"); !strings.Contains(body, `"incidents":[]`) {
		t.Errorf("a refused delivery stored something: %s", body)
	}

	// Sec-Fetch-Site "none" or "same-origin" without an Origin is not a cross-site write; and the
	// senders themselves, with no browser header at all, are accepted.
	resp, body := s.post(t, "/webhook/alertmanager", strings.NewReader(string(am)), map[string]string{"Sec-Fetch-Site": "none"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Sec-Fetch-Site: none: %d %s", resp.StatusCode, body)
	}
}

// A sender that labels its JSON text/plain is still accepted (captures show real Alertmanagers send
// application/json), and counted so the operator can find it.
func TestAlertmanagerWebhookWithANonJSONContentType(t *testing.T) {
	s := newService(t, receiver.Options{})
	am, _ := os.ReadFile(fixtures + "01-first-firing.json")
	resp, body := s.post(t, "/webhook/alertmanager", strings.NewReader(string(am)), map[string]string{"Content-Type": "text/plain"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body = s.post(t, "/webhook/alertmanager", strings.NewReader(string(am)), map[string]string{"Content-Type": "application/json; charset=utf-8"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if m := metrics(t, s); !strings.Contains(m, `postmortemd_webhooks_non_json_total{source="alertmanager"} 1`) {
		t.Errorf("the text/plain delivery is not counted once:\n%s", m)
	}
}

// Every response, whatever route or status, tells browsers not to sniff its type.
func TestEveryResponseSaysNosniff(t *testing.T) {
	s := newService(t, receiver.Options{})
	am, _ := os.ReadFile(fixtures + "01-first-firing.json")
	resp, _ := s.post(t, "/webhook/alertmanager", strings.NewReader(string(am)), nil)
	check := func(what string, r *http.Response) {
		t.Helper()
		if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s (%d): X-Content-Type-Options = %q, want nosniff", what, r.StatusCode, got)
		}
	}
	check("webhook", resp)
	resp, _ = s.post(t, "/webhook/alertmanager", strings.NewReader("{"), nil)
	check("webhook 400", resp)
	for _, p := range []string{"/api/v1/incidents", "/api/v1/incidents/nope", "/-/healthy", "/-/ready", "/metrics", "/no/such/route"} {
		resp, _ := s.get(t, p)
		check(p, resp)
	}
}
