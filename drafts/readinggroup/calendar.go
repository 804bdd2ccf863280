package readinggroup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/postmortemd/postmortemd/internal/i18n"
)

// Description is a session's text in its language: the postmortems to read, with why and where.
// Titles, reasons and links are the postmortems' own.
func Description(s Session) string {
	p := i18n.For(s.Lang)
	var b strings.Builder
	b.WriteString(p.T("readinggroup.intro") + "\n\n")
	if len(s.Postmortems) == 0 {
		b.WriteString(p.T("readinggroup.all_read") + "\n")
		return b.String()
	}
	b.WriteString(p.T("readinggroup.read_before") + "\n")
	for i, it := range s.Postmortems {
		title := it.Title
		if title == "" {
			title = it.ID
		}
		fmt.Fprintf(&b, "%d. %s\n", i+1, title)
		if it.RecommendedReason != "" {
			fmt.Fprintf(&b, "   %s\n", p.T("readinggroup.why", "Reason", it.RecommendedReason))
		}
		if it.URL != "" {
			fmt.Fprintf(&b, "   %s\n", it.URL)
		}
	}
	return b.String()
}

// Event is s as a VEVENT, in UTC (no VTIMEZONE needed), without attendees: fit for the public
// feed. now stamps DTSTAMP.
func Event(s Session, now time.Time) *ical.Component {
	ev := ical.NewEvent()
	ev.Props.SetText(ical.PropUID, s.UID)
	ev.Props.SetDateTime(ical.PropDateTimeStamp, now.UTC())
	ev.Props.SetDateTime(ical.PropDateTimeStart, s.Start.UTC())
	ev.Props.SetDateTime(ical.PropDateTimeEnd, s.End.UTC())
	ev.Props.SetText(ical.PropSummary, s.Title)
	ev.Props.SetText(ical.PropDescription, Description(s))
	if s.Lang != "" && s.Lang != i18n.English { // the description is ours, in the sessions' language
		ev.Props.Get(ical.PropDescription).Params.Set("LANGUAGE", string(s.Lang))
	}
	if s.Location != "" {
		ev.Props.SetText(ical.PropLocation, s.Location)
	}
	ev.Props.SetText(ical.PropSequence, fmt.Sprint(sequence(s)))
	ev.Props.Get(ical.PropSequence).SetValueType(ical.ValueInt)
	ev.Props.SetText(ical.PropTransparency, "OPAQUE")
	ev.SetStatus(ical.EventConfirmed)
	return ev.Component
}

// sequence is 0 for a planned session, whose list may still change, and 1 once it started and its
// list is final, so a client that saw the plan takes the final list.
func sequence(s Session) int {
	if s.Started {
		return 1
	}
	return 0
}

// Events returns the feed's reading-group events: every recorded session and the next one.
func (g *Group) Events(ctx context.Context) ([]*ical.Component, error) {
	past, err := g.Past(ctx)
	if err != nil {
		return nil, err
	}
	next, ok, err := g.Next(ctx)
	if err != nil {
		return nil, err
	}
	now := g.o.Now()
	var out []*ical.Component
	for _, s := range past {
		if ok && s.UID == next.UID {
			continue
		}
		out = append(out, Event(s, now))
	}
	if ok {
		out = append(out, Event(next, now))
	}
	return out, nil
}
