package review_test

import (
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/drafts/review"
)

func mustLoad(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func TestFindSlot(t *testing.T) {
	tokyo := mustLoad(t, "Asia/Tokyo")
	berlin := mustLoad(t, "Europe/Berlin")
	newYork := mustLoad(t, "America/New_York")
	at := func(loc *time.Location, y int, m time.Month, d, hh, mm int) time.Time {
		return time.Date(y, m, d, hh, mm, 0, 0, loc)
	}
	tokyoHours := review.Hours{Location: tokyo, Holidays: []string{"2026-11-23"}}
	everyDay := []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
	tests := []struct {
		name     string
		hours    review.Hours
		req      review.SlotRequest
		want     time.Time
		late     bool
		reasonIn []string
	}{
		{name: "inside working hours, after the lead time",
			hours: tokyoHours, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 17, 9, 0)},
			want: at(tokyo, 2026, 11, 17, 11, 0), reasonIn: []string{"Earliest free slot", "within 24h"}},
		{name: "lead time rounds up to the quarter hour",
			hours: tokyoHours, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 17, 9, 2)},
			want: at(tokyo, 2026, 11, 17, 11, 15)},
		{name: "evening resolution: next morning",
			hours: tokyoHours, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 17, 16, 30)},
			want: at(tokyo, 2026, 11, 18, 10, 0)},
		{name: "a meeting that would run past closing moves to the next day",
			hours: tokyoHours, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 17, 15, 30)},
			want: at(tokyo, 2026, 11, 18, 10, 0)},
		{name: "weekend: Monday, past the deadline, and says why",
			hours: review.Hours{Location: tokyo}, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 13, 16, 30)},
			want: at(tokyo, 2026, 11, 16, 10, 0), late: true,
			reasonIn: []string{"Sat 2026-11-14", "Sun 2026-11-15", "are not working days", "first slot after the 24h deadline"}},
		{name: "Friday 17:50 in Tokyo before a Monday holiday: Tuesday",
			hours: tokyoHours, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 20, 17, 50)},
			want: at(tokyo, 2026, 11, 24, 10, 0), late: true,
			reasonIn: []string{"Fri 2026-11-20 17:50 JST", "holiday Mon 2026-11-23", "Sat 2026-11-21", "first slot after the 24h deadline"}},
		{name: "Berlin spring forward: 10:00 CEST on the change day",
			hours: review.Hours{Location: berlin, Days: everyDay}, req: review.SlotRequest{Resolved: at(berlin, 2026, 3, 28, 17, 0)},
			want: time.Date(2026, 3, 29, 8, 0, 0, 0, time.UTC)},
		{name: "Berlin spring forward over a weekend: Monday 10:00 CEST",
			hours: review.Hours{Location: berlin}, req: review.SlotRequest{Resolved: at(berlin, 2026, 3, 27, 17, 0)},
			want: time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC), late: true},
		{name: "New York fall back: Monday 10:00 EST is 15:00 UTC",
			hours: review.Hours{Location: newYork}, req: review.SlotRequest{Resolved: at(newYork, 2026, 10, 31, 20, 0)},
			want: time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC), late: true},
		{name: "New York fall back within the deadline, every day a working day",
			hours: review.Hours{Location: newYork, Days: everyDay, Start: 9 * time.Hour, End: 17 * time.Hour},
			req:   review.SlotRequest{Resolved: at(newYork, 2026, 10, 31, 16, 0)},
			want:  time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC)},
		{name: "overlap: after the facilitator's other meeting",
			hours: tokyoHours, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 17, 8, 0),
				Busy: []review.Interval{{Start: at(tokyo, 2026, 11, 17, 10, 0), End: at(tokyo, 2026, 11, 17, 11, 0)},
					{Start: at(tokyo, 2026, 11, 17, 11, 0), End: at(tokyo, 2026, 11, 17, 11, 40)}}},
			want: at(tokyo, 2026, 11, 17, 11, 45)},
		{name: "overlap: a full day of meetings pushes past the deadline",
			hours: tokyoHours, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 17, 17, 0),
				Busy: []review.Interval{{Start: at(tokyo, 2026, 11, 18, 10, 0), End: at(tokyo, 2026, 11, 18, 18, 0)}}},
			want: at(tokyo, 2026, 11, 19, 10, 0), late: true, reasonIn: []string{"other review meetings take the free hours"}},
		{name: "a meeting in another incident's slot on another day does not block",
			hours: tokyoHours, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 17, 8, 0),
				Busy: []review.Interval{{Start: at(tokyo, 2026, 11, 18, 10, 0), End: at(tokyo, 2026, 11, 18, 11, 0)}}},
			want: at(tokyo, 2026, 11, 17, 10, 0)},
		{name: "scheduled late (postmortemd was down): not before now plus the notice",
			hours: tokyoHours, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 17, 9, 0), Now: at(tokyo, 2026, 11, 17, 13, 7)},
			want: at(tokyo, 2026, 11, 17, 13, 45)},
		{name: "custom lead, deadline and duration",
			hours: tokyoHours, req: review.SlotRequest{Resolved: at(tokyo, 2026, 11, 17, 9, 0), Lead: 30 * time.Minute,
				Deadline: 3 * time.Hour, Duration: 90 * time.Minute},
			want: at(tokyo, 2026, 11, 17, 10, 0), reasonIn: []string{"at least 30m after", "within 3h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.Now.IsZero() {
				tt.req.Now = tt.req.Resolved // the fake clock: scheduled as the incident settles
			}
			got, err := tt.hours.FindSlot(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Start.Equal(tt.want) {
				t.Errorf("start = %s, want %s", got.Start.In(tt.want.Location()), tt.want)
			}
			dur := tt.req.Duration
			if dur == 0 {
				dur = review.DefaultDuration
			}
			if got.End.Sub(got.Start) != dur {
				t.Errorf("meeting lasts %s, want %s", got.End.Sub(got.Start), dur)
			}
			if got.Late != tt.late {
				t.Errorf("late = %v, want %v (reason %q)", got.Late, tt.late, got.Reason)
			}
			for _, s := range tt.reasonIn {
				if !strings.Contains(got.Reason, s) {
					t.Errorf("reason %q does not say %q", got.Reason, s)
				}
			}
			// Every slot is inside working hours, local time.
			loc := tt.hours.Location
			start, end := got.Start.In(loc), got.End.In(loc)
			open, close := tt.hours.Start, tt.hours.End
			if open == 0 && close == 0 {
				open, close = 10*time.Hour, 18*time.Hour
			}
			sinceMidnight := func(t time.Time) time.Duration {
				return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
			}
			if sinceMidnight(start) < open || sinceMidnight(end) > close || start.Day() != end.Day() {
				t.Errorf("slot %s–%s is outside working hours", start, end)
			}
		})
	}
}

func TestHoursValidate(t *testing.T) {
	tests := []struct {
		name  string
		hours review.Hours
		want  string
	}{
		{"end before start", review.Hours{Start: 18 * time.Hour, End: 9 * time.Hour}, "must be after the start"},
		{"bad holiday", review.Hours{Holidays: []string{"23.11.2026"}}, `holiday "23.11.2026"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.hours.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error saying %q", err, tt.want)
			}
		})
	}
	if _, err := (review.Hours{Days: []time.Weekday{time.Saturday}, Holidays: nil}).FindSlot(review.SlotRequest{
		Resolved: time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC), Duration: 9 * time.Hour}); err == nil {
		t.Error("a meeting longer than the working day found a slot")
	}
}

func TestParseWeekdaysAndClock(t *testing.T) {
	days, err := review.ParseWeekdays([]string{"mon", "Tuesday", "sun"})
	if err != nil || len(days) != 3 || days[0] != time.Monday || days[1] != time.Tuesday || days[2] != time.Sunday {
		t.Fatalf("ParseWeekdays = %v, %v", days, err)
	}
	if _, err := review.ParseWeekdays([]string{"funday"}); err == nil {
		t.Error("ParseWeekdays accepted funday")
	}
	if c, err := review.ParseClock("09:30"); err != nil || c != 9*time.Hour+30*time.Minute {
		t.Fatalf("ParseClock = %v, %v", c, err)
	}
	if _, err := review.ParseClock("25:00"); err == nil {
		t.Error("ParseClock accepted 25:00")
	}
}
