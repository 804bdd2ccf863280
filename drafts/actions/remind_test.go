package actions_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/actions"
	"github.com/postmortemd/postmortemd/drafts/review"
	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/notify"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// receiver is a real HTTP endpoint that answers 503 to its first request and records the others.
type receiver struct {
	mu       sync.Mutex
	failNext int
	got      []actions.ReminderData
	keys     []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.failNext > 0 {
		rc.failNext--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var d actions.ReminderData
	if err := json.Unmarshal(b, &d); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, d)
	rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
}

// received returns "action|threshold" of every reminder received, sorted.
func (rc *receiver) received() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, d := range rc.got {
		out = append(out, d.Item.Action+"|"+string(d.Threshold))
	}
	slices.Sort(out)
	return out
}

type webhookAnnouncer struct{ w *notify.Webhook }

func (a webhookAnnouncer) Announce(ctx context.Context, an actions.Announcement) error {
	return a.w.Send(ctx, notify.Message{Key: an.Key, Text: an.Text, Data: an.Data})
}

const remindDoc = `---
id: pm-remind
title: Queue backlog
status: reviewed
---

# Postmortem: Queue backlog

## 5. Action items

| Action | Owner (role) | Due | Horizon | Status | Agreed reason |
| --- | --- | --- | --- | --- | --- |
| Alert on queue depth | database on-call | 2026-12-05 | short | open | |
| Drain runbook | database on-call | 2026-12-03 | short | open | |
| Managed broker | platform team | 2026-12-01 | long | open | |
| Page the secondary | incident commander | 2026-11-30 | short | done | |
| Far away | platform team | 2027-03-01 | long | open | |
`

// Two replicas sweep the same postmortems on the same Redis, one is restarted between sweeps, and
// the webhook fails once: every reminder reaches the receiver exactly once per threshold, the
// owner's and the facilitator's mail arrive once, and the metrics count what happened.
func TestRemindersOncePerThresholdAcrossReplicasAndARestart(t *testing.T) {
	for _, backend := range []string{"miniredis", "redis-server"} {
		t.Run(backend, func(t *testing.T) {
			var newClient func() redis.UniversalClient
			if backend == "miniredis" {
				mr := miniredis.RunT(t)
				newClient = func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) }
			} else {
				srv := testenv.StartRedis(t)
				opt, err := redis.ParseURL(srv.URL())
				if err != nil {
					t.Fatal(err)
				}
				newClient = func() redis.UniversalClient { return redis.NewClient(opt) }
			}
			testReminders(t, newClient)
		})
	}
}

func testReminders(t *testing.T, newClient func() redis.UniversalClient) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pm-remind.md"), []byte(remindDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	rc := &receiver{failNext: 1}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	smtp := testenv.StartSMTP(t, testenv.SMTPConfig{})
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC) // 10:00 in Tokyo, a Thursday
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	// replica starts one postmortemd replica: its own Redis client, drafts store, webhook, mailer
	// and metrics.
	replica := func() (*actions.Reminders, *prometheus.Registry) {
		rdb := newClient()
		t.Cleanup(func() { rdb.Close() })
		store := redisstore.New(rdb, redisstore.Options{})
		wh, err := notify.NewWebhook(notify.WebhookOptions{URL: hook.URL, Format: notify.FormatJSON})
		if err != nil {
			t.Fatal(err)
		}
		ml, err := review.NewMailer(review.MailOptions{Addr: smtp.Addr(), From: "postmortemd@example.org", StartTLS: review.StartTLSNone})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		r, err := actions.NewReminders(actions.ReminderOptions{Documents: &drafts.Store{Dir: dir}, Claims: store,
			Webhook: webhookAnnouncer{wh}, Mailer: ml, Location: tokyo, Now: clock, Registerer: reg, BaseURL: "https://pm.example.org",
			Addresses: func(role string) []string {
				return map[string][]string{"database on-call": {"db-oncall@example.org"}, "facilitator": {"sre-lead@example.org"}}[role]
			},
			Permanent: func(err error) bool {
				return errors.Is(err, notify.ErrPermanent) || errors.Is(err, review.ErrPermanent)
			}})
		if err != nil {
			t.Fatal(err)
		}
		return r, reg
	}
	sweepBoth := func(a, b *actions.Reminders) {
		var wg sync.WaitGroup
		for _, r := range []*actions.Reminders{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); _ = r.Sweep(context.Background()) }()
		}
		wg.Wait()
	}
	r1, reg1 := replica()
	r2, reg2 := replica()
	sweepBoth(r1, r2)
	failed := counterValue(t, reg1, "failed", "") + counterValue(t, reg2, "failed", "")
	if failed != 1 {
		t.Errorf("failed deliveries counted %v, want 1", failed)
	}
	// Replica 2 restarts; after the backoff both sweep again, twice.
	r2, reg2b := replica()
	advance(time.Minute)
	sweepBoth(r1, r2)
	advance(time.Minute)
	sweepBoth(r1, r2)
	want := []string{"Alert on queue depth|due_soon", "Drain runbook|due_today", "Managed broker|overdue"}
	if got := rc.received(); !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
	// Two days later (Saturday in Tokyo) the next thresholds come, each once.
	advance(48 * time.Hour)
	sweepBoth(r1, r2)
	sweepBoth(r1, r2)
	want = []string{"Alert on queue depth|due_soon", "Alert on queue depth|due_today", "Drain runbook|due_today", "Drain runbook|overdue",
		"Managed broker|overdue"}
	if got := rc.received(); !slices.Equal(got, want) {
		t.Errorf("received %q, want %q", got, want)
	}
	if keys := slices.Compact(slices.Sorted(slices.Values(rc.keys))); len(keys) != len(want) {
		t.Errorf("idempotency keys %q: want one per reminder", rc.keys)
	}
	sent := 0.0
	for _, reg := range []*prometheus.Registry{reg1, reg2, reg2b} {
		sent += counterValue(t, reg, "sent", "")
	}
	// Webhook: 5; e-mail to the database on-call: 4 (its items); digest: 1.
	if sent != 10 {
		t.Errorf("sent reminders counted %v, want 10", sent)
	}
	if v := gaugeValue(t, reg1, "postmortemd_action_items_overdue"); v != 2 {
		t.Errorf("overdue gauge %v, want 2", v)
	}
	var mails []string
	for _, m := range smtp.Messages() {
		subject := ""
		for _, l := range strings.Split(string(m.Data), "\n") {
			if strings.HasPrefix(l, "Subject: ") {
				subject = strings.TrimSpace(strings.TrimPrefix(l, "Subject: "))
			}
		}
		mails = append(mails, strings.Join(m.RcptTo, ",")+"|"+subject)
	}
	slices.Sort(mails)
	wantMails := []string{
		"db-oncall@example.org|Action item due on 2026-12-05: Alert on queue depth",
		"db-oncall@example.org|Action item due today (2026-12-03): Drain runbook",
		"db-oncall@example.org|Action item due today (2026-12-05): Alert on queue depth",
		"db-oncall@example.org|Action item overdue since 2026-12-03: Drain runbook",
		"sre-lead@example.org|1 overdue action items to renegotiate (week 2026-W49)",
	}
	if !slices.Equal(mails, wantMails) {
		t.Errorf("mails:\n%s\nwant\n%s", strings.Join(mails, "\n"), strings.Join(wantMails, "\n"))
	}
	// The sweep pinned the items' ids into the document.
	b, _ := os.ReadFile(filepath.Join(dir, "pm-remind.md"))
	if strings.Count(string(b), "<!-- action-item id=") != 5 {
		t.Errorf("ids not pinned:\n%s", b)
	}
}

// counterValue sums postmortemd_action_item_reminders_total{result} over thresholds.
func counterValue(t *testing.T, reg *prometheus.Registry, result, threshold string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "postmortemd_action_item_reminders_total" {
			continue
		}
		for _, m := range mf.Metric {
			ok := true
			for _, l := range m.Label {
				if l.GetName() == "result" && l.GetValue() != result || threshold != "" && l.GetName() == "threshold" && l.GetValue() != threshold {
					ok = false
				}
			}
			if ok {
				sum += m.Counter.GetValue()
			}
		}
	}
	return sum
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.Metric[0].Gauge.GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
