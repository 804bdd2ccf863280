package review

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/postmortemd/postmortemd/internal/i18n"
)

// Message builds what transports deliver for r's current state.
func (s *Scheduler) Message(r Review) (Message, error) {
	cal, err := Invitation(r, s.o.Calendar)
	if err != nil {
		return Message{}, err
	}
	p := i18n.For(s.o.Calendar.Lang)
	m := Message{UID: r.UID, Sequence: r.Sequence, Method: r.Method(), Calendar: cal, Summary: Summary(r, p),
		Text: Description(r, s.o.Calendar.Links, p), Lang: string(p.Lang())}
	if s.o.Calendar.Organizer != "" {
		m.Organizer = mailto(s.o.Calendar.Organizer)
	}
	for _, a := range r.Attendees {
		m.Recipients = append(m.Recipients, a.Email)
	}
	return m, nil
}

// backoff is the wait before attempt n+1 after n failed attempts.
func backoff(n int) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// deliverDue delivers every review's current sequence through every transport that has not
// delivered it yet and is due (first attempt, or its backoff elapsed). A replica claims a delivery
// in the store before attempting it, so replicas do not send the same e-mail twice.
func (s *Scheduler) deliverDue(ctx context.Context) error {
	if len(s.o.Transports) == 0 {
		return nil
	}
	all, err := s.all(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for id, r := range all {
		for _, t := range s.o.Transports {
			if !r.due(t.Name(), s.now()) {
				continue
			}
			if err := s.deliver(ctx, id, t); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// due reports whether transport name should attempt r's current sequence at now: it is not
// delivered yet, and neither a claim nor a backoff of this sequence holds it until later.
func (r Review) due(name string, now time.Time) bool {
	d := r.Deliveries[name]
	if d == nil && r.Status == StatusUnscheduled {
		return false // nothing was ever sent through this transport: nothing to take back
	}
	return r.pending(name) && (d == nil || d.Sequence != r.Sequence || !now.Before(d.NextAttempt))
}

func (s *Scheduler) deliver(ctx context.Context, id string, t Transport) error {
	name := t.Name()
	var claimed Review
	changed, err := s.update(ctx, id, func(r *Review) (*Review, error) {
		now := s.now()
		if r == nil || !r.due(name, now) {
			return nil, nil
		}
		d := r.Deliveries[name]
		if d == nil || d.Sequence != r.Sequence {
			d = &Delivery{Sequence: r.Sequence, State: DeliveryPending}
		}
		d.Method, d.NextAttempt = r.Method(), now.Add(claimLease)
		if r.Deliveries == nil {
			r.Deliveries = map[string]*Delivery{}
		}
		r.Deliveries[name] = d
		claimed = *r
		return r, nil
	})
	if err != nil {
		return fmt.Errorf("review of %s: claim %s delivery: %w", id, name, err)
	}
	if !changed {
		return nil
	}
	m, err := s.Message(claimed)
	if err == nil {
		err = t.Deliver(ctx, m)
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the claim lapses and the delivery is tried again
	}
	result := "delivered"
	switch {
	case errors.Is(err, ErrPartial):
		result = "partial"
	case errors.Is(err, ErrPermanent):
		result = "rejected"
	case err != nil:
		result = "failed"
	}
	s.metrics.deliveries.WithLabelValues(name, result).Inc()
	deliverErr := err
	_, err = s.update(ctx, id, func(r *Review) (*Review, error) {
		if r == nil {
			return nil, nil
		}
		d := r.Deliveries[name]
		if r.Sequence != claimed.Sequence || d == nil || d.Sequence != claimed.Sequence {
			return nil, nil // changed meanwhile: the new sequence is delivered next
		}
		now := s.now()
		d.Attempts++
		switch {
		case deliverErr == nil:
			d.State, d.LastError, d.DeliveredAt, d.NextAttempt = DeliveryDelivered, "", now, time.Time{}
		case errors.Is(deliverErr, ErrPartial):
			// Delivered: a retry would send it again to everyone who has it. The refusal stays visible.
			d.State, d.LastError, d.DeliveredAt, d.NextAttempt = DeliveryDelivered, redactAddresses(truncate(deliverErr.Error(), 500)), now, time.Time{}
		default:
			// A rejected message is retried too, slowly: a fixed setting makes it deliverable, and
			// the meeting must not be lost.
			wait := backoff(d.Attempts)
			if errors.Is(deliverErr, ErrPermanent) {
				wait = backoffMax
			}
			d.State, d.LastError, d.NextAttempt = DeliveryFailed, redactAddresses(truncate(deliverErr.Error(), 500)), now.Add(wait)
		}
		return r, nil
	})
	if err != nil {
		return fmt.Errorf("review of %s: record %s delivery: %w", id, name, err)
	}
	if errors.Is(deliverErr, ErrPartial) {
		s.log.Warn("review invitation delivered, but some recipients refused it; not retried (fix their addresses)",
			"incident_id", id, "transport", name, "err", deliverErr)
		return nil
	}
	if deliverErr != nil {
		s.log.Warn("review invitation not delivered; retrying with backoff", "incident_id", id, "transport", name, "err", deliverErr)
		return nil // recorded in the review's status and the metrics; not a sweep failure
	}
	s.log.Info("review invitation delivered", "incident_id", id, "transport", name, "method", claimed.Method(), "sequence", claimed.Sequence)
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// address finds e-mail addresses in a transport's error (an SMTP server echoes the refused one).
var address = regexp.MustCompile(`[^\s<>"'(),;:@]+@[^\s<>"'(),;:@]+\.[^\s<>"'(),;:@]+`)

// redactAddresses keeps people's addresses out of the stored review, which the API serves: the
// error keeps its codes and reasons, the log line keeps the whole error for the operator.
func redactAddresses(s string) string { return address.ReplaceAllString(s, "(an address)") }
