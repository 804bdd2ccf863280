package testenv

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if p <= 0 || p == 6379 {
			t.Fatalf("FreePort returned %d", p)
		}
		if seen[p] {
			t.Fatalf("FreePort returned %d twice", p)
		}
		seen[p] = true
	}
}

func TestRedisStopStart(t *testing.T) {
	r := StartRedis(t)
	if !r.Started {
		t.Skipf("using external Redis %s; not touching it", r.URL())
	}
	if err := redisPing(r.Addr()); err != nil {
		t.Fatalf("PING %s: %v", r.Addr(), err)
	}
	if want := "redis://" + r.Addr() + "/0"; r.URL() != want {
		t.Errorf("URL() = %q, want %q", r.URL(), want)
	}
	if !strings.HasPrefix(r.Addr(), "127.0.0.1:") || r.Port() == 6379 {
		t.Errorf("Addr() = %q, want 127.0.0.1 and not port 6379", r.Addr())
	}

	r.Stop()
	if err := redisPing(r.Addr()); err == nil {
		t.Fatal("PING succeeded after Stop")
	}
	r.Stop() // stopping twice is harmless

	r.Start()
	if err := redisPing(r.Addr()); err != nil {
		t.Fatalf("PING after Start: %v", err)
	}
	r.Start() // starting a running server is harmless
	if err := redisPing(r.Addr()); err != nil {
		t.Fatalf("PING after second Start: %v", err)
	}
}

// webhookMessage is the part of Alertmanager's webhook payload (version 4)
// that the test checks.
type webhookMessage struct {
	Version  string `json:"version"`
	GroupKey string `json:"groupKey"`
	Status   string `json:"status"`
	Receiver string `json:"receiver"`
	Alerts   []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

type webhookRequest struct {
	auth string
	msg  webhookMessage
	err  error
}

// webhookServer returns a server that sends every decoded webhook request
// to the returned channel.
func webhookServer(t *testing.T) (*httptest.Server, <-chan webhookRequest) {
	t.Helper()
	ch := make(chan webhookRequest, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := webhookRequest{auth: r.Header.Get("Authorization"), err: err}
		if err == nil {
			req.err = json.Unmarshal(body, &req.msg)
		}
		select {
		case ch <- req:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestAlertmanagerWebhook(t *testing.T) {
	srv, ch := webhookServer(t)
	am := StartAlertmanager(t, AlertmanagerConfig{
		Receivers: []WebhookReceiver{{
			Name:         "postmortemd",
			URL:          srv.URL + "/hook",
			BearerToken:  "s3cret",
			SendResolved: true,
		}},
		GroupWait: 100 * time.Millisecond,
	})
	if am.Version() == "" {
		t.Error("Version() is empty")
	}
	t.Logf("Alertmanager %s at %s", am.Version(), am.URL())

	labels := map[string]string{"alertname": "TestenvAlert", "severity": "page", "instance": "db-1"}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := am.PostAlerts(ctx, Alert{
		Labels:       labels,
		Annotations:  map[string]string{"summary": "testenv test alert"},
		StartsAt:     time.Now().Add(-time.Minute),
		GeneratorURL: "http://127.0.0.1/graph",
	})
	if err != nil {
		t.Fatal(err)
	}

	select {
	case req := <-ch:
		if req.err != nil {
			t.Fatalf("webhook payload: %v", req.err)
		}
		if req.auth != "Bearer s3cret" {
			t.Errorf("Authorization = %q, want %q", req.auth, "Bearer s3cret")
		}
		if want := `{}:{alertname="TestenvAlert"}`; req.msg.GroupKey != want {
			t.Errorf("groupKey = %q, want %q", req.msg.GroupKey, want)
		}
		if req.msg.Receiver != "postmortemd" || req.msg.Status != "firing" {
			t.Errorf("receiver, status = %q, %q; want postmortemd, firing", req.msg.Receiver, req.msg.Status)
		}
		if len(req.msg.Alerts) != 1 {
			t.Fatalf("got %d alerts, want 1", len(req.msg.Alerts))
		}
		if got := req.msg.Alerts[0].Labels; !maps.Equal(got, labels) {
			t.Errorf("alerts[0].labels = %v, want %v", got, labels)
		}
	case <-ctx.Done():
		t.Fatal("no webhook received within 15s")
	}
}

func TestAlertmanagerCluster(t *testing.T) {
	srv, _ := webhookServer(t)
	ams := StartAlertmanagerCluster(t, AlertmanagerConfig{
		Receivers: []WebhookReceiver{{URL: srv.URL}},
	}, 2)
	if len(ams) != 2 {
		t.Fatalf("got %d Alertmanagers, want 2", len(ams))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, am := range ams {
		st, err := am.status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Cluster.Peers) != 2 {
			t.Errorf("%s sees %d peers, want 2: %+v", am.URL(), len(st.Cluster.Peers), st.Cluster.Peers)
		}
		if am.ClusterAddr() == "" {
			t.Errorf("%s has no cluster address", am.URL())
		}
	}
	if ams[0].URL() == ams[1].URL() {
		t.Errorf("both peers have URL %s", ams[0].URL())
	}
}

func TestRenderConfig(t *testing.T) {
	cfg := AlertmanagerConfig{
		Receivers: []WebhookReceiver{
			{Name: "a", URL: "http://127.0.0.1:1/a", BasicAuthUsername: "u", BasicAuthPassword: "p", MaxAlerts: 5, Matchers: []string{`team="a"`}},
			{URL: "http://127.0.0.1:1/b", BearerToken: "t", SendResolved: true},
		},
		GroupBy:        []string{"..."},
		GroupWait:      250 * time.Millisecond,
		ResolveTimeout: 90 * time.Second,
	}
	b, err := cfg.render()
	if err != nil {
		t.Fatal(err)
	}
	var f amFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.Route.Receiver != "null" || len(f.Route.Routes) != 2 || !f.Route.Routes[0].Continue {
		t.Errorf("route = %+v", f.Route)
	}
	if f.Route.GroupWait != "250ms" || f.Route.GroupInterval != "1s" || f.Route.RepeatInterval != "1h" {
		t.Errorf("route timings = %q %q %q", f.Route.GroupWait, f.Route.GroupInterval, f.Route.RepeatInterval)
	}
	if f.Global == nil || f.Global.ResolveTimeout != "90s" {
		t.Errorf("global = %+v", f.Global)
	}
	if len(f.Receivers) != 3 || f.Receivers[1].Name != "webhook-1" {
		t.Fatalf("receivers = %+v", f.Receivers)
	}
	a := f.Receivers[0].WebhookConfigs[0]
	if a.HTTPConfig == nil || a.HTTPConfig.BasicAuth == nil || a.HTTPConfig.BasicAuth.Username != "u" || a.MaxAlerts != 5 || a.SendResolved {
		t.Errorf("receiver a = %+v", a)
	}
	bw := f.Receivers[1].WebhookConfigs[0]
	if bw.HTTPConfig == nil || bw.HTTPConfig.Authorization == nil || bw.HTTPConfig.Authorization.Credentials != "t" || !bw.SendResolved {
		t.Errorf("receiver b = %+v", bw)
	}

	if _, err := (AlertmanagerConfig{Receivers: []WebhookReceiver{{URL: "x", BearerToken: "t", BasicAuthUsername: "u"}}}).render(); err == nil {
		t.Error("bearer token plus basic auth: no error")
	}
}

func TestAlertJSON(t *testing.T) {
	b, err := json.Marshal(Alert{Labels: map[string]string{"alertname": "X"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"labels":{"alertname":"X"}}`; got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}
