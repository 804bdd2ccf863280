package readinggroup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/postmortemd/postmortemd/drafts/review"
)

// Claims make a delivery happen once across replicas and restarts; timeline/redisstore satisfies
// it (the claims reminders use).
type Claims interface {
	// BeginReminder claims key for one attempt held until now+lease: the attempt's number, or 0
	// when it was delivered, given up, abandoned, is held by another replica or waits for its retry.
	BeginReminder(ctx context.Context, key string, now time.Time, lease time.Duration) (attempt int, abandoned bool, err error)
	// FinishReminder settles the attempt: sent, to be retried from retryAt, or (zero retryAt)
	// given up.
	FinishReminder(ctx context.Context, key string, sent bool, retryAt time.Time) error
}

// Delivery sends each session's invitation through the review meetings' transports (CalDAV,
// e-mail), once per session and transport.
type Delivery struct {
	Transports []review.Transport
	Claims     Claims
	// Organizer is the invitations' organizer address (the review organizer).
	Organizer string
}

// maxAttempts bounds the tries of one invitation through one transport.
const maxAttempts = 8

// deliveryLease is how long one attempt holds its claim.
const deliveryLease = 2 * time.Minute

// Invitation is the iTIP REQUEST (RFC 5546) of s with every invited address as an attendee.
func (g *Group) Invitation(s Session, organizer string) ([]byte, error) {
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//postmortemd//reading group//EN")
	cal.Props.SetText(ical.PropMethod, "REQUEST")
	ev := Event(s, g.o.Now())
	if organizer != "" {
		org := ical.NewProp(ical.PropOrganizer)
		org.Value = "mailto:" + strings.TrimPrefix(organizer, "mailto:")
		org.Params.Set(ical.ParamCommonName, "postmortemd")
		ev.Props.Add(org)
	}
	for _, a := range g.o.Config.Invite {
		p := ical.NewProp(ical.PropAttendee)
		p.Value = "mailto:" + a
		p.Params.Set(ical.ParamRole, "OPT-PARTICIPANT")
		p.Params.Set(ical.ParamParticipationStatus, "NEEDS-ACTION")
		p.Params.Set(ical.ParamRSVP, "TRUE")
		ev.Props.Add(p)
	}
	cal.Children = append(cal.Children, ev)
	return review.EncodeCalendar(cal)
}

// Deliver sends the next session's invitation, with the postmortems planned for it, once per
// transport: when the previous session has ended (or, for the first, when the group starts).
// When the session starts, its final list goes once more (SEQUENCE 1) to the shared calendar
// (CalDAV) but not by e-mail: people are not mailed again at the start. A failed attempt is
// retried with backoff, a permanent failure is given up and logged. E-mail is skipped when nobody
// is invited.
func (g *Group) Deliver(ctx context.Context, d Delivery) error {
	if len(d.Transports) == 0 || d.Claims == nil {
		return nil
	}
	s, ok, err := g.Next(ctx)
	if err != nil || !ok {
		return err
	}
	cal, err := g.Invitation(s, d.Organizer)
	if err != nil {
		return err
	}
	m := review.Message{UID: s.UID, Sequence: sequence(s), Method: "REQUEST", Calendar: cal, Summary: s.Title,
		Text: Description(s), Recipients: g.o.Config.Invite, Lang: string(s.Lang)}
	if d.Organizer != "" {
		m.Organizer = "mailto:" + strings.TrimPrefix(d.Organizer, "mailto:")
	}
	var errs []error
	for _, t := range d.Transports {
		if t.Name() == "email" && (len(m.Recipients) == 0 || s.Started) {
			continue
		}
		key := fmt.Sprintf("rg:%s:%d:%s", s.UID, m.Sequence, t.Name())
		now := g.o.Now()
		attempt, abandoned, err := d.Claims.BeginReminder(ctx, key, now, deliveryLease)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if abandoned {
			g.log.Warn("reading-group invitation abandoned: a replica stopped while sending it, so it is not sent again", "uid", s.UID, "transport", t.Name())
		}
		if attempt == 0 {
			continue
		}
		sendErr := t.Deliver(ctx, m)
		var retryAt time.Time
		switch {
		case sendErr == nil || errors.Is(sendErr, review.ErrPartial):
			g.log.Info("reading-group invitation delivered", "uid", s.UID, "transport", t.Name(), "postmortems", len(s.Postmortems))
		case errors.Is(sendErr, review.ErrPermanent) || attempt >= maxAttempts:
			g.log.Error("reading-group invitation given up", "uid", s.UID, "transport", t.Name(), "attempt", attempt, "err", sendErr)
		default:
			retryAt = now.Add(backoff(attempt))
			g.log.Warn("reading-group invitation failed; retrying", "uid", s.UID, "transport", t.Name(), "attempt", attempt, "retry_at", retryAt, "err", sendErr)
		}
		sent := sendErr == nil || errors.Is(sendErr, review.ErrPartial)
		if err := d.Claims.FinishReminder(ctx, key, sent, retryAt); err != nil {
			errs = append(errs, fmt.Errorf("settle invitation %s via %s: %w", s.UID, t.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// backoff is the wait before attempt n+1: 30s, 1m, 2m, ... at most 1h.
func backoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}
