package readinggroup_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/emersion/go-ical"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/readinggroup"
	"github.com/postmortemd/postmortemd/drafts/review"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

func TestValidateNamesTheBadSetting(t *testing.T) {
	good := readinggroup.Config{RRule: "FREQ=WEEKLY;BYDAY=TH", Start: "2026-01-08T15:00", TimeZone: "Europe/Berlin"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*readinggroup.Config)
		want string
	}{
		{"bad rule", func(c *readinggroup.Config) { c.RRule = "FREQ=SOMETIMES" }, "reading_group.rrule"},
		{"no rule", func(c *readinggroup.Config) { c.RRule = "" }, "reading_group.rrule"},
		{"ended rule", func(c *readinggroup.Config) { c.RRule = "FREQ=WEEKLY;UNTIL=20250101T000000Z" }, "reading_group.rrule"},
		{"bad start", func(c *readinggroup.Config) { c.Start = "next thursday" }, "reading_group.start"},
		{"bad zone", func(c *readinggroup.Config) { c.TimeZone = "Mars/Olympus" }, "reading_group.time_zone"},
		{"bad invite", func(c *readinggroup.Config) { c.Invite = []string{"newcomers"} }, "reading_group.invite"},
		{"negative per_session", func(c *readinggroup.Config) { c.PerSession = -1 }, "reading_group.per_session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// library is a postmortem store's List over a fixed set.
type library struct {
	mu   sync.Mutex
	sums []drafts.Summary
}

func (l *library) List(q drafts.Query) ([]drafts.Summary, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []drafts.Summary
	for _, s := range l.sums {
		if q.Recommended == nil || s.Recommended == *q.Recommended {
			out = append(out, s)
		}
	}
	return out, nil
}

func (l *library) add(id string, day int, recommended bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	started := time.Date(2025, 12, day, 3, 0, 0, 0, time.UTC)
	l.sums = append(l.sums, drafts.Summary{ID: id, Title: "Outage " + id, Recommended: recommended,
		RecommendedReason: "Why " + id, Started: &started})
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

func ids(items []readinggroup.Item) string {
	var s []string
	for _, it := range items {
		s = append(s, it.ID)
	}
	return strings.Join(s, ",")
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	store := redisstore.New(rdb, redisstore.Options{})
	berlin, _ := time.LoadLocation("Europe/Berlin")

	lib := &library{}
	for i, id := range []string{"a", "b", "c", "d"} { // a is the oldest incident, d the newest
		lib.add(id, i+1, true)
	}
	lib.add("x", 20, false) // not recommended: never read

	clk := &clock{now: time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC)}
	cfg := readinggroup.Config{RRule: "RRULE:FREQ=WEEKLY;BYDAY=TH", Start: "2026-01-08T15:00", TimeZone: "Europe/Berlin",
		PerSession: 2, Invite: []string{"newcomers@example.com"}}
	newGroup := func(p readinggroup.Postmortems) *readinggroup.Group {
		g, err := readinggroup.New(readinggroup.Options{Config: cfg, Postmortems: p, Store: store,
			BaseURL: "https://pm.example.com/", Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g := newGroup(lib)

	// The next session is Thursday 2 April at 15:00 in Berlin, after the clocks went forward: 13:00 UTC.
	s, ok, err := g.Next(ctx)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if want := time.Date(2026, 4, 2, 15, 0, 0, 0, berlin); !s.Start.Equal(want) || s.Start.UTC().Hour() != 13 || s.End.Sub(s.Start) != time.Hour {
		t.Fatalf("next session %v-%v, want %v for an hour", s.Start, s.End, want)
	}
	if s.Started || ids(s.Postmortems) != "d,c" || s.InviteCount != 1 {
		t.Fatalf("planned session: started %v, postmortems %s, invited %d; want the two newest recommended", s.Started, ids(s.Postmortems), s.InviteCount)
	}
	if s.Postmortems[0].URL != "https://pm.example.com/postmortems/d" || s.Postmortems[0].RecommendedReason != "Why d" {
		t.Fatalf("item %+v", s.Postmortems[0])
	}

	// The session starts; two replicas record it at once, one of them not yet seeing a postmortem
	// recommended a moment ago. Both end up with one record.
	clk.set(time.Date(2026, 4, 2, 13, 0, 30, 0, time.UTC))
	stale := &library{sums: append([]drafts.Summary{}, lib.sums...)}
	lib.add("e", 25, true)
	var wg sync.WaitGroup
	got := make([]string, 2)
	for i, p := range []readinggroup.Postmortems{lib, stale} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := newGroup(p).Record(ctx)
			if err != nil || s == nil {
				t.Error(s, err)
				return
			}
			got[i] = ids(s.Postmortems)
		}()
	}
	wg.Wait()
	if got[0] != got[1] {
		t.Fatalf("replicas recorded %q and %q", got[0], got[1])
	}
	cur, _, err := g.Next(ctx)
	if err != nil || !cur.Started || ids(cur.Postmortems) != got[0] {
		t.Fatalf("session in progress: %+v, %v; want started with %s", cur, err, got[0])
	}

	// After it, the next session reads what no earlier session covered, newest first.
	clk.set(time.Date(2026, 4, 3, 9, 0, 0, 0, time.UTC))
	next, _, err := g.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, id := range strings.Split(got[0], ",") {
		covered[id] = true
	}
	for _, it := range next.Postmortems {
		if covered[it.ID] || it.ID == "x" {
			t.Fatalf("next session %s repeats or reads a non-recommended postmortem (covered %s)", ids(next.Postmortems), got[0])
		}
	}
	if len(next.Postmortems) != 2 || !next.Start.Equal(time.Date(2026, 4, 9, 15, 0, 0, 0, berlin)) {
		t.Fatalf("next session %v with %s", next.Start, ids(next.Postmortems))
	}

	// The feed: the recorded session and the next one, as VEVENTs a calendar library reads.
	feed, err := review.Feed(nil, "Reviews", review.CalendarOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := g.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	feed, err = review.AddToFeed(feed, func(err error) { t.Error(err) }, evs...)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := ical.NewDecoder(bytes.NewReader(feed)).Decode()
	if err != nil {
		t.Fatalf("feed does not parse: %v\n%s", err, feed)
	}
	events := cal.Events()
	if len(events) != 2 {
		t.Fatalf("feed has %d events, want 2:\n%s", len(events), feed)
	}
	ev := events[1]
	start, err := ev.DateTimeStart(time.UTC)
	desc, _ := ev.Props.Text(ical.PropDescription)
	summary, _ := ev.Props.Text(ical.PropSummary)
	uid, _ := ev.Props.Text(ical.PropUID)
	if err != nil || !start.Equal(next.Start) || uid != next.UID || summary != "Postmortem reading group" {
		t.Fatalf("event: start %v (%v), uid %s, summary %q", start, err, uid, summary)
	}
	for _, it := range next.Postmortems {
		if !strings.Contains(desc, "https://pm.example.com/postmortems/"+it.ID) || !strings.Contains(desc, "Outage "+it.ID) {
			t.Errorf("description lacks %s:\n%s", it.ID, desc)
		}
	}
	if strings.Contains(string(feed), "newcomers@example.com") {
		t.Error("the public feed names an invited address")
	}
}
