package review

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// prodID names postmortemd as the calendar's producer.
const prodID = "-//postmortemd//review meetings//EN"

// Links builds the addresses an invitation points at.
type Links struct {
	// BaseURL is postmortemd's external URL ("https://postmortemd.example.com"); empty leaves links
	// out.
	BaseURL string
}

// Timeline is the live timeline page of an incident.
func (l Links) Timeline(id string) string {
	if l.BaseURL == "" {
		return ""
	}
	return strings.TrimSuffix(l.BaseURL, "/") + "/incidents/" + url.PathEscape(id)
}

// Draft is the draft postmortem's page.
func (l Links) Draft(id string) string {
	if l.BaseURL == "" {
		return ""
	}
	return strings.TrimSuffix(l.BaseURL, "/") + "/postmortems/" + url.PathEscape(id)
}

// CalendarOptions shape the iCalendar output.
type CalendarOptions struct {
	// Organizer is the organizer's address (mailto: is added).
	Organizer string
	Links     Links
	// Now stamps DTSTAMP; default time.Now.
	Now func() time.Time
	// Skipped, when set, hears of every review that Feed leaves out because it cannot be written
	// (its time zone is unknown, say): the feed lists the others.
	Skipped func(r Review, err error)
	// Lang is the language of the title and text (--draft-lang); "" is English.
	Lang i18n.Lang
}

// Invitation is the iTIP message (RFC 5546) for r's current state: METHOD:REQUEST with every
// attendee for a scheduled meeting, METHOD:CANCEL for a cancelled or waived one. It is the only
// output that names people.
func Invitation(r Review, o CalendarOptions) ([]byte, error) {
	cal := newCalendar()
	cal.Props.SetText(ical.PropMethod, r.Method())
	ev, err := event(r, o, true)
	if err != nil {
		return nil, err
	}
	if err := addTimezones(cal, r); err != nil {
		return nil, err
	}
	cal.Children = append(cal.Children, ev.Component)
	return encode(cal)
}

// Feed is a subscribable calendar (no METHOD, RFC 5545 publishing) of rs: every scheduled meeting,
// and cancelled ones marked CANCELLED so subscribers drop them. It lists attendees as a count of
// roles in the description, never their addresses.
func Feed(rs []Review, name string, o CalendarOptions) ([]byte, error) {
	cal := newCalendar()
	if name != "" {
		cal.Props.SetText(ical.PropName, name)
		cal.Props.SetText("X-WR-CALNAME", name)
	}
	// RFC 7986 requires VALUE=DURATION on REFRESH-INTERVAL; go-ical's SetValueType leaves out a
	// value type that is the property's default, so the parameter is set by hand.
	refresh := ical.NewProp(ical.PropRefreshInterval)
	refresh.Value = "PT15M"
	refresh.Params.Set(ical.ParamValue, string(ical.ValueDuration))
	cal.Props.Set(refresh)
	zones := map[string]bool{}
	for _, r := range rs {
		if r.Start.IsZero() {
			continue
		}
		// One review that cannot be written never takes the feed of every other one down.
		ev, err := event(r, o, false)
		if err == nil {
			err = encodable(ev.Component)
		}
		if err == nil && !zones[r.TimeZone] {
			if err = addTimezones(cal, r); err == nil {
				zones[r.TimeZone] = true
			}
		}
		if err != nil {
			if o.Skipped != nil {
				o.Skipped(r, err)
			}
			continue
		}
		cal.Children = append(cal.Children, ev.Component)
	}
	if len(cal.Children) == 0 {
		// RFC 5545 wants at least one component, and go-ical will not encode an empty calendar:
		// before the first review, the feed carries only the (empty) UTC time zone, so a team can
		// subscribe on day one.
		cal.Children = append(cal.Children, utcTimezone())
	}
	return encode(cal)
}

// utcTimezone is a VTIMEZONE for UTC: valid, and harmless to every client.
func utcTimezone() *ical.Component {
	tz := ical.NewComponent(ical.CompTimezone)
	tz.Props.SetText(ical.PropTimezoneID, "UTC")
	std := ical.NewComponent(ical.CompTimezoneStandard)
	dt := ical.NewProp(ical.PropDateTimeStart)
	dt.Value = "19700101T000000"
	std.Props.Set(dt)
	for _, name := range []string{ical.PropTimezoneOffsetFrom, ical.PropTimezoneOffsetTo} {
		p := ical.NewProp(name)
		p.Value = "+0000"
		std.Props.Set(p)
	}
	std.Props.SetText(ical.PropTimezoneName, "UTC")
	tz.Children = append(tz.Children, std)
	return tz
}

func newCalendar() *ical.Calendar {
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, prodID)
	cal.Props.SetText(ical.PropCalendarScale, "GREGORIAN")
	return cal
}

// encodable reports why comp, alone in a calendar, cannot be encoded.
func encodable(comp *ical.Component) error {
	cal := newCalendar()
	cal.Children = []*ical.Component{comp}
	safeCalendar(cal.Component)
	if err := ical.NewEncoder(io.Discard).Encode(cal); err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return nil
}

// encode writes cal, made safe first: whatever text reached a property, the output is valid.
func encode(cal *ical.Calendar) ([]byte, error) {
	safeCalendar(cal.Component)
	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return nil, fmt.Errorf("encode calendar: %w", err)
	}
	return fold(buf.Bytes()), nil
}

// fold splits content lines longer than 75 octets (RFC 5545 3.1), which go-ical's encoder leaves
// long: a CRLF and a space, never inside a UTF-8 sequence. Some clients reject long lines.
func fold(b []byte) []byte {
	const limit = 75
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\r\n")) {
		body := bytes.TrimSuffix(line, []byte("\r\n"))
		n := limit
		for len(body) > n {
			cut := n
			for cut > 0 && body[cut]&0xC0 == 0x80 { // a continuation byte: cut before its sequence
				cut--
			}
			out.Write(body[:cut])
			out.WriteString("\r\n ")
			body = body[cut:]
			n = limit - 1 // the leading space counts
		}
		out.Write(body)
		if bytes.HasSuffix(line, []byte("\r\n")) {
			out.WriteString("\r\n")
		}
	}
	return out.Bytes()
}

func event(r Review, o CalendarOptions, invite bool) (*ical.Event, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("review of %s: time zone %q: %w", r.IncidentID, r.TimeZone, err)
	}
	ev := ical.NewEvent()
	ev.Props.SetText(ical.PropUID, r.UID)
	ev.Props.SetDateTime(ical.PropDateTimeStamp, now().UTC())
	ev.Props.SetDateTime(ical.PropDateTimeStart, r.Start.In(loc))
	ev.Props.SetDateTime(ical.PropDateTimeEnd, r.End.In(loc))
	ev.Props.SetText(ical.PropSequence, fmt.Sprint(r.Sequence))
	ev.Props.Get(ical.PropSequence).SetValueType(ical.ValueInt)
	p := i18n.For(o.Lang)
	ev.Props.SetText(ical.PropSummary, Summary(r, p))
	ev.Props.SetText(ical.PropDescription, Description(r, o.Links, p))
	for _, name := range []string{ical.PropSummary, ical.PropDescription} {
		ev.Props.Get(name).Params.Set(ical.ParamLanguage, string(p.Lang())) // RFC 5545 3.2.10
	}
	if u := o.Links.Draft(r.IncidentID); u != "" {
		ev.Props.SetText(ical.PropURL, u)
		ev.Props.Get(ical.PropURL).SetValueType(ical.ValueURI)
	}
	ev.Props.SetText(ical.PropTransparency, "OPAQUE")
	if !r.CreatedAt.IsZero() {
		ev.Props.SetDateTime(ical.PropCreated, r.CreatedAt.UTC())
	}
	if !r.UpdatedAt.IsZero() {
		ev.Props.SetDateTime(ical.PropLastModified, r.UpdatedAt.UTC())
	}
	if r.Status == StatusScheduled {
		ev.SetStatus(ical.EventConfirmed)
	} else {
		ev.SetStatus(ical.EventCancelled)
	}
	if o.Organizer != "" {
		org := ical.NewProp(ical.PropOrganizer)
		org.Value = mailto(o.Organizer)
		org.Params.Set(ical.ParamCommonName, "postmortemd")
		ev.Props.Add(org)
	}
	if invite {
		for _, a := range r.Attendees {
			p := ical.NewProp(ical.PropAttendee)
			p.Value = mailto(a.Email)
			if a.Name != "" {
				p.Params.Set(ical.ParamCommonName, a.Name)
			}
			p.Params.Set(ical.ParamCalendarUserType, "INDIVIDUAL")
			if a.Required {
				p.Params.Set(ical.ParamRole, "REQ-PARTICIPANT")
			} else {
				p.Params.Set(ical.ParamRole, "OPT-PARTICIPANT")
			}
			p.Params.Set(ical.ParamParticipationStatus, "NEEDS-ACTION")
			p.Params.Set(ical.ParamRSVP, "TRUE")
			ev.Props.Add(p)
		}
	}
	return ev, nil
}

// Summary is the meeting's title (and an e-mail subject) in p's language.
func Summary(r Review, p i18n.Printer) string {
	t := r.Title
	if t == "" {
		t = r.IncidentID
	}
	s := p.T("review.summary", "Title", t)
	if r.Status != StatusScheduled {
		s = p.T("review.cancelled_summary", "Summary", s)
	}
	return s
}

// Description is the meeting's text in p's language: when (in the meeting's time zone), why this
// slot, who is invited (as roles), and the links.
func Description(r Review, l Links, p i18n.Printer) string {
	var b strings.Builder
	switch r.Status {
	case StatusCancelled:
		b.WriteString(p.T("review.cancelled") + "\n\n")
	case StatusWaived:
		b.WriteString(p.T("review.waived", "Reason", r.WaiveReason) + "\n\n")
	}
	b.WriteString(p.T("review.intro", "ID", r.IncidentID) + "\n")
	if loc, err := time.LoadLocation(r.TimeZone); err == nil && r.Status == StatusScheduled && !r.Start.IsZero() {
		start, end := r.Start.In(loc), r.End.In(loc)
		b.WriteString(p.T("review.when", "Date", p.LongDate(start), "Start", start.Format("15:04"), "End", end.Format("15:04"),
			"Zone", r.TimeZone) + "\n")
	}
	if why := r.ReasonText(p); why != "" {
		b.WriteString(why + "\n")
	}
	if roles := Roles(r.Attendees); len(roles) > 0 {
		for i, role := range roles {
			roles[i] = p.Role(timeline.Role(role))
		}
		b.WriteString(p.T("review.invited", "Count", len(r.Attendees), "Roles", strings.Join(roles, p.T("list.semicolon"))) + "\n")
	}
	if u := l.Draft(r.IncidentID); u != "" {
		b.WriteString("\n" + p.T("review.draft_link", "URL", u) + "\n")
	}
	if u := l.Timeline(r.IncidentID); u != "" {
		b.WriteString(p.T("review.timeline_link", "URL", u) + "\n")
	}
	return b.String()
}

func mailto(addr string) string {
	if strings.HasPrefix(strings.ToLower(addr), "mailto:") {
		return addr
	}
	return "mailto:" + addr
}

// addTimezones adds the VTIMEZONE that r's TZID needs (RFC 5545 3.6.5), built from Go's zone data:
// the zone's observances from a year before the meeting to a year after.
func addTimezones(cal *ical.Calendar, r Review) error {
	if r.TimeZone == "" || r.TimeZone == "UTC" {
		return nil
	}
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		return fmt.Errorf("time zone %q: %w", r.TimeZone, err)
	}
	tz := ical.NewComponent(ical.CompTimezone)
	tz.Props.SetText(ical.PropTimezoneID, r.TimeZone)
	from := r.Start.In(loc).AddDate(-1, 0, 0)
	to := r.Start.In(loc).AddDate(1, 0, 0)
	t := from
	_, prevOff := t.Add(-time.Second).Zone()
	first := true
	for !t.After(to) {
		name, off := t.Zone()
		start, end := t.ZoneBounds()
		if first || !start.IsZero() {
			at := start
			if first || at.IsZero() || at.Before(from.AddDate(-1, 0, 0)) {
				at = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
				prevOff = off
			} else {
				_, prevOff = at.Add(-time.Second).Zone()
			}
			kind := ical.CompTimezoneStandard
			if t.IsDST() {
				kind = ical.CompTimezoneDaylight
			}
			obs := ical.NewComponent(kind)
			// DTSTART of an observance is local time (of the offset in force before it) without TZID.
			local := at.Add(time.Duration(prevOff) * time.Second).UTC()
			p := ical.NewProp(ical.PropDateTimeStart)
			p.SetValueType(ical.ValueDateTime)
			p.Value = local.Format("20060102T150405")
			obs.Props.Set(p)
			for name, v := range map[string]string{ical.PropTimezoneOffsetFrom: offset(prevOff), ical.PropTimezoneOffsetTo: offset(off)} {
				p := ical.NewProp(name) // UTC-OFFSET is the default value type: no VALUE parameter
				p.Value = v
				obs.Props.Set(p)
			}
			obs.Props.SetText(ical.PropTimezoneName, name)
			tz.Children = append(tz.Children, obs)
			first = false
		}
		if end.IsZero() {
			break
		}
		t = end
	}
	cal.Children = append(cal.Children, tz)
	return nil
}

func offset(sec int) string {
	sign := "+"
	if sec < 0 {
		sign, sec = "-", -sec
	}
	return fmt.Sprintf("%s%02d%02d", sign, sec/3600, sec%3600/60)
}
