package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
)

// amFiring is an Alertmanager notification of one alert, as a real Alertmanager sends it.
func amFiring(alertname, summary string, startsAt, endsAt time.Time) []byte {
	status := "firing"
	if !endsAt.IsZero() {
		status = "resolved"
	}
	labels := map[string]string{"alertname": alertname, "severity": "critical"}
	msg := map[string]any{
		"receiver": "postmortemd", "status": status, "version": "4", "externalURL": "http://127.0.0.1:19093",
		"groupKey": fmt.Sprintf("{}:{alertname=%q}", alertname), "truncatedAlerts": 0,
		"groupLabels": map[string]string{"alertname": alertname}, "commonLabels": labels,
		"commonAnnotations": map[string]string{"summary": summary},
		"alerts": []map[string]any{{"status": status, "labels": labels, "annotations": map[string]string{"summary": summary},
			"startsAt": startsAt, "endsAt": endsAt, "fingerprint": fmt.Sprintf("%016x", len(alertname)), "generatorURL": ""}},
	}
	b, _ := json.Marshal(msg)
	return b
}

// The defect as a subscriber met it: one alert whose name carries a carriage return made
// /calendar.ics and every review.ics answer 500. Now both answer 200 with every meeting, and a
// real iCalendar parser reads them.
func TestCalendarFeedSurvivesATitleWithACarriageReturn(t *testing.T) {
	clockHook = time.Now // sweep often
	t.Cleanup(func() { clockHook = nil })
	base, _, log := startRun(t, "--resolve-grace", "0s")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", log)
		}
	})
	post := func(body []byte) {
		t.Helper()
		res, err := http.Post(base+"/webhook/alertmanager", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("webhook: %d %s", res.StatusCode, b)
		}
	}
	start := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	end := start.Add(time.Hour)
	for _, name := range []string{"DiskFull\r", "Checkout\r\nLatency", "PlainAlert"} {
		post(amFiring(name, "summary of "+name, start, time.Time{}))
		post(amFiring(name, "summary of "+name, start, end))
	}
	var feed *ical.Calendar
	e2eEventually(t, 20*time.Second, "three reviews in /calendar.ics", func() error {
		res, err := http.Get(base + "/calendar.ics")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /calendar.ics: %d %s", res.StatusCode, b)
		}
		cal, err := ical.NewDecoder(bytes.NewReader(b)).Decode()
		if err != nil {
			return fmt.Errorf("parse: %w\n%s", err, b)
		}
		if n := len(cal.Events()); n != 3 {
			return fmt.Errorf("%d events", n)
		}
		feed = cal
		return nil
	})
	var titles []string
	for _, ev := range feed.Events() {
		s, err := ev.Props.Text(ical.PropSummary)
		if err != nil {
			t.Fatal(err)
		}
		titles = append(titles, s)
	}
	if all := strings.Join(titles, "|"); !strings.Contains(all, "DiskFull") || !strings.Contains(all, "PlainAlert") {
		t.Errorf("feed titles %q", titles)
	}

	var incs struct {
		Incidents []struct {
			ID string `json:"id"`
		} `json:"incidents"`
	}
	res, err := http.Get(base + "/api/v1/incidents?status=resolved")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(res.Body).Decode(&incs)
	res.Body.Close()
	if err != nil || len(incs.Incidents) != 3 {
		t.Fatalf("incidents: %+v %v", incs, err)
	}
	for _, inc := range incs.Incidents {
		res, err := http.Get(base + "/incidents/" + inc.ID + "/review.ics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("review.ics of %s: %d %s", inc.ID, res.StatusCode, b)
			continue
		}
		if cal, err := ical.NewDecoder(bytes.NewReader(b)).Decode(); err != nil || len(cal.Events()) != 1 {
			t.Errorf("review.ics of %s: %v\n%s", inc.ID, err, b)
		}
	}
}
