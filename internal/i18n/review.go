package i18n

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The review scheduler's reasons (drafts/review) are stored as a Message in a machine form, so a
// reader in any language gets them in theirs (ReviewReason): a slot's reason (ReviewSlotReason,
// ReviewLateReason) or why none was found (ReviewNoSlot, its Detail the scheduler's reason). Their
// arguments:
//
//	Days        working weekdays as numbers, "1,2,3,4,5" (time.Weekday)
//	Start, End  working hours' clock times, "09:00"
//	Zone        the working hours' IANA time zone
//	Lead        the least time after the resolution, a Go duration ("2h0m0s")
//	Deadline    the most, a Go duration
//	Resolved    the resolution, RFC 3339 (late slots)
//	DeadlineAt  the deadline, RFC 3339 (late slots)
//	Skipped     the days without working hours, "2026-11-28,2026-11-30 holiday" (late slots)
//	Busy        "true" when other meetings took the free hours (late slots)
//	ScheduledAt when the scheduling happened, RFC 3339, if after the lead time (late slots)
const (
	ReviewSlotReason = "review.reason"
	ReviewLateReason = "review.late_reason"
	ReviewNoSlot     = "review.no_slot"
)

// ReviewReason says a review scheduler's reason (see ReviewSlotReason) in the printer's language;
// any other message is said as Say says it.
func (p Printer) ReviewReason(m Message) string {
	a := m.Args
	loc, err := time.LoadLocation(a["Zone"])
	if err != nil {
		loc = time.UTC
	}
	hours := func() string {
		var days []string
		for _, d := range strings.Split(a["Days"], ",") {
			if n, err := strconv.Atoi(d); err == nil {
				days = append(days, p.T(fmt.Sprintf("weekday.%d", n)))
			}
		}
		return fmt.Sprintf("%s %s–%s %s", strings.Join(days, p.T("list.days")), a["Start"], a["End"], a["Zone"])
	}
	span := func(k string) string {
		d, _ := time.ParseDuration(a[k])
		return p.Span(d)
	}
	at := func(k string) string {
		t, err := time.Parse(time.RFC3339, a[k])
		if err != nil {
			return a[k]
		}
		t = t.In(loc)
		return p.LongDate(t) + " " + t.Format("15:04 MST")
	}
	switch m.Code {
	case ReviewSlotReason:
		return p.T(m.Code, "Hours", hours(), "Lead", span("Lead"), "Deadline", span("Deadline"))
	case ReviewLateReason:
		var why []string
		if s := a["Skipped"]; s != "" {
			var days []string
			for _, d := range strings.Split(s, ",") {
				date, holiday := strings.CutSuffix(d, " holiday")
				t, err := time.ParseInLocation(time.DateOnly, date, loc)
				if err != nil {
					continue
				}
				if holiday {
					days = append(days, p.T("review.holiday", "Date", p.LongDate(t)))
				} else {
					days = append(days, p.LongDate(t))
				}
			}
			why = append(why, p.N("review.why_closed", len(days), "Days", strings.Join(days, p.T("list.comma"))))
		}
		if a["Busy"] == "true" {
			why = append(why, p.T("review.why_busy"))
		}
		if s := a["ScheduledAt"]; s != "" {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				t = t.In(loc)
				why = append(why, p.T("review.why_now", "At", p.T("review.weekday_time",
					"Weekday", p.T(fmt.Sprintf("weekday.%d", int(t.Weekday()))), "Clock", t.Format("15:04 MST"))))
			}
		}
		return p.T(m.Code, "Hours", hours(), "Lead", span("Lead"), "Deadline", span("Deadline"),
			"Resolved", at("Resolved"), "Why", strings.Join(why, p.T("list.semicolon")), "DeadlineAt", at("DeadlineAt"))
	}
	return p.Say(m)
}
