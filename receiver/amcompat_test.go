package receiver

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
)

// The decoder accepts what Alertmanager's own webhook type marshals. Alertmanager is imported here,
// in a test only: it pulls in hundreds of packages that must stay out of the binary (see
// TestDependencyRules in cmd/postmortemd).
func TestDecodeAcceptsAlertmanagersOwnMessageType(t *testing.T) {
	start := time.Date(2026, 11, 22, 10, 5, 1, 700637419, time.UTC)
	data := &template.Data{
		Receiver: `team\.x`,
		Status:   "firing",
		Alerts: template.Alerts{
			{Status: "firing", Labels: template.KV{"alertname": "HighLatency", "instance": "inst-1", "service": "checkout", "severity": "critical"},
				Annotations: template.KV{"summary": "p99 latency above 2s"}, StartsAt: start,
				GeneratorURL: "http://prometheus.example:9090/graph", Fingerprint: "6c8eaeaf0b5c499e"},
			{Status: "resolved", Labels: template.KV{"alertname": "HighLatency", "instance": "inst-2", "service": "checkout", "severity": "critical"},
				StartsAt: start, EndsAt: start.Add(time.Minute), Fingerprint: "9446c68c8ab422f3"},
		},
		GroupLabels:       template.KV{"alertname": "HighLatency"},
		CommonLabels:      template.KV{"alertname": "HighLatency", "service": "checkout", "severity": "critical"},
		CommonAnnotations: template.KV{},
		ExternalURL:       (&url.URL{Scheme: "http", Host: "am.example:9093"}).String(),
	}
	msg := &webhook.Message{Data: data, Version: "4", GroupKey: `{}:{alertname="HighLatency"}`, TruncatedAlerts: 3}
	raw, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeAlertmanager(raw)
	if err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if m.GroupKey != msg.GroupKey || m.TruncatedAlerts != 3 || len(m.Alerts) != 2 || m.Receiver != `team\.x` ||
		!m.Alerts[0].StartsAt.Equal(start) || m.Alerts[1].Status != "resolved" || m.ExternalURL != data.ExternalURL {
		t.Fatalf("decoded %+v", m)
	}
	h := New(Options{})
	b, err := h.batch(m, start.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Occurrences) != 2 || len(b.Events) != 1 || b.Resolve {
		t.Fatalf("batch: %d occurrences, %d events, resolve %v", len(b.Occurrences), len(b.Events), b.Resolve)
	}
}
