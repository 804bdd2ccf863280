package readinggroup_test

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/emersion/go-ical"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/drafts/readinggroup"
	"github.com/postmortemd/postmortemd/drafts/review"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// transport records what it delivers; it fails while failures > 0.
type transport struct {
	name     string
	mu       sync.Mutex
	failures int
	got      []review.Message
}

func (t *transport) Name() string { return t.name }
func (t *transport) Deliver(_ context.Context, m review.Message) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures > 0 {
		t.failures--
		return errors.New("connection refused")
	}
	t.got = append(t.got, m)
	return nil
}

func TestInvitationDeliveredOncePerTransport(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	store := redisstore.New(rdb, redisstore.Options{})
	lib := &library{}
	lib.add("a", 1, true)
	clk := &clock{now: time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC)}
	cfg := readinggroup.Config{RRule: "FREQ=WEEKLY;BYDAY=TH", Start: "2026-01-08T15:00", TimeZone: "Europe/Berlin",
		Invite: []string{"newcomers@example.com", "mentors@example.com"}}
	caldav, email := &transport{name: "caldav", failures: 1}, &transport{name: "email"}
	d := readinggroup.Delivery{Transports: []review.Transport{caldav, email}, Claims: store, Organizer: "postmortems@example.com"}
	var groups []*readinggroup.Group
	for range 2 { // two replicas
		g, err := readinggroup.New(readinggroup.Options{Config: cfg, Postmortems: lib, Store: store,
			BaseURL: "https://pm.example.com", Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, g)
	}
	for _, g := range groups {
		if err := g.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if len(email.got) != 1 || len(caldav.got) != 0 {
		t.Fatalf("first sweep: %d e-mails, %d CalDAV puts; want 1 and 0 (CalDAV failed once)", len(email.got), len(caldav.got))
	}
	// The CalDAV retry is due after its backoff, on either replica; nothing is sent twice.
	clk.set(clk.Now().Add(time.Minute))
	for _, g := range groups {
		if err := g.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if len(email.got) != 1 || len(caldav.got) != 1 {
		t.Fatalf("after the retry: %d e-mails, %d CalDAV puts; want one each", len(email.got), len(caldav.got))
	}
	// At the start, the final list goes to the shared calendar once more, not by e-mail.
	clk.set(time.Date(2026, 4, 2, 13, 1, 0, 0, time.UTC))
	for _, g := range groups {
		if err := g.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if len(email.got) != 1 || len(caldav.got) != 2 || caldav.got[1].Sequence != 1 || caldav.got[1].UID != caldav.got[0].UID {
		t.Fatalf("at the start: %d e-mails, CalDAV %+v", len(email.got), caldav.got)
	}
	m := email.got[0]
	if len(m.Recipients) != 2 || m.Method != "REQUEST" || m.Organizer != "mailto:postmortems@example.com" {
		t.Fatalf("message %+v", m)
	}
	cal, err := ical.NewDecoder(bytes.NewReader(m.Calendar)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	evs := cal.Events()
	if len(evs) != 1 || len(evs[0].Props.Values(ical.PropAttendee)) != 2 {
		t.Fatalf("invitation:\n%s", m.Calendar)
	}
	if start, err := evs[0].DateTimeStart(time.UTC); err != nil || !start.Equal(time.Date(2026, 4, 2, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("invitation starts %v, %v", start, err)
	}
}

// A Japanese team's reading group (--draft-lang ja): the invitation's title, text and calendar
// event are Japanese; the postmortems' titles, reasons and links stay as written.
func TestJapaneseInvitation(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	store := redisstore.New(rdb, redisstore.Options{})
	lib := &library{}
	lib.add("a", 1, true)
	clk := &clock{now: time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC)}
	cfg := readinggroup.Config{RRule: "FREQ=WEEKLY;BYDAY=TH", Start: "2026-01-08T15:00", TimeZone: "Asia/Tokyo",
		Invite: []string{"newcomers@example.com"}}
	email := &transport{name: "email"}
	g, err := readinggroup.New(readinggroup.Options{Config: cfg, Postmortems: lib, Store: store,
		BaseURL: "https://pm.example.com", Lang: i18n.Japanese, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Deliver(ctx, readinggroup.Delivery{Transports: []review.Transport{email}, Claims: store}); err != nil {
		t.Fatal(err)
	}
	if len(email.got) != 1 {
		t.Fatalf("%d e-mails, want 1", len(email.got))
	}
	m := email.got[0]
	if m.Lang != "ja" || m.Summary != "ポストモーテム輪読会" {
		t.Errorf("language %q, subject %q", m.Lang, m.Summary)
	}
	for _, want := range []string{"輪読会: おすすめのポストモーテムを一緒に読み", "事前に読んでおくもの:\n1. Outage a\n   読む理由: Why a\n   https://pm.example.com/postmortems/a"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if english := regexp.MustCompile(`(?i)\b(reading group|read before|recommended postmortems|session)\b`).FindAllString(m.Text, -1); len(english) > 0 {
		t.Errorf("the Japanese text keeps postmortemd's English %q:\n%s", english, m.Text)
	}
	cal, err := ical.NewDecoder(bytes.NewReader(m.Calendar)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	desc := cal.Events()[0].Props.Get(ical.PropDescription)
	if desc == nil || desc.Params.Get("LANGUAGE") != "ja" || !strings.Contains(desc.Value, "事前に読んでおくもの") {
		t.Errorf("calendar description %+v", desc)
	}
}
