package receiver

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

// TestLargeDeliveryKeepsEverything delivers a body above largeBody: it is stored whole, and the
// process's memory limit is back to what it was.
func TestLargeDeliveryKeepsEverything(t *testing.T) {
	hs := newHarness(t, Options{})
	before := debug.SetMemoryLimit(-1)
	text := strings.Repeat("disk full on the checkout database replica ", largeBody/44+1000)
	body := `{"version":"4","groupKey":"{}:{alertname=\"Big\"}","status":"firing","receiver":"pm",
		"alerts":[{"status":"firing","labels":{"alertname":"Big"},"startsAt":"2026-11-23T13:00:00Z",
		"annotations":{"description":"` + text + `"}}]}`
	if len(body) < largeBody {
		t.Fatalf("body of %d bytes is not large", len(body))
	}
	resp, err := hs.post([]byte(body), nil)
	if err != nil || resp.Appended != 1 {
		t.Fatalf("delivery: %+v, %v", resp, err)
	}
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Errorf("memory limit %d after the delivery, %d before", after, before)
	}
	events := hs.events(resp.IncidentID)
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	var attrs struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(events[0].Attributes, &attrs); err != nil || attrs.Annotations["description"] != text {
		t.Errorf("the annotation was not stored whole (%d of %d bytes): %v", len(attrs.Annotations["description"]), len(text), err)
	}
}
