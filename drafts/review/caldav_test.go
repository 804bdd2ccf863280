package review

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// deliveryInvite describes the calendar of a test message.
type deliveryInvite struct {
	uid       string
	seq       int
	method    string
	start     time.Time // in the meeting's time zone
	attendees []string
}

// deliveryCalendar builds the VCALENDAR of an iTIP message the way a sender
// does: METHOD, a VTIMEZONE, and one VEVENT with DTSTART and DTEND in that
// time zone, an organizer and attendees.
func deliveryCalendar(tb testing.TB, in deliveryInvite) []byte {
	tb.Helper()
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//postmortemd//delivery tests//EN")
	cal.Props.SetText(ical.PropMethod, in.method)

	tz := ical.NewComponent(ical.CompTimezone)
	tz.Props.SetText(ical.PropTimezoneID, in.start.Location().String())
	std := ical.NewComponent(ical.CompTimezoneStandard)
	_, off := in.start.Zone()
	for name, value := range map[string]string{
		ical.PropTimezoneOffsetFrom: icalOffset(off),
		ical.PropTimezoneOffsetTo:   icalOffset(off),
		ical.PropDateTimeStart:      "19700101T000000",
	} {
		p := ical.NewProp(name)
		p.Value = value // not SetText: that would add VALUE=TEXT, which servers reject
		std.Props.Set(p)
	}
	tz.Children = append(tz.Children, std)
	cal.Children = append(cal.Children, tz)

	ev := ical.NewEvent()
	ev.Props.SetText(ical.PropUID, in.uid)
	ev.Props.SetDateTime(ical.PropDateTimeStamp, time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	ev.Props.SetDateTime(ical.PropDateTimeStart, in.start)
	ev.Props.SetDateTime(ical.PropDateTimeEnd, in.start.Add(time.Hour))
	seq := ical.NewProp(ical.PropSequence)
	seq.SetValueType(ical.ValueInt)
	seq.Value = strconv.Itoa(in.seq)
	ev.Props.Set(seq)
	ev.Props.SetText(ical.PropSummary, "Postmortem review: checkout latency (インシデント)")
	ev.Props.SetText(ical.PropStatus, "CONFIRMED")
	org := ical.NewProp(ical.PropOrganizer)
	org.Value = "mailto:postmortemd@example.org"
	ev.Props.Add(org)
	for _, a := range in.attendees {
		p := ical.NewProp(ical.PropAttendee)
		p.Value = "mailto:" + a
		p.Params.Set(ical.ParamRole, "REQ-PARTICIPANT")
		p.Params.Set(ical.ParamParticipationStatus, "NEEDS-ACTION")
		p.Params.Set(ical.ParamRSVP, "TRUE")
		ev.Props.Add(p)
	}
	cal.Children = append(cal.Children, ev.Component)

	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		tb.Fatalf("encode test calendar: %v", err)
	}
	return buf.Bytes()
}

// icalOffset formats a UTC offset in seconds as iCalendar's +HHMM.
func icalOffset(sec int) string {
	sign := "+"
	if sec < 0 {
		sign, sec = "-", -sec
	}
	return fmt.Sprintf("%s%02d%02d", sign, sec/3600, sec%3600/60)
}

// deliveryMessage returns a message for the invite.
func deliveryMessage(tb testing.TB, in deliveryInvite) Message {
	tb.Helper()
	return Message{
		UID:        in.uid,
		Sequence:   in.seq,
		Method:     in.method,
		Calendar:   deliveryCalendar(tb, in),
		Summary:    "Postmortem review: checkout latency",
		Text:       "Draft: https://pm.example.org/drafts/x\nTimeline: https://pm.example.org/incidents/x\n",
		Organizer:  "mailto:postmortemd@example.org",
		Recipients: in.attendees,
	}
}

func deliveryLocation(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatalf("load time zone: %v", err)
	}
	return loc
}

// davReader reads the collection back the way a calendar client does.
type davReader struct {
	tb         testing.TB
	client     *caldav.Client
	collection string
}

func newDAVReader(tb testing.TB, r *testenv.Radicale) *davReader {
	tb.Helper()
	hc := webdav.HTTPClientWithBasicAuth(http.DefaultClient, testenv.RadicaleUser, testenv.RadicalePassword)
	c, err := caldav.NewClient(hc, r.CalendarURL())
	if err != nil {
		tb.Fatal(err)
	}
	return &davReader{tb: tb, client: c, collection: strings.TrimPrefix(r.CalendarURL(), r.URL())}
}

// objects returns every calendar object in the collection, by a
// calendar-query REPORT for VEVENTs.
func (d *davReader) objects() []caldav.CalendarObject {
	d.tb.Helper()
	objs, err := d.client.QueryCalendar(context.Background(), d.collection, &caldav.CalendarQuery{
		CompRequest: caldav.CalendarCompRequest{Name: "VCALENDAR", AllProps: true, AllComps: true},
		CompFilter:  caldav.CompFilter{Name: "VCALENDAR", Comps: []caldav.CompFilter{{Name: "VEVENT"}}},
	})
	if err != nil {
		d.tb.Fatalf("calendar-query REPORT: %v", err)
	}
	return objs
}

// only returns the collection's one object and its one VEVENT, failing when
// there is not exactly one.
func (d *davReader) only() (caldav.CalendarObject, ical.Event) {
	d.tb.Helper()
	objs := d.objects()
	if len(objs) != 1 {
		paths := []string{}
		for _, o := range objs {
			paths = append(paths, o.Path)
		}
		d.tb.Fatalf("collection holds %d objects %v, want exactly 1", len(objs), paths)
	}
	evs := objs[0].Data.Events()
	if len(evs) != 1 {
		d.tb.Fatalf("object %s holds %d VEVENTs, want 1", objs[0].Path, len(evs))
	}
	return objs[0], evs[0]
}

func icalText(tb testing.TB, ev ical.Event, name string) string {
	tb.Helper()
	s, err := ev.Props.Text(name)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return s
}

func icalSequence(tb testing.TB, ev ical.Event) int {
	tb.Helper()
	p := ev.Props.Get(ical.PropSequence)
	if p == nil {
		tb.Fatal("no SEQUENCE")
	}
	n, err := p.Int()
	if err != nil {
		tb.Fatalf("SEQUENCE: %v", err)
	}
	return n
}

func icalAttendees(ev ical.Event) []string {
	var out []string
	for _, p := range ev.Props.Values(ical.PropAttendee) {
		out = append(out, strings.TrimPrefix(strings.ToLower(p.Value), "mailto:"))
	}
	slices.Sort(out)
	return out
}

func TestCalDAVDeliverRoundTrip(t *testing.T) {
	r := testenv.StartRadicale(t)
	dav, err := NewCalDAV(CalDAVOptions{
		URL: r.CalendarURL(), Username: testenv.RadicaleUser, Password: testenv.RadicalePassword, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	read := newDAVReader(t, r)
	ctx := context.Background()
	tokyo := deliveryLocation(t, "Asia/Tokyo")
	uid := "3f2a9c0d5e6b7a8190c1d2e3f4a5b6c7@postmortemd"
	first := deliveryInvite{uid: uid, seq: 0, method: "REQUEST",
		start:     time.Date(2026, 11, 24, 10, 0, 0, 0, tokyo),
		attendees: []string{"oncall-primary@example.org", "sre-lead@example.org"}}

	t.Run("an invitation is stored without METHOD, with its time zone, attendees and SEQUENCE", func(t *testing.T) {
		if err := dav.Deliver(ctx, deliveryMessage(t, first)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		obj, ev := read.only()
		if !strings.HasPrefix(obj.Path, strings.TrimPrefix(r.CalendarURL(), r.URL())) || !strings.HasSuffix(obj.Path, ".ics") {
			t.Errorf("object path = %q, want an .ics resource in the collection", obj.Path)
		}
		if m := obj.Data.Props.Get(ical.PropMethod); m != nil {
			t.Errorf("stored object carries METHOD:%s; RFC 4791 §4.1 forbids it", m.Value)
		}
		if got := icalText(t, ev, ical.PropUID); got != uid {
			t.Errorf("UID = %q, want %q", got, uid)
		}
		start := ev.Props.Get(ical.PropDateTimeStart)
		if tzid := start.Params.Get(ical.PropTimezoneID); tzid != "Asia/Tokyo" || start.Value != "20261124T100000" {
			t.Errorf("DTSTART = %q;TZID=%q, want 20261124T100000;TZID=Asia/Tokyo", start.Value, tzid)
		}
		if got, err := ev.DateTimeStart(nil); err != nil || !got.Equal(first.start) {
			t.Errorf("DTSTART = %v (%v), want %v", got, err, first.start)
		}
		if got := icalAttendees(ev); !slices.Equal(got, first.attendees) {
			t.Errorf("attendees = %v, want %v", got, first.attendees)
		}
		if got := icalSequence(t, ev); got != 0 {
			t.Errorf("SEQUENCE = %d, want 0", got)
		}
		if got := icalText(t, ev, ical.PropStatus); got != "CONFIRMED" {
			t.Errorf("STATUS = %s, want CONFIRMED", got)
		}
	})

	t.Run("the same revision again leaves one object", func(t *testing.T) {
		if err := dav.Deliver(ctx, deliveryMessage(t, first)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		read.only()
	})

	moved := first
	moved.seq = 1
	moved.start = time.Date(2026, 11, 24, 15, 30, 0, 0, tokyo)
	moved.attendees = []string{"oncall-primary@example.org", "sre-lead@example.org", "team-owner@example.org"}
	t.Run("an update moves the event in place", func(t *testing.T) {
		if err := dav.Deliver(ctx, deliveryMessage(t, moved)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		_, ev := read.only()
		if got, _ := ev.DateTimeStart(nil); !got.Equal(moved.start) {
			t.Errorf("DTSTART = %v, want %v", got, moved.start)
		}
		if got := icalSequence(t, ev); got != 1 {
			t.Errorf("SEQUENCE = %d, want 1", got)
		}
		if got := icalAttendees(ev); !slices.Equal(got, moved.attendees) {
			t.Errorf("attendees = %v, want %v", got, moved.attendees)
		}
	})

	t.Run("a late retry of an older revision does not undo the update", func(t *testing.T) {
		if err := dav.Deliver(ctx, deliveryMessage(t, first)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		_, ev := read.only()
		if got, _ := ev.DateTimeStart(nil); !got.Equal(moved.start) {
			t.Errorf("DTSTART = %v after a stale delivery, want %v", got, moved.start)
		}
	})

	cancelled := moved
	cancelled.seq = 2
	cancelled.method = "CANCEL"
	t.Run("a cancellation keeps the event with STATUS:CANCELLED", func(t *testing.T) {
		if err := dav.Deliver(ctx, deliveryMessage(t, cancelled)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		obj, ev := read.only()
		if got := icalText(t, ev, ical.PropStatus); got != "CANCELLED" {
			t.Errorf("STATUS = %s, want CANCELLED", got)
		}
		if got := icalSequence(t, ev); got != 2 {
			t.Errorf("SEQUENCE = %d, want 2", got)
		}
		// A raw GET, as any client would, sees the same.
		req, _ := http.NewRequest(http.MethodGet, r.URL()+obj.Path, nil)
		req.SetBasicAuth(testenv.RadicaleUser, testenv.RadicalePassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "STATUS:CANCELLED") ||
			strings.Contains(string(body), "METHOD:") {
			t.Errorf("GET %s = %s\n%s\nwant 200 with STATUS:CANCELLED and no METHOD", obj.Path, resp.Status, body)
		}
	})

	t.Run("a rescheduled meeting after a cancellation comes back", func(t *testing.T) {
		again := moved
		again.seq = 3
		if err := dav.Deliver(ctx, deliveryMessage(t, again)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		_, ev := read.only()
		if got := icalText(t, ev, ical.PropStatus); got != "CONFIRMED" {
			t.Errorf("STATUS = %s, want CONFIRMED", got)
		}
	})

	t.Run("events of different UIDs are different objects", func(t *testing.T) {
		other := first
		other.uid = "other/../odd uid@postmortemd"
		if err := dav.Deliver(ctx, deliveryMessage(t, other)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		objs := read.objects()
		uids := []string{}
		for _, o := range objs {
			for _, ev := range o.Data.Events() {
				uids = append(uids, icalText(t, ev, ical.PropUID))
			}
		}
		slices.Sort(uids)
		if want := []string{uid, other.uid}; !slices.Equal(uids, want) {
			t.Errorf("UIDs in the collection = %q, want %q", uids, want)
		}
	})
}

func TestCalDAVDeliverErrors(t *testing.T) {
	r := testenv.StartRadicale(t)
	ctx := context.Background()
	good := deliveryInvite{uid: "errors@postmortemd", method: "REQUEST",
		start: time.Date(2026, 11, 24, 10, 0, 0, 0, deliveryLocation(t, "Europe/Berlin")), attendees: []string{"a@example.org"}}
	noVEvent := deliveryMessage(t, good)
	noVEvent.Calendar = []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nMETHOD:REQUEST\r\nBEGIN:VTODO\r\nUID:errors@postmortemd\r\nDTSTAMP:20261123T090000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
	wrongUID := deliveryMessage(t, good)
	wrongUID.UID = "someone-else@postmortemd"
	methodMismatch := deliveryMessage(t, good)
	methodMismatch.Method = "CANCEL"
	garbage := deliveryMessage(t, good)
	garbage.Calendar = []byte("not a calendar")

	tests := []struct {
		name      string
		opts      CalDAVOptions
		msg       Message
		before    func()
		permanent bool
	}{
		{name: "wrong password", permanent: true,
			opts: CalDAVOptions{URL: r.CalendarURL(), Username: testenv.RadicaleUser, Password: "wrong"}, msg: deliveryMessage(t, good)},
		{name: "no credentials", permanent: true,
			opts: CalDAVOptions{URL: r.CalendarURL()}, msg: deliveryMessage(t, good)},
		{name: "collection does not exist", permanent: true,
			opts: CalDAVOptions{URL: r.URL() + "/" + testenv.RadicaleUser + "/no-such-calendar/", Username: testenv.RadicaleUser, Password: testenv.RadicalePassword},
			msg:  deliveryMessage(t, good)},
		{name: "calendar is not iCalendar", permanent: true, opts: CalDAVOptions{URL: r.CalendarURL()}, msg: garbage},
		{name: "calendar without VEVENT", permanent: true, opts: CalDAVOptions{URL: r.CalendarURL()}, msg: noVEvent},
		{name: "VEVENT UID differs from the message's", permanent: true, opts: CalDAVOptions{URL: r.CalendarURL()}, msg: wrongUID},
		{name: "METHOD differs from the message's", permanent: true, opts: CalDAVOptions{URL: r.CalendarURL()}, msg: methodMismatch},
		{name: "server down", permanent: false, before: r.Stop,
			opts: CalDAVOptions{URL: r.CalendarURL(), Username: testenv.RadicaleUser, Password: testenv.RadicalePassword, Timeout: 2 * time.Second},
			msg:  deliveryMessage(t, good)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			dav, err := NewCalDAV(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			err = dav.Deliver(ctx, tt.msg)
			t.Logf("Deliver: %v", err)
			if err == nil {
				t.Fatal("Deliver succeeded, want an error")
			}
			if got := errors.Is(err, ErrPermanent); got != tt.permanent {
				t.Errorf("Deliver error %q: permanent = %v, want %v", err, got, tt.permanent)
			}
		})
	}

	t.Run("delivery succeeds once the server is back", func(t *testing.T) {
		r.Start()
		dav, err := NewCalDAV(CalDAVOptions{URL: r.CalendarURL(), Username: testenv.RadicaleUser, Password: testenv.RadicalePassword})
		if err != nil {
			t.Fatal(err)
		}
		if err := dav.Deliver(ctx, deliveryMessage(t, good)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		newDAVReader(t, r).only()
	})
}

func TestNewCalDAVRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name string
		opts CalDAVOptions
	}{
		{"empty URL", CalDAVOptions{}},
		{"relative URL", CalDAVOptions{URL: "/calendars/review/"}},
		{"not HTTP", CalDAVOptions{URL: "ftp://dav.example.org/review/"}},
		{"credentials in the URL", CalDAVOptions{URL: "https://u:p@dav.example.org/review/"}},
		{"query", CalDAVOptions{URL: "https://dav.example.org/review/?x=1"}},
		{"negative timeout", CalDAVOptions{URL: "https://dav.example.org/review/", Timeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewCalDAV(tt.opts); err == nil {
				t.Fatalf("NewCalDAV(%+v) succeeded, want an error", tt.opts)
			}
		})
	}
}

func TestObjectName(t *testing.T) {
	tests := []struct {
		uid, want string
	}{
		{"plain-uid_1.2", "plain-uid_1.2.ics"},
		{"abc@postmortemd", "abc-postmortemd-"},
		{"abc-postmortemd", "abc-postmortemd.ics"},
		{"../etc/passwd", "-.-etc-passwd-"},
		{".hidden", "-hidden-"},
	}
	for _, tt := range tests {
		t.Run(tt.uid, func(t *testing.T) {
			got := objectName(tt.uid)
			if !strings.HasPrefix(got, tt.want) || !strings.HasSuffix(got, ".ics") || strings.ContainsAny(got, "/@ ") {
				t.Errorf("objectName(%q) = %q, want a safe name starting %q", tt.uid, got, tt.want)
			}
		})
	}
	if a, b := objectName("a@b"), objectName("a-b"); a == b {
		t.Errorf("objectName gives %q for both a@b and a-b", a)
	}
}
