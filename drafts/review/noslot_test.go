package review_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts/review"
)

// When no slot can be found (here, the next 90 days are all holidays), the operator hears of it
// once, not on every sweep: one metric increment, one log line for the incident, and the review
// itself says why. Nothing is sent. When the holidays end (a later configuration), the next sweep
// books the meeting.
func TestNoSlotIsSaidOnceAndOnTheReview(t *testing.T) {
	ctx := context.Background()
	inc, hours, now := fridayInTokyo(t)
	blocked := hours
	for d := now.AddDate(0, 0, -1); d.Before(now.AddDate(0, 0, 90)); d = d.AddDate(0, 0, 1) {
		blocked.Holidays = append(blocked.Holidays, d.In(hours.Location).Format(time.DateOnly))
	}
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	tr := &transport{name: "email"}
	store := miniStore(t)
	s := mustScheduler(t, review.Options{Store: store, Incidents: newIncidents(inc), Hours: blocked, Registerer: reg,
		Transports: []review.Transport{tr}, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now: func() time.Time { return now }})
	for range 3 {
		_ = s.Sweep(ctx)
	}
	r, err := s.Review(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != review.StatusUnscheduled || !strings.Contains(r.Reason, "No review slot could be found") ||
		!strings.Contains(r.Reason, "holidays") {
		t.Errorf("review %s: %q; want unscheduled, saying why", r.Status, r.Reason)
	}
	if n := counter(t, reg, "postmortemd_review_no_slot_total"); n != 1 {
		t.Errorf("postmortemd_review_no_slot_total = %v after three sweeps, want 1", n)
	}
	if n := strings.Count(logs.String(), "no review slot found"); n != 1 {
		t.Errorf("%d log lines about the missing slot after three sweeps, want 1:\n%s", n, logs.String())
	}
	if msgs := tr.messages(); len(msgs) != 0 {
		t.Errorf("%d messages sent for a review without a slot", len(msgs))
	}
	if dr, err := s.DraftReview(ctx, inc.ID); err != nil || dr != nil {
		t.Errorf("the draft shows %+v (%v) for a review without a slot", dr, err)
	}

	// A restart with the holidays over: the same store, a slot.
	s2 := mustScheduler(t, review.Options{Store: store, Incidents: newIncidents(inc), Hours: hours, Transports: []review.Transport{tr},
		Now: func() time.Time { return now }})
	mustSweep(t, ctx, s2)
	if r, _ := s2.Review(ctx, inc.ID); r.Status != review.StatusScheduled || r.Start.IsZero() {
		t.Errorf("after the holidays: review %s at %v, want scheduled", r.Status, r.Start)
	}
	if msgs := tr.messages(); len(msgs) != 1 || msgs[0].Method != "REQUEST" {
		t.Errorf("after the holidays: %d messages, want one invitation", len(msgs))
	}
}

// A meeting longer than the working day can never be booked: the scheduler refuses to start.
func TestMeetingLongerThanTheWorkingDayIsRefused(t *testing.T) {
	_, err := review.New(review.Options{Store: miniStore(t), Incidents: newIncidents(),
		Hours: review.Hours{Start: 9 * time.Hour, End: 10 * time.Hour}, Duration: 90 * time.Minute})
	if err == nil || !strings.Contains(err.Error(), "longer than the working day") {
		t.Fatalf("New = %v, want a refusal naming the working day", err)
	}
}
