package review_test

import (
	"bytes"
	"testing"

	ics "github.com/arran4/golang-ical"
	"github.com/emersion/go-ical"

	"github.com/postmortemd/postmortemd/drafts/review"
)

// FuzzCalendar puts any text where titles, reasons, waive reasons and attendee names go, and any
// incident id. The feed and the invitation must always be written, and both iCalendar libraries
// must read back exactly the events that were written, each with one SUMMARY: no text can break a
// calendar or add a line to it.
func FuzzCalendar(f *testing.F) {
	f.Add("Checkout latency", "No free slot before the deadline.", "Ines Commander", "20261120-checkout-abc", false)
	f.Add("Disk full\r", "line\r\nATTENDEE:mailto:x@example.com", "Dana \"D\" Okafor", "id\r\nX: 1", true)
	f.Add("\x00\x7f\xff\xfe", "\\;,:", "a;b,c:d", "", false)
	f.Fuzz(func(t *testing.T, title, reason, name, id string, cancelled bool) {
		r := sampleReview(t)
		r.Title, r.Reason, r.WaiveReason, r.IncidentID, r.UID = title, reason, reason, id, review.UID(id)
		r.Attendees[0].Name = name
		if cancelled {
			r.Status = review.StatusWaived
		}
		other := sampleReview(t)
		skipped := 0
		o := calOpts
		o.Skipped = func(review.Review, error) { skipped++ }
		feed, err := review.Feed([]review.Review{r, other}, name, o)
		if err != nil || skipped != 0 {
			t.Fatalf("Feed: %v, %d skipped", err, skipped)
		}
		inv, err := review.Invitation(r, calOpts)
		if err != nil {
			t.Fatalf("Invitation: %v", err)
		}
		for what, raw := range map[string][]byte{"feed": feed, "invitation": inv} {
			want := map[string]int{"feed": 2, "invitation": 1}[what]
			cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
			if err != nil {
				t.Fatalf("go-ical cannot read the %s: %v\n%s", what, err, raw)
			}
			if n := len(cal.Events()); n != want {
				t.Fatalf("go-ical reads %d events in the %s, want %d\n%s", n, what, want, raw)
			}
			for _, ev := range cal.Events() {
				if n := len(ev.Props.Values(ical.PropSummary)); n != 1 {
					t.Fatalf("an event of the %s has %d SUMMARY\n%s", what, n, raw)
				}
			}
			if what == "invitation" && len(cal.Events()[0].Props.Values(ical.PropAttendee)) != len(r.Attendees) {
				t.Fatalf("the invitation's attendees changed\n%s", raw)
			}
			c2, err := ics.ParseCalendar(bytes.NewReader(raw))
			if err != nil || len(c2.Events()) != want {
				t.Fatalf("golang-ical reads the %s: %v\n%s", what, err, raw)
			}
		}
	})
}
