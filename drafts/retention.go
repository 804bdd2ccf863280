package drafts

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/timeline"
)

// DefaultRetentionInterval is how often a Retention sweeps when RetentionOptions.Interval is zero.
const DefaultRetentionInterval = time.Hour

// ExpiringTimelines is what the retention sweep needs from the timeline store.
type ExpiringTimelines interface {
	// ExpiredTimelines returns the ids of resolved incidents resolved before cutoff. Errors wrap
	// timeline.ErrUnavailable when the store cannot be reached.
	ExpiredTimelines(ctx context.Context, cutoff time.Time) ([]string, error)
	// RemoveTimeline deletes incident id's timeline if it is still resolved and was resolved
	// before cutoff, and reports whether this call deleted it (false when another replica did,
	// or the incident reopened). Errors wrap timeline.ErrUnavailable.
	RemoveTimeline(ctx context.Context, id string, cutoff time.Time) (bool, error)
}

// PostmortemGetter is what the retention sweep needs from the postmortem store: whether an
// incident's postmortem exists.
type PostmortemGetter interface {
	// Get returns incident id's postmortem, or an error wrapping timeline.ErrNotFound.
	Get(id string) (Document, error)
}

// RetentionOptions configures a Retention. Timelines, Postmortems and Retention are required.
type RetentionOptions struct {
	Timelines   ExpiringTimelines
	Postmortems PostmortemGetter
	// Retention is how long after its resolution an incident's timeline is kept (--timeline-retention).
	Retention time.Duration
	// Interval is the time between sweeps. Default DefaultRetentionInterval.
	Interval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger gets one line per timeline removed and one per failed sweep. Default: discard.
	Logger *slog.Logger
	// Registerer, if set, receives postmortemd_timelines_removed_total and
	// postmortemd_retention_sweeps_total{result}.
	Registerer prometheus.Registerer
}

// Retention removes the timelines of incidents resolved longer ago than the retention whose
// postmortem exists; the postmortem stays. An incident without a postmortem keeps its timeline
// (the facts are not yet written down anywhere else). Several replicas may sweep at once: the
// store removes each timeline once.
type Retention struct {
	o       RetentionOptions
	log     *slog.Logger
	removed prometheus.Counter
	sweeps  *prometheus.CounterVec
}

// NewRetention returns a Retention; Run starts its sweeps.
func NewRetention(o RetentionOptions) *Retention {
	if o.Interval <= 0 {
		o.Interval = DefaultRetentionInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Retention{o: o, log: o.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("component", "retention")
	r.removed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "postmortemd_timelines_removed_total",
		Help: "Incident timelines removed from Redis after --timeline-retention (their postmortem exists).",
	})
	r.sweeps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postmortemd_retention_sweeps_total",
		Help: "Timeline retention sweeps by result (ok, error).",
	}, []string{"result"})
	for _, res := range []string{"ok", "error"} {
		r.sweeps.WithLabelValues(res)
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(r.removed, r.sweeps)
	}
	return r
}

// Run sweeps once at once and then every Interval until ctx is done.
func (r *Retention) Run(ctx context.Context) {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("timeline retention sweep failed; trying again at the next sweep", "err", err,
				"next", r.o.Interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep removes every expired timeline whose postmortem exists and returns how many this call
// removed. A failure for one incident does not stop the others; the first error is returned after.
func (r *Retention) Sweep(ctx context.Context) (removed int, err error) {
	defer func() {
		if err != nil {
			r.sweeps.WithLabelValues("error").Inc()
		} else {
			r.sweeps.WithLabelValues("ok").Inc()
		}
	}()
	cutoff := r.o.Now().Add(-r.o.Retention)
	ids, err := r.o.Timelines.ExpiredTimelines(ctx, cutoff)
	if err != nil {
		return 0, err
	}
	var firstErr error
	for _, id := range ids {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		doc, err := r.o.Postmortems.Get(id)
		switch {
		case errors.Is(err, timeline.ErrNotFound):
			continue // no postmortem yet: the timeline is all there is
		case errors.Is(err, timeline.ErrConflict):
			// Several documents claim the incident (a person copied one): it has a postmortem.
		case err != nil:
			firstErr = firstOf(firstErr, err)
			continue
		}
		ok, err := r.o.Timelines.RemoveTimeline(ctx, id, cutoff)
		if err != nil {
			firstErr = firstOf(firstErr, err)
			continue
		}
		if ok {
			removed++
			r.removed.Inc()
			r.log.Info("timeline removed after its retention; the postmortem stays", "incident_id", id,
				"retention", r.o.Retention, "postmortem_status", doc.Status)
		}
	}
	return removed, firstErr
}

// firstOf keeps the first error.
func firstOf(first, next error) error {
	if first != nil {
		return first
	}
	return next
}
