package review_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/drafts/review"
	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// incidents is an in-memory timeline.Reader the test edits.
type incidents struct {
	mu sync.Mutex
	m  map[string]timeline.Incident
}

func (f *incidents) set(inc timeline.Incident) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]timeline.Incident{}
	}
	f.m[inc.ID] = inc
}

func (f *incidents) Incident(_ context.Context, id string) (timeline.Incident, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inc, ok := f.m[id]
	if !ok {
		return inc, fmt.Errorf("incident %q: %w", id, timeline.ErrNotFound)
	}
	return inc, nil
}

func (f *incidents) Incidents(_ context.Context, o timeline.ListOptions) ([]timeline.Incident, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []timeline.Incident
	for _, inc := range f.m {
		if o.Status == "" || inc.Status == o.Status {
			out = append(out, inc)
		}
	}
	if o.Offset >= len(out) {
		return nil, nil
	}
	return out[o.Offset:], nil
}

func (f *incidents) Entries(context.Context, string) ([]timeline.Entry, error) { return nil, nil }

// participants is an in-memory timeline.Participants.
type participants map[string]map[string]timeline.Participant

func (p participants) Participants(_ context.Context, key string) (map[string]timeline.Participant, error) {
	return p[key], nil
}
func (p participants) SaveParticipants(context.Context, string, []timeline.Participant) error {
	return nil
}

// transport records what it is asked to deliver and fails while fail > 0.
type transport struct {
	name string
	mu   sync.Mutex
	got  []review.Message
	fail int
	// partial, when set, is returned after recording the message: it reached some recipients.
	partial error
}

func (t *transport) Name() string { return t.name }
func (t *transport) Deliver(_ context.Context, m review.Message) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fail > 0 {
		t.fail--
		return errors.New("connection refused")
	}
	t.got = append(t.got, m)
	return t.partial
}
func (t *transport) messages() []review.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]review.Message(nil), t.got...)
}

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func miniStore(t *testing.T) *redisstore.Store {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return redisstore.New(rdb, redisstore.Options{})
}

// newIncidents is a fake incident reader holding incs.
func newIncidents(incs ...timeline.Incident) *incidents {
	f := &incidents{}
	for _, inc := range incs {
		f.set(inc)
	}
	return f
}

// mustScheduler returns a Scheduler with o, on a fresh miniredis store when o has none.
func mustScheduler(t *testing.T, o review.Options) *review.Scheduler {
	t.Helper()
	if o.Store == nil {
		o.Store = miniStore(t)
	}
	s, err := review.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustSweep makes one sweep and fails the test on its error.
func mustSweep(t *testing.T, ctx context.Context, s *review.Scheduler) {
	t.Helper()
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
}

// fridayInTokyo is the done-when story: resolved Friday 17:50 in Tokyo, Monday a holiday.
func fridayInTokyo(t *testing.T) (timeline.Incident, review.Hours, time.Time) {
	tokyo := mustLoad(t, "Asia/Tokyo")
	resolved := time.Date(2026, 11, 20, 17, 50, 0, 0, tokyo).UTC()
	settles := resolved.Add(time.Minute)
	inc := timeline.Incident{ID: "inc-fri", Title: "Checkout latency", Status: timeline.StatusResolved, Severity: "critical",
		StartedAt: resolved.Add(-time.Hour), ResolvedAt: &resolved, SettlesAt: &settles,
		Labels:   map[string]string{"severity": "critical", "team": "payments"},
		Services: []string{"checkout"}, Sources: map[string]string{timeline.SourceKeyPagerDutyIncidentID: "PD1"}}
	return inc, review.Hours{Location: tokyo, Holidays: []string{"2026-11-23"}}, settles
}

var people = participants{"PD1": {
	"U1": {ID: "U1", Role: "primary on-call for checkout", Name: "Pat Primary", Email: "pat@example.com", Duties: []string{"assignee", "acknowledger"}},
	"U2": {ID: "U2", Role: "incident commander", Name: "Ines", Email: "ines@example.com", Duties: []string{"role assigner"}},
	"U3": {ID: "U3", Role: "a responder", Email: "sam@example.com", Duties: []string{"note author"}},
	"U4": {ID: "U4", Role: "a responder", Name: "No Address"},
}}

func TestSchedulerStory(t *testing.T) {
	ctx := context.Background()
	inc, hours, now := fridayInTokyo(t)
	incs := newIncidents(inc)
	quiet := inc
	quiet.ID, quiet.Severity, quiet.Labels = "inc-warning", "warning", map[string]string{"severity": "warning"}
	incs.set(quiet)
	clk := &clock{t: now}
	mail := &transport{name: "email"}
	reg := prometheus.NewRegistry()
	s := mustScheduler(t, review.Options{Incidents: incs, Participants: people, Hours: hours,
		Owners:     review.OwnersConfig{Labels: map[string]map[string][]string{"team": {"payments": {"payments@example.com"}}}, Always: []string{"leads@example.com"}},
		Calendar:   review.CalendarOptions{Organizer: "pm@example.com"},
		Transports: []review.Transport{mail}, Now: clk.Now, Registerer: reg})
	mustSweep(t, ctx, s)
	r, err := s.Review(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	tue := time.Date(2026, 11, 24, 10, 0, 0, 0, hours.Location)
	if r.Status != review.StatusScheduled || !r.Start.Equal(tue) || !r.Late || r.Sequence != 0 || r.TimeZone != "Asia/Tokyo" {
		t.Fatalf("review = %+v, want scheduled Tuesday 10:00 Tokyo, late, sequence 0", r)
	}
	if !strings.Contains(r.Reason, "holiday Mon 2026-11-23") {
		t.Errorf("reason %q does not say Monday is a holiday", r.Reason)
	}
	if _, err := s.Review(ctx, quiet.ID); !errors.Is(err, timeline.ErrNotFound) {
		t.Errorf("a warning incident got a review (err %v)", err)
	}
	wantReq := map[string]bool{"pat@example.com": true, "ines@example.com": true, "payments@example.com": true,
		"sam@example.com": false, "leads@example.com": false}
	if len(r.Attendees) != len(wantReq) {
		t.Errorf("attendees = %+v, want %d", r.Attendees, len(wantReq))
	}
	for _, a := range r.Attendees {
		if req, ok := wantReq[a.Email]; !ok || req != a.Required {
			t.Errorf("attendee %s required=%v, want invited=%v required=%v", a.Email, a.Required, ok, req)
		}
	}
	msgs := mail.messages()
	if len(msgs) != 1 || msgs[0].Method != "REQUEST" || msgs[0].UID != r.UID || len(msgs[0].Recipients) != 5 {
		t.Fatalf("delivered %+v, want one REQUEST to 5 recipients", msgs)
	}
	if d := r.Deliveries["email"]; d == nil || d.State != review.DeliveryDelivered || d.Attempts != 1 {
		t.Errorf("email delivery = %+v, want delivered after 1 attempt", d)
	}

	t.Run("repeated sweeps change nothing", func(t *testing.T) {
		for range 3 {
			mustSweep(t, ctx, s)
		}
		if n := len(mail.messages()); n != 1 {
			t.Errorf("%d messages after repeated sweeps, want 1", n)
		}
	})

	t.Run("reopen cancels with the same UID", func(t *testing.T) {
		reopened := inc
		reopened.Status, reopened.ResolvedAt, reopened.SettlesAt = timeline.StatusOpen, nil, nil
		incs.set(reopened)
		clk.Set(now.Add(30 * time.Minute))
		mustSweep(t, ctx, s)
		r, _ := s.Review(ctx, inc.ID)
		msgs := mail.messages()
		last := msgs[len(msgs)-1]
		if r.Status != review.StatusCancelled || r.Sequence != 1 || last.Method != "CANCEL" || last.UID != review.UID(inc.ID) || last.Sequence != 1 {
			t.Fatalf("after reopen: review %s seq %d; last message %s seq %d uid %s", r.Status, r.Sequence, last.Method, last.Sequence, last.UID)
		}
	})

	t.Run("resolving again moves the meeting: same UID, higher SEQUENCE", func(t *testing.T) {
		tokyo := hours.Location
		resolved := time.Date(2026, 11, 24, 9, 0, 0, 0, tokyo).UTC()
		settles := resolved.Add(time.Minute)
		again := inc
		again.ResolvedAt, again.SettlesAt = &resolved, &settles
		incs.set(again)
		clk.Set(settles)
		mustSweep(t, ctx, s)
		r, _ := s.Review(ctx, inc.ID)
		want := time.Date(2026, 11, 24, 11, 0, 0, 0, tokyo)
		if r.Status != review.StatusScheduled || r.Sequence != 2 || !r.Start.Equal(want) || r.Late {
			t.Fatalf("after resolving again: %+v, want scheduled at %s, sequence 2", r, want)
		}
		msgs := mail.messages()
		last := msgs[len(msgs)-1]
		if last.Method != "REQUEST" || last.Sequence != 2 || last.UID != review.UID(inc.ID) || !strings.Contains(string(last.Calendar), "DTSTART;TZID=Asia/Tokyo:20261124T110000") {
			t.Fatalf("last message %s seq %d:\n%s", last.Method, last.Sequence, last.Calendar)
		}
	})

	t.Run("waive with a reason", func(t *testing.T) {
		if _, err := s.Waive(ctx, inc.ID, ""); !errors.Is(err, timeline.ErrInvalid) {
			t.Errorf("waive without a reason: %v, want ErrInvalid", err)
		}
		if _, err := s.Waive(ctx, "nope", "x"); !errors.Is(err, timeline.ErrNotFound) {
			t.Errorf("waive of an unknown review: %v, want ErrNotFound", err)
		}
		r, err := s.Waive(ctx, inc.ID, "Reviewed together with the checkout incident of Nov 19.")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != review.StatusWaived || r.Sequence != 3 {
			t.Fatalf("waived review = %+v", r)
		}
		clk.Set(clk.Now().Add(time.Hour))
		mustSweep(t, ctx, s)
		r, _ = s.Review(ctx, inc.ID)
		msgs := mail.messages()
		if last := msgs[len(msgs)-1]; r.Status != review.StatusWaived || last.Method != "CANCEL" || last.Sequence != 3 ||
			!strings.Contains(last.Text, "Reviewed together with the checkout incident") {
			t.Fatalf("after waiving: %s; last message %s seq %d %q", r.Status, last.Method, last.Sequence, last.Text)
		}
	})
	if got := counter(t, reg, "postmortemd_review_deliveries_total", "delivered", "email"); got != 4 { // labels in name order: result, transport
		t.Errorf("delivered counter = %v, want 4", got)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := true
			for i, lp := range m.GetLabel() {
				if i < len(labels) && lp.GetValue() != labels[i] {
					match = false
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

func TestDeliveryRetriesWithBackoff(t *testing.T) {
	ctx := context.Background()
	inc, hours, now := fridayInTokyo(t)
	incs := newIncidents(inc)
	clk := &clock{t: now}
	flaky := &transport{name: "caldav", fail: 2}
	s := mustScheduler(t, review.Options{Incidents: incs, Hours: hours,
		Transports: []review.Transport{flaky}, Now: clk.Now})
	steps := []struct {
		advance  time.Duration
		state    review.DeliveryState
		attempts int
	}{
		{0, review.DeliveryFailed, 1},
		{10 * time.Second, review.DeliveryFailed, 1}, // backoff not over: not attempted
		{30 * time.Second, review.DeliveryFailed, 2},
		{50 * time.Second, review.DeliveryFailed, 2}, // second backoff is 60s
		{20 * time.Second, review.DeliveryDelivered, 3},
	}
	for i, st := range steps {
		clk.Set(clk.Now().Add(st.advance))
		mustSweep(t, ctx, s)
		r, err := s.Review(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		d := r.Deliveries["caldav"]
		if r.Status != review.StatusScheduled || d == nil || d.State != st.state || d.Attempts != st.attempts {
			t.Fatalf("step %d: review %s, delivery %+v; want %s after %d attempts", i, r.Status, d, st.state, st.attempts)
		}
		if st.state == review.DeliveryFailed && (d.LastError != "connection refused" || !d.NextAttempt.After(clk.Now())) {
			t.Errorf("step %d: failed delivery shows %q, next attempt %s", i, d.LastError, d.NextAttempt)
		}
	}
	if n := len(flaky.messages()); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}

// Some recipients refused for good: the others have the invitation, so it counts as delivered and is
// not sent again to them; the refusal is shown without the refused address (the API serves it).
func TestPartlyRefusedInvitationIsNotResent(t *testing.T) {
	ctx := context.Background()
	inc, hours, now := fridayInTokyo(t)
	incs := newIncidents(inc)
	clk := &clock{t: now}
	mail := &transport{name: "email", partial: fmt.Errorf("smtp: sent, but recipients kenji.watanabe@example.com refused: %w: 550 5.1.1 <kenji.watanabe@example.com>: unknown", review.ErrPartial)}
	s := mustScheduler(t, review.Options{Incidents: incs, Hours: hours,
		Transports: []review.Transport{mail}, Now: clk.Now})
	for range 3 {
		mustSweep(t, ctx, s)
		clk.Set(clk.Now().Add(2 * time.Hour))
	}
	r, err := s.Review(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	d := r.Deliveries["email"]
	if d == nil || d.State != review.DeliveryDelivered || !strings.Contains(d.LastError, "refused") ||
		strings.Contains(d.LastError, "kenji") || !strings.Contains(d.LastError, "(an address)") {
		t.Fatalf("delivery %+v: want delivered, the refusal shown without the address", d)
	}
	if n := len(mail.messages()); n != 1 {
		t.Fatalf("%d messages sent, want 1 (no resend to those who have it)", n)
	}
}

func TestOneFacilitatorMeetingsDoNotOverlap(t *testing.T) {
	ctx := context.Background()
	inc, hours, now := fridayInTokyo(t)
	incs := &incidents{}
	for i := range 3 {
		c := inc
		c.ID = fmt.Sprintf("inc-%d", i)
		incs.set(c)
	}
	s := mustScheduler(t, review.Options{Incidents: incs, Hours: hours, SingleFacilitator: true,
		Now: func() time.Time { return now }})
	mustSweep(t, ctx, s)
	rs, err := s.Reviews(ctx)
	if err != nil || len(rs) != 3 {
		t.Fatalf("reviews = %d, %v", len(rs), err)
	}
	for i, want := range []int{10, 11, 12} {
		if h := rs[i].Start.In(hours.Location).Hour(); h != want || rs[i].Start.In(hours.Location).Day() != 24 {
			t.Errorf("meeting %d starts %s, want Tuesday %d:00", i, rs[i].Start.In(hours.Location), want)
		}
	}
}

// TestExactlyOneMeetingAcrossReplicas runs several schedulers (replicas) against one real
// redis-server, sweeping at the same time over and over: one review, one invitation.
func TestExactlyOneMeetingAcrossReplicas(t *testing.T) {
	srv := testenv.StartRedis(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	inc, hours, now := fridayInTokyo(t)
	incs := newIncidents(inc)
	mail := &transport{name: "email"} // one mailbox: what every replica sent
	const replicas = 6
	var ss []*review.Scheduler
	for range replicas {
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
		s := mustScheduler(t, review.Options{Store: redisstore.New(rdb, redisstore.Options{}), Incidents: incs,
			Participants: people, Hours: hours, Transports: []review.Transport{mail}, Now: func() time.Time { return now }})
		ss = append(ss, s)
	}
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := s.Sweep(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	rs, err := ss[0].Reviews(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Sequence != 0 || rs[0].Status != review.StatusScheduled {
		t.Fatalf("reviews = %+v, want one scheduled at sequence 0", rs)
	}
	if msgs := mail.messages(); len(msgs) != 1 {
		t.Fatalf("%d invitations sent by %d replicas, want 1", len(msgs), replicas)
	}
}

// A truncated notification's last alerts move the resolution a little later: the slot stays, and
// attendees get nothing new.
func TestLaterResolutionWithTheSameSlotSendsNothing(t *testing.T) {
	ctx := context.Background()
	inc, hours, now := fridayInTokyo(t)
	incs := newIncidents(inc)
	mail := &transport{name: "email"}
	clk := &clock{t: now}
	s := mustScheduler(t, review.Options{Incidents: incs, Hours: hours, Transports: []review.Transport{mail}, Now: clk.Now})
	mustSweep(t, ctx, s)
	later := inc.ResolvedAt.Add(3 * time.Minute)
	inc.ResolvedAt = &later
	incs.set(inc)
	clk.Set(now.Add(5 * time.Minute))
	mustSweep(t, ctx, s)
	r, _ := s.Review(ctx, inc.ID)
	if r.Sequence != 0 || !r.ResolvedAt.Equal(later) || len(mail.messages()) != 1 {
		t.Fatalf("sequence %d, resolved %s, %d messages; want 0, %s, 1", r.Sequence, r.ResolvedAt, len(mail.messages()), later)
	}
}

// PagerDuty enrichment names a responder after the meeting was booked: the invitation goes out
// again (same UID, next sequence) with them.
func TestParticipantsLearntLaterAreInvited(t *testing.T) {
	ctx := context.Background()
	inc, hours, now := fridayInTokyo(t)
	incs := newIncidents(inc)
	mail := &transport{name: "email"}
	known := participants{"PD1": {"U1": people["PD1"]["U1"]}}
	s := mustScheduler(t, review.Options{Incidents: incs, Participants: known, Hours: hours,
		Transports: []review.Transport{mail}, Now: func() time.Time { return now }})
	mustSweep(t, ctx, s)
	known["PD1"]["U2"] = people["PD1"]["U2"]
	mustSweep(t, ctx, s)
	r, _ := s.Review(ctx, inc.ID)
	msgs := mail.messages()
	if r.Sequence != 1 || len(r.Attendees) != 2 || len(msgs) != 2 || msgs[1].Sequence != 1 || msgs[1].UID != msgs[0].UID ||
		strings.Join(msgs[1].Recipients, ",") != "pat@example.com,ines@example.com" {
		t.Fatalf("sequence %d, attendees %+v, %d messages", r.Sequence, r.Attendees, len(msgs))
	}
	mustSweep(t, ctx, s)
	if n := len(mail.messages()); n != 2 {
		t.Errorf("%d messages after a sweep with nobody new, want 2", n)
	}
}

// With one facilitator, replicas booking different incidents at the same moment must not give two
// meetings the same hour: the booking lock makes "read busy hours, pick, store" one step.
func TestOneFacilitatorAcrossReplicas(t *testing.T) {
	srv := testenv.StartRedis(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	inc, hours, now := fridayInTokyo(t)
	incs := &incidents{}
	const n = 6
	for i := range n {
		c := inc
		c.ID = fmt.Sprintf("inc-%d", i)
		incs.set(c)
	}
	var ss []*review.Scheduler
	for range 4 {
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
		store := redisstore.New(rdb, redisstore.Options{})
		o := review.Options{Store: store, Incidents: incs, Hours: hours, SingleFacilitator: true,
			Now: func() time.Time { return now }}
		o.Lock = store // without it this test finds overlaps (checked: 9 in 3 runs)
		s := mustScheduler(t, o)
		ss = append(ss, s)
	}
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Sweep(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rs, err := ss[0].Reviews(context.Background())
	if err != nil || len(rs) != n {
		t.Fatalf("reviews = %d, %v", len(rs), err)
	}
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			if rs[i].Start.Before(rs[j].End) && rs[j].Start.Before(rs[i].End) {
				t.Errorf("%s (%s) and %s (%s) overlap", rs[i].IncidentID, rs[i].Start, rs[j].IncidentID, rs[j].Start)
			}
		}
	}
}
