package web_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

func newLimitedService(t *testing.T, lim web.LimitOptions) *service {
	t.Helper()
	mr, store := newMiniStore(t, redisstore.Options{})
	reg := prometheus.NewRegistry()
	h := receiver.New(receiver.Options{Store: store, Metrics: receiver.NewMetrics(reg)})
	srv := httptest.NewServer(web.New(web.Options{Store: store, Ready: store, Webhooks: h, Registry: reg, Limits: lim}))
	t.Cleanup(srv.Close)
	return &service{Server: srv, mr: mr}
}

// Past its burst, one source address gets 429 with Retry-After, whatever X-Forwarded-For it
// claims; reads and the other kind of request are not limited by it.
func TestRateLimitsPerSourceAddress(t *testing.T) {
	s := newLimitedService(t, web.LimitOptions{WebhookRate: 0.01, WebhookBurst: 2, WriteRate: 0.01, WriteBurst: 1})
	am, _ := os.ReadFile(fixtures + "01-first-firing.json")
	var codes []int
	for i := range 4 {
		resp, _ := s.post(t, "/webhook/alertmanager", strings.NewReader(string(am)), map[string]string{"X-Forwarded-For": fmt.Sprintf("10.0.0.%d", i)})
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "100" {
			t.Errorf("Retry-After %q, want 100 (one request per 100 s)", resp.Header.Get("Retry-After"))
		}
	}
	if fmt.Sprint(codes) != "[200 200 429 429]" {
		t.Errorf("webhook statuses %v, want [200 200 429 429]: a burst of 2, then refused", codes)
	}
	if resp, _ := s.get(t, "/api/v1/incidents"); resp.StatusCode != http.StatusOK {
		t.Errorf("a read was limited: %d", resp.StatusCode)
	}
	resp, _ := s.post(t, "/api/v1/no-such-write", strings.NewReader("{}"), nil)
	if resp.StatusCode == http.StatusTooManyRequests {
		t.Errorf("the first write was refused: the webhook limit spilled over")
	}
	resp, body := s.post(t, "/api/v1/no-such-write", strings.NewReader("{}"), nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "too many write requests") {
		t.Errorf("second write: %d %s, want 429", resp.StatusCode, body)
	}
	m := metrics(t, s)
	for _, want := range []string{`postmortemd_http_rate_limited_total{kind="webhook"} 2`, `postmortemd_http_rate_limited_total{kind="write"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A client that sends its headers and then drips its body is cut off soon after the grace, with
// 408; a large body sent at a normal pace is read whole.
func TestSlowBodyIsCutOff(t *testing.T) {
	s := newLimitedService(t, web.LimitOptions{MinBodyRate: 64 << 10, BodyGrace: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"vers")
	// The client sends nothing more. The server answers without waiting for the rest; the
	// deadline only keeps a broken server from hanging the test.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a dripping client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
	if m := metrics(t, s); !strings.Contains(m, "postmortemd_http_slow_bodies_total 1") {
		t.Errorf("slow body not counted")
	}

	storm, err := os.ReadFile(fixtures + "10-storm-200-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := s.post(t, "/webhook/alertmanager", strings.NewReader(string(storm)), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a %d-byte delivery at full speed: %d %s", len(storm), resp.StatusCode, body)
	}
}
