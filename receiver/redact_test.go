package receiver

import (
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// TestBatchRedactsAnnotations checks that names in annotations become roles in what is stored (the
// attributes and the fact's summary), labels stay as sent, and clean annotations are not copied.
func TestBatchRedactsAnnotations(t *testing.T) {
	people := []timeline.Participant{{Name: "Dana Okafor", Email: "dana.okafor@example.com", Role: "primary on-call"}}
	h := New(Options{Redact: func(s string) string { out, _ := timeline.ReplaceNames(s, people); return out }})
	body := `{"version":"4","groupKey":"{}:{alertname=\"Disk\"}","status":"firing","receiver":"pm",
		"commonAnnotations":{"summary":"ask Dana Okafor"},
		"alerts":[{"status":"firing","labels":{"alertname":"Disk","owner":"Dana"},"startsAt":"2026-11-23T13:00:00Z",
		"annotations":{"summary":"Dana Okafor's disk is full","runbook":"https://runbooks.example/disk"}},
		{"status":"firing","labels":{"alertname":"Disk","instance":"b"},"startsAt":"2026-11-23T13:00:00Z",
		"annotations":{"summary":"disk full on b"}}]}`
	m, err := decodeAlertmanager([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	clean := m.Alerts[1].Annotations
	b, err := h.batch(m, time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	first := b.Occurrences[0].Event
	for _, s := range []string{string(first.Attributes), first.Fact, b.Open.Title} {
		if strings.Contains(s, "Dana Okafor") || !strings.Contains(s, "the primary on-call") {
			t.Errorf("not redacted: %s", s)
		}
	}
	if !strings.Contains(string(first.Attributes), `"owner":"Dana"`) || !strings.Contains(string(first.Attributes), "https://runbooks.example/disk") {
		t.Errorf("labels or clean annotations changed: %s", first.Attributes)
	}
	if len(m.Alerts[1].Annotations) != 1 {
		t.Fatal("clean annotations lost")
	}
	m.Alerts[1].Annotations["probe"] = "x" // the same map, not a copy
	if clean["probe"] != "x" {
		t.Error("annotations with nothing to replace were copied")
	}
}
