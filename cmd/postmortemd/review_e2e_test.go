package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// e2eClock is the fake clock the review e2e test moves.
type e2eClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *e2eClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *e2eClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// lastFridayInTokyo is 17:50 on a Friday in Tokyo at least a week before now, so Alertmanager (on
// the real clock) takes the resolution as past.
func lastFridayInTokyo(t *testing.T, loc *time.Location) time.Time {
	t.Helper()
	d := time.Now().In(loc).AddDate(0, 0, -7)
	for d.Weekday() != time.Friday {
		d = d.AddDate(0, 0, -1)
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 17, 50, 0, 0, loc)
}

// The done-when: a real Alertmanager incident that resolves at 17:50 on a Friday in
// Asia/Tokyo, with the Monday a holiday, gets one review on Tuesday inside working hours; the draft
// says why it is past 24h; everyone is invited; the meeting is in the feed, in Radicale and in the
// e-mail.
func TestE2E_ReviewOfAFridayEveningIncidentInTokyo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	resolved := lastFridayInTokyo(t, tokyo)
	monday := resolved.AddDate(0, 0, 3)
	tuesday10 := time.Date(monday.Year(), monday.Month(), monday.Day()+1, 10, 0, 0, 0, tokyo)

	clk := &e2eClock{t: resolved.Add(-time.Hour)}
	clockHook = clk.now
	t.Cleanup(func() { clockHook = nil })

	rds := testenv.StartRedis(t)
	dav := testenv.StartRadicale(t)
	smtp := testenv.StartSMTP(t, testenv.SMTPConfig{})

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "postmortemd.yml")
	cfg := fmt.Sprintf(`review:
  time_zone: Asia/Tokyo
  holidays: [%q]
  organizer: postmortems@example.com
  base_url: https://postmortemd.example.com
  owners:
    labels:
      team:
        payments: [payments-team@example.com]
    always: [sre-leads@example.com]
  caldav:
    url: %s
    username: %s
    password: %s
  smtp:
    addr: %s
    starttls: none
`, monday.Format(time.DateOnly), dav.CalendarURL(), testenv.RadicaleUser, testenv.RadicalePassword, smtp.Addr())
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	drafts := filepath.Join(dir, "drafts")
	base, _, log := startRun(t, "--config", cfgFile, "--redis-url", rds.URL(), "--resolve-grace", "0s", "--drafts-dir", drafts)

	am := testenv.StartAlertmanager(t, testenv.AlertmanagerConfig{
		Receivers: []testenv.WebhookReceiver{{Name: "sre.postmortemd", URL: base + "/webhook/alertmanager", SendResolved: true}},
	})
	alert := testenv.Alert{
		Labels:      map[string]string{"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical", "team": "payments"},
		Annotations: map[string]string{"summary": "checkout error ratio above 5%"},
		StartsAt:    resolved.Add(-40 * time.Minute).UTC(),
	}
	post := func(a testenv.Alert) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := am.PostAlerts(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	getJSON := func(path string, v any) (int, error) {
		res, err := http.Get(base + path)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return res.StatusCode, nil
		}
		return res.StatusCode, json.NewDecoder(res.Body).Decode(v)
	}
	type incident struct {
		ID         string     `json:"id"`
		Status     string     `json:"status"`
		ResolvedAt *time.Time `json:"resolved_at"`
	}
	var incs struct {
		Incidents []incident `json:"incidents"`
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", log)
		}
	})
	eventually := func(t *testing.T, what string, cond func() error) {
		t.Helper()
		e2eEventually(t, 20*time.Second, what, cond)
	}

	clk.set(alert.StartsAt.Add(time.Minute))
	post(alert)
	eventually(t, "the firing alert opens an incident", func() error {
		if _, err := getJSON("/api/v1/incidents", &incs); err != nil {
			return err
		}
		if len(incs.Incidents) != 1 {
			return fmt.Errorf("incidents %+v", incs.Incidents)
		}
		return nil
	})
	clk.set(resolved.Add(2 * time.Minute)) // the resolution arrives at 17:52 on the Friday
	alert.EndsAt = resolved.UTC()
	post(alert)
	id := incs.Incidents[0].ID
	eventually(t, "the incident resolves at 17:50", func() error {
		var inc incident
		if _, err := getJSON("/api/v1/incidents/"+id, &inc); err != nil {
			return err
		}
		if inc.Status != "resolved" || inc.ResolvedAt == nil || !inc.ResolvedAt.Equal(resolved) {
			return fmt.Errorf("incident %+v", inc)
		}
		return nil
	})

	var rev struct {
		Start         time.Time `json:"start"`
		End           time.Time `json:"end"`
		TimeZone      string    `json:"time_zone"`
		Status        string    `json:"status"`
		AttendeeCount int       `json:"attendee_count"`
		Reason        string    `json:"reason"`
		UID           string    `json:"uid"`
		Delivery      map[string]struct {
			State string `json:"state"`
		} `json:"delivery"`
	}
	eventually(t, "one review, delivered by CalDAV and e-mail", func() error {
		code, err := getJSON("/api/v1/incidents/"+id+"/review", &rev)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("GET review: %d %v", code, err)
		}
		if rev.Delivery["caldav"].State != "delivered" || rev.Delivery["email"].State != "delivered" {
			return fmt.Errorf("delivery %+v", rev.Delivery)
		}
		return nil
	})
	if !rev.Start.Equal(tuesday10) || !rev.End.Equal(tuesday10.Add(time.Hour)) || rev.TimeZone != "Asia/Tokyo" || rev.Status != "scheduled" {
		t.Errorf("review %+v, want scheduled %s–11:00 Asia/Tokyo", rev, tuesday10)
	}
	if rev.AttendeeCount != 2 {
		t.Errorf("attendee_count = %d, want 2 (the team that owns it, the always-invited)", rev.AttendeeCount)
	}
	for _, s := range []string{"holiday Mon " + monday.Format(time.DateOnly), "first slot after the 24h deadline"} {
		if !strings.Contains(rev.Reason, s) {
			t.Errorf("reason %q does not say %q", rev.Reason, s)
		}
	}
	localStart := "DTSTART;TZID=Asia/Tokyo:" + tuesday10.Format("20060102T150405")

	t.Run("feed", func(t *testing.T) {
		res, err := http.Get(base + "/calendar.ics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), "UID:"+rev.UID) || !strings.Contains(string(b), localStart) ||
			strings.Contains(string(b), "payments-team@") || strings.Contains(string(b), "sre-leads@") {
			t.Errorf("feed (%s) lacks the meeting or names someone:\n%s", res.Header.Get("Content-Type"), b)
		}
	})
	t.Run("radicale", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, dav.CalendarURL(), nil)
		req.SetBasicAuth(testenv.RadicaleUser, testenv.RadicalePassword)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), "UID:"+rev.UID) || !strings.Contains(string(b), localStart) {
			t.Errorf("the Radicale calendar lacks the meeting:\n%s", b)
		}
	})
	t.Run("e-mail", func(t *testing.T) {
		var msgs []testenv.ReceivedMail
		eventually(t, "the invitation e-mail", func() error {
			if msgs = smtp.Messages(); len(msgs) == 0 {
				return fmt.Errorf("no mail")
			}
			return nil
		})
		if len(msgs) != 1 {
			t.Fatalf("%d e-mails, want 1", len(msgs))
		}
		m := msgs[0]
		rcpt := strings.Join(m.RcptTo, ",")
		data := strings.ReplaceAll(string(m.Data), "=\r\n", "")
		if !strings.Contains(rcpt, "payments-team@example.com") || !strings.Contains(rcpt, "sre-leads@example.com") ||
			!strings.Contains(strings.ToLower(data), "text/calendar; charset=utf-8; method=request") {
			t.Errorf("mail to %s:\n%s", rcpt, data)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		res, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, s := range []string{`postmortemd_review_changes_total{status="scheduled"} 1`,
			`postmortemd_review_deliveries_total{result="delivered",transport="caldav"} 1`,
			`postmortemd_review_deliveries_total{result="delivered",transport="email"} 1`} {
			if !strings.Contains(string(b), s) {
				t.Errorf("/metrics lacks %s", s)
			}
		}
	})
	t.Run("draft", func(t *testing.T) {
		eventually(t, "the draft shows the review", func() error {
			files, _ := filepath.Glob(filepath.Join(drafts, "*.md"))
			if len(files) != 1 {
				return fmt.Errorf("drafts %v", files)
			}
			b, err := os.ReadFile(files[0])
			if err != nil {
				return err
			}
			for _, s := range []string{"Scheduled for", "holiday Mon " + monday.Format(time.DateOnly), "first slot after the 24h deadline"} {
				if !strings.Contains(string(b), s) {
					return fmt.Errorf("draft lacks %q", s)
				}
			}
			if strings.Contains(string(b), "payments-team@") || strings.Contains(string(b), "sre-leads@") {
				return fmt.Errorf("the draft names someone")
			}
			return nil
		})
	})
}
