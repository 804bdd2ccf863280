package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// DefaultInterval is how often a Scheduler sweeps when Options.Interval is zero.
const DefaultInterval = 15 * time.Second

const (
	// sweepHorizon and pageSize bound a sweep over resolved incidents, as drafts.Worker does.
	sweepHorizon = 30 * 24 * time.Hour
	pageSize     = 100
	// claimLease is how long a replica holds a delivery it is attempting; another replica takes it
	// over after that (the first one crashed).
	claimLease = 2 * time.Minute
	// Backoff of failed deliveries: first retry after backoffBase, doubling, at most backoffMax.
	backoffBase = 30 * time.Second
	backoffMax  = time.Hour
)

// Options configure a Scheduler. Store, Incidents and Hours are required.
type Options struct {
	// Store keeps the reviews (timeline/redisstore).
	Store Store
	// Incidents are read to find settled resolved incidents and to see reopens.
	Incidents timeline.Reader
	// Participants gives who took part (keyed by the PagerDuty incident id); nil invites owners only.
	Participants timeline.Participants
	Policy       *Policy
	Owners       OwnersConfig
	Hours        Hours
	// Lead, Deadline and Duration tune the slot (defaults DefaultLead, DefaultDeadline,
	// DefaultDuration).
	Lead, Deadline, Duration time.Duration
	// SingleFacilitator keeps meetings from overlapping each other.
	SingleFacilitator bool
	// Lock, with SingleFacilitator, serializes booking across replicas (timeline/redisstore's Lock):
	// without it two replicas booking two incidents at once could both take the same free hour.
	Lock Locker
	// Calendar shapes the invitations (organizer, links).
	Calendar CalendarOptions
	// Transports deliver invitations (CalDAV, e-mail); none keeps reviews in the feed only.
	Transports []Transport
	Logger     *slog.Logger
	// Registerer receives the metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now      func() time.Time
	Interval time.Duration
}

// Locker takes a lock shared by every replica.
type Locker interface {
	// Lock waits for the named lock until ctx is done, and holds it until unlock or ttl; errors
	// wrap timeline.ErrUnavailable when the store cannot be reached.
	Lock(ctx context.Context, name string, ttl time.Duration) (unlock func(), err error)
}

// bookingLock is the lock that makes "read the busy hours, pick a slot, store it" one step across
// replicas; bookingTTL bounds how long a dead replica can hold it.
const (
	bookingLock = "review-booking"
	bookingTTL  = 30 * time.Second
)

// Scheduler keeps one review per incident that the policy selects: it schedules the meeting when
// the incident's resolution settles, cancels it when the incident reopens, schedules it again
// (same UID, higher SEQUENCE) when it resolves again, and delivers each change through every
// transport with retries. Several replicas may run it against one store: every change is an
// optimistic transaction on the incident's record, so there is exactly one meeting per incident.
type Scheduler struct {
	o       Options
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	mu      sync.Mutex // one sweep at a time in this process
}

// New returns a Scheduler; it does nothing until Run or Sweep is called.
func New(o Options) (*Scheduler, error) {
	if o.Store == nil || o.Incidents == nil {
		return nil, errors.New("review scheduler: a store and an incident reader are required")
	}
	if err := o.Hours.Validate(); err != nil {
		return nil, err
	}
	if err := o.Hours.Fits(o.Duration); err != nil {
		return nil, err
	}
	if o.Policy == nil {
		p, err := NewPolicy(PolicyConfig{})
		if err != nil {
			return nil, err
		}
		o.Policy = p
	}
	s := &Scheduler{o: o, log: o.Logger, now: o.Now, metrics: newMetrics(o.Registerer)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "review")
	if s.now == nil {
		s.now = time.Now
	}
	if s.o.Interval <= 0 {
		s.o.Interval = DefaultInterval
	}
	s.o.Hours = s.o.Hours.withDefaults()
	if s.o.Calendar.Now == nil {
		s.o.Calendar.Now = s.now
	}
	skipped := s.o.Calendar.Skipped
	s.o.Calendar.Skipped = func(r Review, err error) {
		s.metrics.feedSkipped.Inc()
		s.log.Warn("review left out of the calendar feed", "incident_id", r.IncidentID, "err", err)
		if skipped != nil {
			skipped(r, err)
		}
	}
	return s, nil
}

// Run sweeps at once and then every interval until ctx is done.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		_ = s.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// UID is the stable event UID of an incident's review meeting.
func UID(incidentID string) string {
	sum := sha256.Sum256([]byte("postmortemd review\x00" + incidentID))
	return hex.EncodeToString(sum[:16]) + "@postmortemd"
}

// Sweep makes one pass: schedule newly settled incidents, cancel meetings of reopened ones,
// reschedule re-resolved ones, and deliver what is due. Failures are logged and returned joined.
func (s *Scheduler) Sweep(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var errs []error
	all, err := s.all(ctx)
	if err != nil {
		s.log.Error("review sweep failed; retrying on the next sweep", "err", err)
		return err
	}
	// Meetings of incidents that are no longer resolved are cancelled.
	for id, r := range all {
		if r.Status != StatusScheduled {
			continue
		}
		inc, err := s.o.Incidents.Incident(ctx, id)
		if errors.Is(err, timeline.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("review of %s: %w", id, err))
			continue
		}
		if inc.Status != timeline.StatusResolved {
			if err := s.cancel(ctx, inc, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for offset := 0; ; offset += pageSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		incs, err := s.o.Incidents.Incidents(ctx, timeline.ListOptions{Status: timeline.StatusResolved, Limit: pageSize, Offset: offset})
		if err != nil {
			errs = append(errs, fmt.Errorf("list resolved incidents: %w", err))
			break
		}
		done := len(incs) < pageSize
		for _, inc := range incs {
			if now.Sub(inc.StartedAt) > sweepHorizon {
				done = true
				break
			}
			if !inc.Settled(now) || inc.ResolvedAt == nil {
				continue
			}
			r, ok := all[inc.ID]
			if ok && r.Status == StatusScheduled && r.ResolvedAt.Equal(*inc.ResolvedAt) {
				if err := s.refreshAttendees(ctx, inc, r, now); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			if ok && r.Status == StatusWaived {
				continue
			}
			if !ok {
				if applies, _ := s.o.Policy.Applies(inc); !applies {
					continue
				}
			}
			if err := s.schedule(ctx, inc, now); err != nil {
				errs = append(errs, err)
			}
		}
		if done {
			break
		}
	}
	if err := s.deliverDue(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, err := range errs {
		s.log.Error("review sweep", "err", err)
	}
	return errors.Join(errs...)
}

// all reads every stored review, by incident id.
func (s *Scheduler) all(ctx context.Context) (map[string]Review, error) {
	raws, err := s.o.Store.Reviews(ctx)
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	out := make(map[string]Review, len(raws))
	for _, raw := range raws {
		var r Review
		if err := json.Unmarshal(raw, &r); err != nil {
			s.log.Warn("skipping an undecodable review record", "err", err)
			continue
		}
		out[r.IncidentID] = r
	}
	return out, nil
}

// Reviews returns every stored review, scheduled or not, ordered by start.
func (s *Scheduler) Reviews(ctx context.Context) ([]Review, error) {
	m, err := s.all(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Review, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sortReviews(out)
	return out, nil
}

// Review returns one incident's review, or an error wrapping timeline.ErrNotFound.
func (s *Scheduler) Review(ctx context.Context, incidentID string) (Review, error) {
	raw, err := s.o.Store.Review(ctx, incidentID)
	if err != nil {
		return Review{}, err
	}
	var r Review
	if err := json.Unmarshal(raw, &r); err != nil {
		return Review{}, fmt.Errorf("review of %s: %w", incidentID, err)
	}
	return r, nil
}

// Invitation is the iTIP message of the incident's review, as delivered (with attendees).
func (s *Scheduler) Invitation(r Review) ([]byte, error) { return Invitation(r, s.o.Calendar) }

// Feed is the subscribable calendar of every review (see the package function Feed).
func (s *Scheduler) Feed(rs []Review) ([]byte, error) {
	return Feed(rs, i18n.For(s.o.Calendar.Lang).T("review.feed_name"), s.o.Calendar)
}

// busy lists the other meetings a facilitator already runs.
func (s *Scheduler) busy(ctx context.Context, except string) ([]Interval, error) {
	if !s.o.SingleFacilitator {
		return nil, nil
	}
	all, err := s.all(ctx)
	if err != nil {
		return nil, err
	}
	var out []Interval
	for id, r := range all {
		if id != except && r.Status == StatusScheduled {
			out = append(out, Interval{Start: r.Start, End: r.End})
		}
	}
	return out, nil
}

// schedule stores a meeting for inc's current resolution: a new one, or the existing one moved
// (sequence + 1) after a reopen or a later resolution.
func (s *Scheduler) schedule(ctx context.Context, inc timeline.Incident, now time.Time) error {
	if s.o.SingleFacilitator && s.o.Lock != nil {
		lctx, cancel := context.WithTimeout(ctx, bookingTTL)
		unlock, err := s.o.Lock.Lock(lctx, bookingLock, bookingTTL)
		cancel()
		if err != nil {
			return fmt.Errorf("review of %s: wait for the booking lock: %w", inc.ID, err)
		}
		defer unlock()
	}
	busy, err := s.busy(ctx, inc.ID)
	if err != nil {
		return err
	}
	resolved := inc.ResolvedAt.UTC()
	slot, err := s.o.Hours.FindSlot(SlotRequest{Resolved: resolved, Now: now, Lead: s.o.Lead,
		Deadline: s.o.Deadline, Duration: s.o.Duration, Busy: busy, Printer: i18n.For(s.o.Calendar.Lang)})
	if err != nil {
		return s.noSlot(ctx, inc, resolved, now, err)
	}
	attendees, err := s.invitees(ctx, inc)
	if err != nil {
		return err
	}
	_, why := s.o.Policy.Applies(inc)
	var out Review
	announce := false // false for a record-only change that attendees need not hear of
	changed, err := s.update(ctx, inc.ID, func(cur *Review) (*Review, error) {
		announce = false
		r := Review{IncidentID: inc.ID, UID: UID(inc.ID), Sequence: 0, CreatedAt: now}
		if cur != nil {
			r = *cur
			if r.Status == StatusWaived || (r.Status == StatusScheduled && r.ResolvedAt.Equal(resolved)) {
				out = r
				return nil, nil // another replica did it
			}
			if r.Status == StatusScheduled && r.Start.Equal(slot.Start.UTC()) {
				// A later word on the same resolution (a truncated notification's last alerts)
				// that leaves the slot where it was: nothing for attendees to hear of.
				r.ResolvedAt, r.UpdatedAt = resolved, now
				out = r
				return &r, nil
			}
			r.Sequence++
		}
		r.Status, r.Title, r.Start, r.End = StatusScheduled, inc.Title, slot.Start.UTC(), slot.End.UTC()
		code := slot.ReasonCode
		r.TimeZone, r.Late, r.Reason, r.ReasonCode, r.ResolvedAt = s.o.Hours.Location.String(), slot.Late, slot.Reason, &code, resolved
		if why != "" || r.Why == "" {
			r.Why = why
		}
		r.Attendees, r.UpdatedAt = attendees, now
		out = r
		announce = true
		return &r, nil
	})
	if err != nil {
		return fmt.Errorf("review of %s: store: %w", inc.ID, err)
	}
	if changed && announce {
		s.metrics.changes.WithLabelValues(string(StatusScheduled)).Inc()
		s.log.Info("review meeting scheduled", "incident_id", inc.ID, "start", out.Start, "time_zone", out.TimeZone,
			"sequence", out.Sequence, "late", out.Late, "attendees", len(out.Attendees))
		if len(out.Attendees) == 0 {
			s.log.Warn("review meeting has no one to invite: no participant with an address, no owner and no always-invited address",
				"incident_id", inc.ID)
		}
	}
	return nil
}

// noSlot records that no slot could be found for inc's review: the review says why (status
// unscheduled), and the metric and one log line tell the operator, once per incident and reason,
// not on every sweep. Each sweep tries again. A meeting already booked for an earlier resolution
// is kept rather than taken back.
func (s *Scheduler) noSlot(ctx context.Context, inc timeline.Incident, resolved, now time.Time, why error) error {
	detail := i18n.Msg("reason.text", "Text", why.Error())
	if r, ok := i18n.ReasonOf(why); ok {
		detail = r.Message
	}
	code := i18n.Msg(i18n.ReviewNoSlot)
	code.Detail = &detail
	reason := i18n.For(s.o.Calendar.Lang).ReviewReason(code)
	kept := false
	changed, err := s.update(ctx, inc.ID, func(cur *Review) (*Review, error) {
		kept = false
		r := Review{IncidentID: inc.ID, UID: UID(inc.ID), CreatedAt: now}
		if cur != nil {
			r = *cur
			switch {
			case r.Status == StatusWaived:
				return nil, nil
			case r.Status == StatusScheduled:
				if r.ResolvedAt.Equal(resolved) {
					return nil, nil
				}
				kept = true
				r.ResolvedAt, r.UpdatedAt = resolved, now
				return &r, nil
			case r.Status == StatusUnscheduled && r.ResolvedAt.Equal(resolved) && r.Reason == reason:
				return nil, nil
			}
		}
		r.Status, r.Title, r.Reason, r.ReasonCode, r.ResolvedAt = StatusUnscheduled, inc.Title, reason, &code, resolved
		r.TimeZone, r.Late, r.Start, r.End, r.UpdatedAt = s.o.Hours.Location.String(), false, time.Time{}, time.Time{}, now
		return &r, nil
	})
	if err != nil {
		return fmt.Errorf("review of %s: store: %w", inc.ID, err)
	}
	if !changed {
		return nil
	}
	if kept {
		s.log.Warn("no new review slot for a later resolution; the meeting already booked stays", "incident_id", inc.ID, "err", why)
		return nil
	}
	s.metrics.noSlot.Inc()
	s.log.Warn("no review slot found; the review says why, and every sweep tries again", "incident_id", inc.ID, "err", why)
	return nil
}

// invitees lists who is invited to inc's review now.
func (s *Scheduler) invitees(ctx context.Context, inc timeline.Incident) ([]Attendee, error) {
	var people map[string]timeline.Participant
	if key := inc.Sources[timeline.SourceKeyPagerDutyIncidentID]; key != "" && s.o.Participants != nil {
		var err error
		if people, err = s.o.Participants.Participants(ctx, key); err != nil {
			return nil, fmt.Errorf("review of %s: participants: %w", inc.ID, err)
		}
	}
	return Invitees(inc, people, s.o.Owners), nil
}

// refreshAttendees invites people learnt of after the meeting was booked (PagerDuty enrichment
// often names responders later): the invitation is sent again with them (sequence + 1). People
// are never dropped from a booked meeting.
func (s *Scheduler) refreshAttendees(ctx context.Context, inc timeline.Incident, r Review, now time.Time) error {
	fresh, err := s.invitees(ctx, inc)
	if err != nil {
		return err
	}
	if len(merged(r.Attendees, fresh)) == len(r.Attendees) && sameRequired(r.Attendees, fresh) {
		return nil
	}
	changed, err := s.update(ctx, inc.ID, func(r *Review) (*Review, error) {
		if r == nil {
			return nil, nil
		}
		next := merged(r.Attendees, fresh)
		if r.Status != StatusScheduled || (len(next) == len(r.Attendees) && sameRequired(r.Attendees, fresh)) {
			return nil, nil
		}
		r.Attendees, r.Sequence, r.UpdatedAt = next, r.Sequence+1, now
		return r, nil
	})
	if err != nil {
		return fmt.Errorf("review of %s: invite: %w", inc.ID, err)
	}
	if changed {
		s.log.Info("review meeting: more attendees invited", "incident_id", inc.ID)
	}
	return nil
}

// merged is cur plus the attendees of fresh it lacks (by address), and cur's attendees made
// required when fresh says so.
func merged(cur, fresh []Attendee) []Attendee {
	out := append([]Attendee(nil), cur...)
	idx := map[string]int{}
	for i, a := range out {
		idx[strings.ToLower(a.Email)] = i
	}
	for _, a := range fresh {
		if i, ok := idx[strings.ToLower(a.Email)]; ok {
			out[i].Required = out[i].Required || a.Required
			continue
		}
		idx[strings.ToLower(a.Email)] = len(out)
		out = append(out, a)
	}
	return out
}

// update changes incident id's stored review in one optimistic transaction (retried when another
// replica wrote first). change gets the current review, nil when there is none, and returns the
// review to store, or nil to leave the record as it is; it may run more than once. update reports
// whether it stored a change.
func (s *Scheduler) update(ctx context.Context, id string, change func(cur *Review) (*Review, error)) (bool, error) {
	changed := false
	err := s.o.Store.UpdateReview(ctx, id, func(raw []byte) ([]byte, error) {
		changed = false
		var cur *Review
		if raw != nil {
			cur = &Review{}
			if err := json.Unmarshal(raw, cur); err != nil {
				return nil, fmt.Errorf("decode review: %w", err)
			}
		}
		next, err := change(cur)
		if err != nil || next == nil {
			return nil, err
		}
		changed = true
		return json.Marshal(next)
	})
	return changed, err
}

// sameRequired reports whether fresh makes no attendee of cur required who is not yet.
func sameRequired(cur, fresh []Attendee) bool {
	req := map[string]bool{}
	for _, a := range cur {
		req[strings.ToLower(a.Email)] = a.Required
	}
	for _, a := range fresh {
		if a.Required && !req[strings.ToLower(a.Email)] {
			return false
		}
	}
	return true
}

// cancel marks the meeting of a reopened incident cancelled (sequence + 1).
func (s *Scheduler) cancel(ctx context.Context, inc timeline.Incident, now time.Time) error {
	changed, err := s.update(ctx, inc.ID, func(r *Review) (*Review, error) {
		if r == nil || r.Status != StatusScheduled {
			return nil, nil
		}
		r.Status, r.Sequence, r.UpdatedAt = StatusCancelled, r.Sequence+1, now
		return r, nil
	})
	if err != nil {
		return fmt.Errorf("cancel review of %s: %w", inc.ID, err)
	}
	if changed {
		s.metrics.changes.WithLabelValues(string(StatusCancelled)).Inc()
		s.log.Info("review meeting cancelled: the incident reopened", "incident_id", inc.ID)
	}
	return nil
}

// Waive cancels an incident's meeting for good, recording why; the draft shows the reason. It
// returns an error wrapping timeline.ErrInvalid for an empty reason and timeline.ErrNotFound when
// the incident has no review (a review not yet scheduled cannot be waived).
func (s *Scheduler) Waive(ctx context.Context, incidentID, reason string) (Review, error) {
	if reason == "" {
		return Review{}, fmt.Errorf("waive review: %w: %w", timeline.ErrInvalid, i18n.Refuse("reason.waive_empty"))
	}
	if len(reason) > 2000 {
		return Review{}, fmt.Errorf("waive review: %w: %w", timeline.ErrInvalid, i18n.Refuse("reason.waive_long", "Max", "2000"))
	}
	now := s.now()
	var out Review
	changed, err := s.update(ctx, incidentID, func(r *Review) (*Review, error) {
		if r == nil {
			return nil, fmt.Errorf("review of incident %q: %w", incidentID, timeline.ErrNotFound)
		}
		out = *r
		if r.Status == StatusWaived && r.WaiveReason == reason {
			return nil, nil
		}
		r.Status, r.WaiveReason, r.Sequence, r.UpdatedAt = StatusWaived, reason, r.Sequence+1, now
		out = *r
		return r, nil
	})
	if err != nil {
		return Review{}, err
	}
	if changed {
		s.metrics.changes.WithLabelValues(string(StatusWaived)).Inc()
		s.log.Info("review meeting waived", "incident_id", incidentID)
	}
	return out, nil
}
