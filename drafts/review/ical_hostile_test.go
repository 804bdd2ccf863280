package review_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	ics "github.com/arran4/golang-ical"
	"github.com/emersion/go-ical"

	"github.com/postmortemd/postmortemd/drafts/review"
)

// hostileTitles are titles that senders really produce or that an attacker can: a CR from a
// Windows-edited rule annotation, a bare LF, an attempt to inject a property, control bytes and
// bytes that are not UTF-8.
var hostileTitles = []string{
	"Disk full on db-1\r",
	"Disk full\r\nATTENDEE:mailto:evil@example.com",
	"line one\nline two",
	"bell\x07 and nul\x00 and del\x7f",
	"latin-1 \xe9t\xe9",
	`quote " and semi; comma, backslash \`,
}

func TestFeedWithHostileTitlesParses(t *testing.T) {
	var rs []review.Review
	for i, title := range hostileTitles {
		r := sampleReview(t)
		r.IncidentID = "incident-" + string(rune('a'+i))
		r.UID = review.UID(r.IncidentID)
		r.Title, r.Reason = title, title
		r.Attendees[0].Name = title // reaches CN in an invitation
		rs = append(rs, r)
	}
	raw, err := review.Feed(rs, "Reviews\r\nX-INJECTED:1", calOpts)
	if err != nil {
		t.Fatalf("Feed: %v", err)
	}
	gcal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		t.Fatalf("go-ical: %v\n%s", err, raw)
	}
	if n := len(gcal.Events()); n != len(hostileTitles) {
		t.Fatalf("%d events, want %d\n%s", n, len(hostileTitles), raw)
	}
	if _, err := ics.ParseCalendar(bytes.NewReader(raw)); err != nil {
		t.Fatalf("golang-ical: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if strings.HasPrefix(line, "ATTENDEE") || strings.HasPrefix(line, "X-INJECTED") {
			t.Errorf("an injected line reached the feed: %q", line)
		}
	}
	if s, _ := gcal.Events()[2].Props.Text(ical.PropSummary); s != "Postmortem review: line one\nline two" {
		t.Errorf("SUMMARY = %q: a line break in a title survives as a TEXT line break", s)
	}
	if s, _ := gcal.Events()[0].Props.Text(ical.PropSummary); s != "Postmortem review: Disk full on db-1\n" {
		t.Errorf("SUMMARY = %q", s)
	}
	for i := range rs {
		inv, err := review.Invitation(rs[i], calOpts)
		if err != nil {
			t.Fatalf("Invitation %q: %v", hostileTitles[i], err)
		}
		cal, err := ical.NewDecoder(bytes.NewReader(inv)).Decode()
		if err != nil || len(cal.Events()) != 1 || len(cal.Events()[0].Props.Values(ical.PropAttendee)) != 3 {
			t.Fatalf("invitation with %q: %v\n%s", hostileTitles[i], err, inv)
		}
	}
}

// A review that cannot be written is left out, and heard of; the others stay in the feed.
func TestFeedSkipsAReviewItCannotWrite(t *testing.T) {
	good, bad := sampleReview(t), sampleReview(t)
	bad.IncidentID, bad.UID, bad.TimeZone = "bad", review.UID("bad"), "Mars/Olympus_Mons"
	var skipped []string
	o := calOpts
	o.Skipped = func(r review.Review, err error) {
		if err == nil {
			err = errors.New("nil error")
		}
		skipped = append(skipped, r.IncidentID+": "+err.Error())
	}
	raw, err := review.Feed([]review.Review{bad, good}, "Postmortem reviews", o)
	if err != nil {
		t.Fatalf("Feed: %v", err)
	}
	cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil || len(cal.Events()) != 1 {
		t.Fatalf("go-ical: %v, want 1 event\n%s", err, raw)
	}
	if uid, _ := cal.Events()[0].Props.Text(ical.PropUID); uid != good.UID {
		t.Errorf("the feed lists %q, want the good review", uid)
	}
	if len(skipped) != 1 || !strings.HasPrefix(skipped[0], "bad: ") || !strings.Contains(skipped[0], "Mars/Olympus_Mons") {
		t.Errorf("skipped = %q, want the bad review with its reason", skipped)
	}
}
