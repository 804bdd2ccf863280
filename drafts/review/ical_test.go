package review_test

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	ics "github.com/arran4/golang-ical"
	"github.com/emersion/go-ical"

	"github.com/postmortemd/postmortemd/drafts/review"
)

func sampleReview(t *testing.T) review.Review {
	tokyo := mustLoad(t, "Asia/Tokyo")
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, tokyo)
	return review.Review{IncidentID: "20261120-checkout-abc", UID: review.UID("20261120-checkout-abc"), Sequence: 2,
		Status: review.StatusScheduled, Title: "Checkout latency", Start: start.UTC(), End: start.Add(time.Hour).UTC(),
		TimeZone: "Asia/Tokyo", Late: true, Reason: "No free slot before the deadline.",
		Attendees: []review.Attendee{
			{Email: "ic@example.com", Name: "Ines Commander", Role: "incident commander", Required: true},
			{Email: "payments@example.com", Role: "owner of team payments", Required: true},
			{Email: "sre-leads@example.com", Role: "always invited"},
		}}
}

var calOpts = review.CalendarOptions{Organizer: "postmortems@example.com", Links: review.Links{BaseURL: "https://pm.example.com/"},
	Now: func() time.Time { return time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC) }}

func TestInvitationParsesBackWithBothLibraries(t *testing.T) {
	r := sampleReview(t)
	raw, err := review.Invitation(r, calOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("go-ical", func(t *testing.T) {
		cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, raw)
		}
		if m, _ := cal.Props.Text(ical.PropMethod); m != "REQUEST" {
			t.Errorf("METHOD = %q, want REQUEST", m)
		}
		evs := cal.Events()
		if len(evs) != 1 {
			t.Fatalf("%d events, want 1", len(evs))
		}
		ev := evs[0]
		if uid, _ := ev.Props.Text(ical.PropUID); uid != r.UID {
			t.Errorf("UID = %q, want %q", uid, r.UID)
		}
		start, err := ev.DateTimeStart(nil)
		if err != nil || !start.Equal(r.Start) || start.Location().String() != "Asia/Tokyo" {
			t.Errorf("DTSTART = %v (%v), want %v in Asia/Tokyo", start, err, r.Start)
		}
		if end, _ := ev.DateTimeEnd(nil); !end.Equal(r.End) {
			t.Errorf("DTEND = %v, want %v", end, r.End)
		}
		if seq := ev.Props.Get(ical.PropSequence); seq == nil || seq.Value != "2" {
			t.Errorf("SEQUENCE = %v, want 2", seq)
		}
		if org := ev.Props.Get(ical.PropOrganizer); org == nil || org.Value != "mailto:postmortems@example.com" {
			t.Errorf("ORGANIZER = %v", org)
		}
		atts := ev.Props.Values(ical.PropAttendee)
		if len(atts) != 3 {
			t.Fatalf("%d ATTENDEE, want 3", len(atts))
		}
		roles := map[string]string{}
		for _, a := range atts {
			roles[a.Value] = a.Params.Get(ical.ParamRole)
			if a.Params.Get(ical.ParamRSVP) != "TRUE" {
				t.Errorf("attendee %s: RSVP = %q", a.Value, a.Params.Get(ical.ParamRSVP))
			}
		}
		want := map[string]string{"mailto:ic@example.com": "REQ-PARTICIPANT", "mailto:payments@example.com": "REQ-PARTICIPANT",
			"mailto:sre-leads@example.com": "OPT-PARTICIPANT"}
		for k, v := range want {
			if roles[k] != v {
				t.Errorf("attendee %s role = %q, want %q", k, roles[k], v)
			}
		}
		desc, _ := ev.Props.Text(ical.PropDescription)
		for _, s := range []string{"https://pm.example.com/postmortems/20261120-checkout-abc",
			"https://pm.example.com/incidents/20261120-checkout-abc", "No free slot before the deadline."} {
			if !strings.Contains(desc, s) {
				t.Errorf("DESCRIPTION %q lacks %q", desc, s)
			}
		}
		var tz *ical.Component
		for _, c := range cal.Children {
			if c.Name == ical.CompTimezone {
				tz = c
			}
		}
		if tz == nil {
			t.Fatal("no VTIMEZONE for the TZID")
		}
		if id, _ := tz.Props.Text(ical.PropTimezoneID); id != "Asia/Tokyo" {
			t.Errorf("VTIMEZONE TZID = %q", id)
		}
	})
	t.Run("golang-ical", func(t *testing.T) {
		cal, err := ics.ParseCalendar(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		evs := cal.Events()
		if len(evs) != 1 {
			t.Fatalf("%d events, want 1", len(evs))
		}
		ev := evs[0]
		if ev.Id() != r.UID {
			t.Errorf("UID = %q", ev.Id())
		}
		start, err := ev.GetStartAt()
		if err != nil || !start.Equal(r.Start) {
			t.Errorf("start = %v (%v), want %v", start, err, r.Start)
		}
		end, err := ev.GetEndAt()
		if err != nil || !end.Equal(r.End) {
			t.Errorf("end = %v (%v), want %v", end, err, r.End)
		}
		var emails []string
		for _, a := range ev.Attendees() {
			emails = append(emails, a.Email())
		}
		if strings.Join(emails, ",") != "ic@example.com,payments@example.com,sre-leads@example.com" {
			t.Errorf("attendees = %v", emails)
		}
		if p := ev.GetProperty(ics.ComponentPropertySequence); p == nil || p.Value != "2" {
			t.Errorf("SEQUENCE = %v", p)
		}
	})
}

func TestLongLinesAreFolded(t *testing.T) {
	r := sampleReview(t)
	r.Title = "決済サービスのレイテンシ上昇とタイムアウトの多発（東京リージョン、チェックアウト全体に影響）"
	raw, err := review.Invitation(r, calOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 75 {
			t.Errorf("line of %d octets: %q", len(line), line)
		}
		if !utf8.ValidString(line) {
			t.Errorf("a fold split a character: %q", line)
		}
	}
	cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := cal.Events()[0].Props.Text(ical.PropSummary); got != "Postmortem review: "+r.Title {
		t.Errorf("SUMMARY unfolds to %q", got)
	}
	gcal, err := ics.ParseCalendar(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := gcal.Events()[0].GetProperty(ics.ComponentPropertySummary).Value; got != "Postmortem review: "+r.Title {
		t.Errorf("golang-ical: SUMMARY unfolds to %q", got)
	}
}

func TestCancellationKeepsTheUID(t *testing.T) {
	r := sampleReview(t)
	r.Status, r.Sequence = review.StatusCancelled, 3
	raw, err := review.Invitation(r, calOpts)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	ev := cal.Events()[0]
	m, _ := cal.Props.Text(ical.PropMethod)
	uid, _ := ev.Props.Text(ical.PropUID)
	st, _ := ev.Status()
	if m != "CANCEL" || uid != r.UID || st != ical.EventCancelled || ev.Props.Get(ical.PropSequence).Value != "3" {
		t.Errorf("cancellation: METHOD %q UID %q STATUS %q SEQUENCE %q", m, uid, st, ev.Props.Get(ical.PropSequence).Value)
	}
}

func TestFeedNamesNoOne(t *testing.T) {
	a, b := sampleReview(t), sampleReview(t)
	b.IncidentID, b.UID, b.Status = "other", review.UID("other"), review.StatusCancelled
	raw, err := review.Feed([]review.Review{a, b}, "Postmortem reviews", calOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"ic@example.com", "Ines", "payments@example.com", "METHOD:", "ATTENDEE"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the feed contains %q:\n%s", s, raw)
		}
	}
	cal, err := ics.ParseCalendar(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cal.Events()); n != 2 {
		t.Fatalf("%d events in the feed, want 2", n)
	}
	gcal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := gcal.Events()[1].Status(); st != ical.EventCancelled {
		t.Errorf("cancelled meeting's STATUS = %q", st)
	}
	if d, _ := gcal.Events()[0].Props.Text(ical.PropDescription); !strings.Contains(d, "Invited (3): incident commander; owner of team payments; always invited.") {
		t.Errorf("the feed's description does not list the roles: %q", d)
	}
	// RFC 7986 §5.7: subscribers learn how often to refresh, with the value type it requires.
	if !bytes.Contains(raw, []byte("\r\nREFRESH-INTERVAL;VALUE=DURATION:PT15M\r\n")) {
		t.Errorf("the feed lacks REFRESH-INTERVAL;VALUE=DURATION:\n%s", raw)
	}
}

func TestTimezoneWithDST(t *testing.T) {
	r := sampleReview(t)
	berlin := mustLoad(t, "Europe/Berlin")
	r.TimeZone = "Europe/Berlin"
	r.Start = time.Date(2026, 3, 30, 10, 0, 0, 0, berlin)
	r.End = r.Start.Add(time.Hour)
	raw, err := review.Invitation(r, calOpts)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, want := range []string{"BEGIN:DAYLIGHT", "BEGIN:STANDARD", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200",
		"DTSTART:20260329T020000", "DTSTART;TZID=Europe/Berlin:20260330T100000"} {
		if !strings.Contains(s, want) {
			t.Errorf("invitation lacks %q:\n%s", want, s)
		}
	}
}

// Before the first review the feed is an empty calendar that both parsers read, not an error: a
// team subscribes on day one.
func TestEmptyFeed(t *testing.T) {
	raw, err := review.Feed(nil, "Postmortem reviews", calOpts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ics.ParseCalendar(bytes.NewReader(raw)); err != nil {
		t.Fatalf("golang-ical: %v\n%s", err, raw)
	}
	cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
	if err != nil || len(cal.Events()) != 0 {
		t.Fatalf("go-ical: %v, %d events\n%s", err, len(cal.Events()), raw)
	}
}
