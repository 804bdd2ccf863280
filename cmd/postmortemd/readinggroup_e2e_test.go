package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// Two replicas on one real Redis and one drafts directory, during a reading-group session: both
// answer the same session with the recommended postmortem, recorded once, and the session is a
// VEVENT of /calendar.ics with the postmortem's link.
func TestE2E_ReadingGroupSession(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	clk := &e2eClock{t: time.Date(2026, 12, 10, 15, 20, 0, 0, tokyo)} // 20 minutes into the Thursday session
	clockHook = clk.now
	t.Cleanup(func() { clockHook = nil })

	rds := testenv.StartRedis(t)
	dav := testenv.StartRadicale(t)
	smtp := testenv.StartSMTP(t, testenv.SMTPConfig{})
	dir := t.TempDir()
	story, err := os.ReadFile("../../drafts/testdata/story.en.md")
	if err != nil {
		t.Fatal(err)
	}
	story = bytes.Replace(story, []byte("recommended: false\n"), []byte("recommended: true\nrecommended_reason: \"How a cache stampede looks from the outside.\"\n"), 1)
	draftsDir := filepath.Join(dir, "drafts")
	if err := os.MkdirAll(draftsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(draftsDir, "20261123-highlatency.md"), story, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "postmortemd.yml")
	cfg := fmt.Sprintf(`review:
  base_url: https://postmortemd.example.com
  organizer: postmortems@example.com
  caldav:
    url: %s
    username: %s
    password: %s
  smtp:
    addr: %s
    starttls: none
reading_group:
  rrule: FREQ=WEEKLY;BYDAY=TH
  start: "2026-12-03T15:00"
  time_zone: Asia/Tokyo
  invite: [newcomers@example.com]
`, dav.CalendarURL(), testenv.RadicaleUser, testenv.RadicalePassword, smtp.Addr())
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var bases []string
	for range 2 {
		base, _, _ := startRun(t, "--config", cfgFile, "--redis-url", rds.URL(), "--drafts-dir", draftsDir)
		bases = append(bases, base)
	}
	get := func(url string) []byte {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
		}
		return b
	}
	type session struct {
		UID         string    `json:"uid"`
		Start       time.Time `json:"start"`
		Started     bool      `json:"started"`
		InviteCount int       `json:"invite_count"`
		Postmortems []struct {
			ID, URL           string
			RecommendedReason string `json:"recommended_reason"`
		} `json:"postmortems"`
	}
	var answers []string
	for _, base := range bases {
		var rg struct {
			PerSession  int      `json:"per_session"`
			NextSession *session `json:"next_session"`
		}
		if err := json.Unmarshal(get(base+"/api/v1/reading-group"), &rg); err != nil {
			t.Fatal(err)
		}
		s := rg.NextSession
		if s == nil || !s.Started || !s.Start.Equal(time.Date(2026, 12, 10, 15, 0, 0, 0, tokyo)) || rg.PerSession != 3 || s.InviteCount != 1 ||
			len(s.Postmortems) != 1 || s.Postmortems[0].ID != "20261123-highlatency-5eed0001" ||
			s.Postmortems[0].URL != "https://postmortemd.example.com/postmortems/20261123-highlatency-5eed0001" {
			t.Fatalf("reading group: %+v", rg)
		}
		answers = append(answers, fmt.Sprintf("%+v", *s))
	}
	if answers[0] != answers[1] {
		t.Fatalf("replicas disagree:\n%s\n%s", answers[0], answers[1])
	}
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr()})
	defer rdb.Close()
	if n, err := rdb.HLen(t.Context(), "{pm}:rg").Result(); err != nil || n != 1 {
		t.Fatalf("recorded sessions: %d, %v", n, err)
	}

	feed := get(bases[1] + "/calendar.ics")
	cal, err := ical.NewDecoder(bytes.NewReader(feed)).Decode()
	if err != nil {
		t.Fatalf("calendar does not parse: %v\n%s", err, feed)
	}
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("feed has %d events:\n%s", len(evs), feed)
	}
	desc, _ := evs[0].Props.Text(ical.PropDescription)
	if !strings.Contains(desc, "https://postmortemd.example.com/postmortems/20261123-highlatency-5eed0001") ||
		!strings.Contains(desc, "cache stampede") || strings.Contains(string(feed), "newcomers@example.com") {
		t.Fatalf("session description:\n%s", desc)
	}

	// The session ends: the next one's invitation goes to Radicale and by e-mail, once, though
	// both replicas sweep.
	clk.set(time.Date(2026, 12, 10, 16, 30, 0, 0, tokyo))
	nextUID := "reading-group-20261217T060000Z@postmortemd"
	e2eEventually(t, 20*time.Second, "the next session's invitation e-mail", func() error {
		if len(smtp.Messages()) == 0 {
			return fmt.Errorf("no mail")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a few more sweeps of both replicas
	msgs := smtp.Messages()
	if len(msgs) != 1 || strings.Join(msgs[0].RcptTo, ",") != "newcomers@example.com" ||
		!strings.Contains(string(msgs[0].Data), "Subject: Postmortem reading group") ||
		!strings.Contains(string(msgs[0].Data), "text/calendar; charset=UTF-8; method=REQUEST") {
		t.Fatalf("%d e-mails, want one to newcomers@example.com for %s:\n%s", len(msgs), nextUID, msgs[0].Data)
	}
	req, _ := http.NewRequest(http.MethodGet, dav.CalendarURL(), nil)
	req.SetBasicAuth(testenv.RadicaleUser, testenv.RadicalePassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// The session that was running when the replicas started is there too, with its final list.
	if !strings.Contains(string(b), "UID:"+nextUID) || !strings.Contains(string(b), "UID:reading-group-20261210T060000Z@postmortemd") {
		t.Fatalf("the Radicale calendar lacks the next session:\n%s", b)
	}

	// Without a reading_group block the API says how to configure one.
	base, _, _ := startRun(t)
	res, err = http.Get(base + "/api/v1/reading-group")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "reading_group") {
		t.Fatalf("unconfigured: %d %s", res.StatusCode, b)
	}
}

// The README's reading-group example is a configuration that loads and validates.
func TestReadmeReadingGroupExampleLoads(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "### Reading group\n")
	if !ok {
		t.Fatal("README.md has no Reading group section")
	}
	_, block, _ := strings.Cut(section, "```yaml\n")
	block, _, _ = strings.Cut(block, "```\n")
	cfg := defaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(block))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode:\n%s\n%v", block, err)
	}
	if err := cfg.Validate(); err != nil || cfg.ReadingGroup.PerSession != 3 || len(cfg.ReadingGroup.Invite) != 2 {
		t.Fatalf("validate: %v (%+v)", err, cfg.ReadingGroup)
	}
}
