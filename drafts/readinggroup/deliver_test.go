package readinggroup_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/emersion/go-ical"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/drafts/readinggroup"
	"github.com/postmortemd/postmortemd/drafts/review"
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
