package review

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postmortemd/postmortemd/internal/i18n"
)

// Defaults of the slot search.
const (
	DefaultLead     = 2 * time.Hour
	DefaultDeadline = 24 * time.Hour
	DefaultDuration = time.Hour
	// MinNotice is the least time between scheduling a meeting and its start: when postmortemd
	// learns of a resolution late (it was down, the resolution was backdated), the invitation still
	// gives people time to come, rather than a meeting that starts in two minutes.
	MinNotice = 30 * time.Minute
	// granularity is the grid meetings start on, in minutes past the local hour.
	granularity = 15 * time.Minute
	// searchDays bounds the search for a slot after the deadline.
	searchDays = 62
)

// Hours are the working hours meetings may be held in: the days of the week and the local clock
// times of Location, minus Holidays. Zone changes (DST) are handled: 10:00 is 10:00 local time on
// both sides of a change.
type Hours struct {
	Location *time.Location
	// Days are the working days. Default Monday to Friday.
	Days []time.Weekday
	// Start and End are the local opening and closing clock times as offsets from midnight.
	// Default 10:00 and 18:00.
	Start, End time.Duration
	// Holidays are days without meetings, as YYYY-MM-DD in Location.
	Holidays []string
}

// ParseClock reads "HH:MM" as an offset from midnight.
func ParseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("want a clock time such as 09:30, got %q", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// ParseWeekdays reads "mon,tue,wed" (or full English names) into weekdays.
func ParseWeekdays(s []string) ([]time.Weekday, error) {
	var out []time.Weekday
	for _, d := range s {
		d = strings.ToLower(strings.TrimSpace(d))
		found := false
		for w := time.Sunday; w <= time.Saturday; w++ {
			name := strings.ToLower(w.String())
			if d == name || (len(d) == 3 && strings.HasPrefix(name, d)) {
				out, found = append(out, w), true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("want a weekday such as mon or monday, got %q", d)
		}
	}
	return out, nil
}

func (h Hours) withDefaults() Hours {
	if h.Location == nil {
		h.Location = time.UTC
	}
	if len(h.Days) == 0 {
		h.Days = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	}
	if h.Start == 0 && h.End == 0 {
		h.Start, h.End = 10*time.Hour, 18*time.Hour
	}
	return h
}

// Validate names the first bad field.
func (h Hours) Validate() error {
	h = h.withDefaults()
	if h.End <= h.Start || h.End > 24*time.Hour {
		return fmt.Errorf("working hours: the end (%s) must be after the start (%s), within the day", clock(h.End), clock(h.Start))
	}
	for _, d := range h.Holidays {
		if _, err := time.ParseInLocation(time.DateOnly, d, h.Location); err != nil {
			return fmt.Errorf("holiday %q: want YYYY-MM-DD", d)
		}
	}
	return nil
}

// Fits reports, as an error that names the settings, a meeting of duration (zero means
// DefaultDuration) that can never fit in one working day: no slot could ever be found for it.
func (h Hours) Fits(duration time.Duration) error {
	h = h.withDefaults()
	if duration <= 0 {
		duration = DefaultDuration
	}
	if duration > h.End-h.Start {
		return fmt.Errorf("review duration %s is longer than the working day %s–%s: no review could ever be scheduled",
			short(duration), clock(h.Start), clock(h.End))
	}
	return nil
}

// Interval is a busy time (another review meeting).
type Interval struct{ Start, End time.Time }

// SlotRequest is what FindSlot looks for.
type SlotRequest struct {
	// Resolved is when the incident resolved (source time).
	Resolved time.Time
	// Now is the current time; no slot starts before it.
	Now time.Time
	// Lead is the least time between the resolution and the meeting (default DefaultLead);
	// Deadline the most (default DefaultDeadline); Duration the meeting's length (default
	// DefaultDuration).
	Lead, Deadline, Duration time.Duration
	// Busy are meetings the slot must not overlap (one facilitator runs them all).
	Busy []Interval
	// Printer writes the slot's Reason (the zero value writes English).
	Printer i18n.Printer
}

// Slot is a chosen meeting time.
type Slot struct {
	Start, End time.Time
	// Late reports a slot after the deadline; Reason says why it was chosen, in the request's
	// Printer's language, and ReasonCode says it as a message any reader's language can say
	// (i18n.Printer.ReviewReason).
	Late       bool
	Reason     string
	ReasonCode i18n.Message
}

// FindSlot returns the earliest slot of r.Duration inside working hours, at least r.Lead after
// the resolution and not before r.Now, not overlapping r.Busy, that ends by the deadline; when
// none fits, the first such slot after the deadline, with Late set and a Reason that says why.
func (h Hours) FindSlot(r SlotRequest) (Slot, error) {
	h = h.withDefaults()
	if err := h.Validate(); err != nil {
		return Slot{}, err
	}
	if r.Lead <= 0 {
		r.Lead = DefaultLead
	}
	if r.Deadline <= 0 {
		r.Deadline = DefaultDeadline
	}
	if r.Duration <= 0 {
		r.Duration = DefaultDuration
	}
	if r.Duration > h.End-h.Start {
		return Slot{}, i18n.Refuse("review.no_fit", "Minutes", strconv.Itoa(int(r.Duration/time.Minute)), "Start", clock(h.Start), "End", clock(h.End))
	}
	earliest := r.Resolved.Add(r.Lead)
	if notice := r.Now.Add(MinNotice); !r.Now.IsZero() && notice.After(earliest) {
		earliest = notice
	}
	deadline := r.Resolved.Add(r.Deadline)
	busy := slices.Clone(r.Busy)
	slices.SortFunc(busy, func(a, b Interval) int { return a.Start.Compare(b.Start) })

	loc := h.Location
	day := earliest.In(loc)
	day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	var skipped []string
	for i := 0; i < searchDays; i++ {
		d := day.AddDate(0, 0, i)
		if why := h.closed(d); why != "" {
			if d.Before(deadline) || len(skipped) < 7 {
				skipped = append(skipped, why)
			}
			continue
		}
		open := atClock(d, h.Start)
		closeAt := atClock(d, h.End)
		start := ceil(maxTime(open, earliest), open)
		for !start.Add(r.Duration).After(closeAt) {
			end := start.Add(r.Duration)
			if b, ok := overlap(busy, start, end); ok {
				start = ceil(b.End, open)
				continue
			}
			s := Slot{Start: start, End: end}
			if end.After(deadline) {
				s.Late = true
				s.ReasonCode = h.lateReason(r, deadline, skipped, busy)
			} else {
				s.ReasonCode = h.reason(i18n.ReviewSlotReason, r)
			}
			s.Reason = r.Printer.ReviewReason(s.ReasonCode)
			return s, nil
		}
	}
	return Slot{}, i18n.Refuse("review.no_working_day", "Days", strconv.Itoa(searchDays), "After", earliest.In(loc).Format(time.DateOnly))
}

// reason is a slot's reason with code, in the machine form i18n.ReviewReason reads.
func (h Hours) reason(code string, r SlotRequest) i18n.Message {
	days := make([]string, len(h.Days))
	for i, d := range h.Days {
		days[i] = strconv.Itoa(int(d))
	}
	return i18n.Msg(code, "Days", strings.Join(days, ","), "Start", clock(h.Start), "End", clock(h.End),
		"Zone", h.Location.String(), "Lead", r.Lead.String(), "Deadline", r.Deadline.String())
}

func (h Hours) lateReason(r SlotRequest, deadline time.Time, skipped []string, busy []Interval) i18n.Message {
	m := h.reason(i18n.ReviewLateReason, r)
	m.Args["Resolved"] = r.Resolved.In(h.Location).Format(time.RFC3339)
	m.Args["DeadlineAt"] = deadline.In(h.Location).Format(time.RFC3339)
	if len(skipped) > 0 {
		m.Args["Skipped"] = strings.Join(skipped, ",")
	}
	if len(busy) > 0 {
		m.Args["Busy"] = "true"
	}
	if r.Now.After(r.Resolved.Add(r.Lead)) {
		m.Args["ScheduledAt"] = r.Now.In(h.Location).Format(time.RFC3339)
	}
	return m
}

// closed says why d (midnight in h.Location) is not a working day, in ReviewReason's form
// ("2026-11-30 holiday", or the date), "" if it is one.
func (h Hours) closed(d time.Time) string {
	date := d.Format(time.DateOnly)
	if slices.Contains(h.Holidays, date) {
		return date + " holiday"
	}
	if !slices.Contains(h.Days, d.Weekday()) {
		return date
	}
	return ""
}

// atClock is the local clock time c on day d; time.Date normalizes a clock time a DST gap skips.
func atClock(d time.Time, c time.Duration) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), int(c/time.Hour), int(c%time.Hour/time.Minute), 0, 0, d.Location())
}

// ceil rounds t up to the granularity grid that starts at open.
func ceil(t, open time.Time) time.Time {
	if !t.After(open) {
		return open
	}
	n := (t.Sub(open) + granularity - 1) / granularity
	return open.Add(n * granularity)
}

func overlap(busy []Interval, start, end time.Time) (Interval, bool) {
	for _, b := range busy {
		if b.Start.Before(end) && start.Before(b.End) {
			return b, true
		}
	}
	return Interval{}, false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// short prints a duration without zero units (2h, 24h, 1h30m), for operators' messages.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
