package main

import (
	"encoding/json"
	"fmt"
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

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// Two postmortemd processes share a drafts directory and a real Redis; one is restarted in
// between. A Slack-format receiver gets each action item's reminder exactly once per threshold.
func TestActionItemRemindersEndToEnd(t *testing.T) {
	e2eTest(t)
	redis := testenv.StartRedis(t)
	var mu sync.Mutex
	var texts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Text   string            `json:"text"`
			Blocks []json.RawMessage `json:"blocks"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil || body.Text == "" || len(body.Blocks) == 0 {
			http.Error(w, "not a Slack message", http.StatusBadRequest)
			return
		}
		mu.Lock()
		texts = append(texts, body.Text)
		mu.Unlock()
	}))
	defer hook.Close()
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Sorted(slices.Values(texts))
	}

	dir := t.TempDir()
	day := func(n int) string { return time.Now().UTC().AddDate(0, 0, n).Format(time.DateOnly) }
	doc := fmt.Sprintf(`---
id: pm-e2e-actions
title: Queue backlog
status: reviewed
---

## 5. Action items

| Action | Owner (role) | Due | Horizon | Status | Agreed reason |
| --- | --- | --- | --- | --- | --- |
| Alert on queue depth | database on-call | %s | short | open | |
| Drain runbook | database on-call | %s | short | open | |
| Managed broker | platform team | %s | long | open | |
| Retire the old path | platform team | %s | long | won't do | replaced next year |
`, day(2), day(0), day(-2), day(-5))
	if err := os.WriteFile(filepath.Join(dir, "pm-e2e-actions.md"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("{pm-e2e-ai-%d}", time.Now().UnixNano())
	args := []string{"--redis-url", redis.URL(), "--redis-key-prefix", prefix, "--drafts-dir", dir,
		"--action-items-sweep", "200ms", "--action-items-webhook", hook.URL, "--action-items-timezone", "UTC"}
	a := startE2EService(t, "", args...)
	b := startE2EService(t, "", args...)
	want := []string{
		"Action item due on " + day(2) + ": Alert on queue depth",
		"Action item due today (" + day(0) + "): Drain runbook",
		"Action item overdue since " + day(-2) + ": Managed broker",
	}
	slices.Sort(want)
	e2eEventually(t, 15*time.Second, "three reminders", func() error {
		if got := received(); len(got) < 3 {
			return fmt.Errorf("received %q", got)
		}
		return nil
	})
	b.stop(t)
	b = startE2EService(t, "", args...)
	// Let both replicas sweep several times more.
	time.Sleep(1500 * time.Millisecond)
	if got := received(); !slices.Equal(got, want) {
		t.Fatalf("received %q, want each once: %q", got, want)
	}
	var list struct {
		Total       int `json:"total"`
		ActionItems []struct {
			Action  string `json:"action"`
			Overdue bool   `json:"overdue"`
		} `json:"action_items"`
	}
	if err := b.getJSON("/api/v1/action-items?status=open", &list); err != nil {
		t.Fatal(err)
	}
	if list.Total != 3 || !list.ActionItems[0].Overdue || list.ActionItems[0].Action != "Managed broker" {
		t.Errorf("open items: %+v", list)
	}
	overdue := a.mustMetric(t, "postmortemd_action_items_overdue", nil)
	sent := a.mustMetric(t, "postmortemd_action_item_reminders_total", map[string]string{"result": "sent"}) +
		b.mustMetric(t, "postmortemd_action_item_reminders_total", map[string]string{"result": "sent"})
	if overdue != 1 || sent > 3 {
		t.Errorf("metrics: overdue %v, sent (by the running replicas) %v", overdue, sent)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "pm-e2e-actions.md"))
	if n := strings.Count(string(raw), "<!-- action-item id="); n != 4 {
		t.Errorf("%d ids pinned in the document, want 4:\n%s", n, raw)
	}
}
