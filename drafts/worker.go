package drafts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

const (
	// DefaultInterval is how often a Worker sweeps when WorkerOptions.Interval is zero.
	DefaultInterval = 15 * time.Second
	// sweepHorizon bounds a sweep: the resolved index is ordered by start, newest first, and a sweep
	// stops at the first incident that started longer ago than this. An incident that lasted longer
	// than the horizon is not drafted.
	sweepHorizon = 30 * 24 * time.Hour
	// pageSize is how many incidents a sweep lists at a time.
	pageSize = 100
)

// WorkerOptions configures a Worker. Store, Renderer and Files are required.
type WorkerOptions struct {
	// Store is where incidents and their timelines are read from.
	Store timeline.Reader
	// Renderer renders the drafts (--draft-lang, --draft-template).
	Renderer *Renderer
	// Files keeps the drafts: a *Store (--drafts-dir) or a *SharedStore (--postmortems-store redis).
	Files Postmortems
	// Logger gets one line per draft written and one per failure. Default: discard.
	Logger *slog.Logger
	// Now is the clock that decides whether an incident has settled. Default time.Now.
	Now func() time.Time
	// Interval is the time between sweeps. Default DefaultInterval.
	Interval time.Duration
	// Reviews, if set, gives each incident's review meeting for the draft; a draft is written
	// again when its review changes (scheduled, moved, waived).
	Reviews Reviews
	// Registerer, if set, receives postmortemd_drafts_written_total{outcome}.
	Registerer prometheus.Registerer
}

// Reviews is what the worker needs from the review scheduler (drafts/review).
type Reviews interface {
	// DraftReviews returns every incident's review meeting as drafts show it, by incident id (an
	// incident without one is absent), in one read per sweep however many incidents there are.
	// Errors are the store's (timeline.ErrUnavailable); the sweep is then tried again.
	DraftReviews(ctx context.Context) (map[string]*Review, error)
}

// Worker drafts the postmortem of every resolved incident once its resolution has settled
// (timeline.Incident.Settled), and drafts it again when the incident changes (it reopened and
// resolved again), merging through Store.Write so nothing a person wrote is overwritten.
//
// It remembers in memory which version of each incident it drafted; a restarted process drafts
// every recent settled incident once more, which Store.Write reports as Unchanged or Merged.
// Several workers (replicas) may share one drafts directory: Store.Write serializes them.
type Worker struct {
	store    timeline.Reader
	renderer *Renderer
	files    Postmortems
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration
	reviews  Reviews

	written *prometheus.CounterVec

	mu sync.Mutex // one sweep at a time; guards drafted
	// drafted is each incident's version last drafted (or found permanently undraftable), so an
	// unchanged incident is not rendered again every sweep.
	drafted map[string]draftedVersion
}

// draftedVersion is what a draft was last written from.
type draftedVersion struct {
	updatedAt time.Time // the incident's UpdatedAt
	review    string    // reviewKey of its review meeting
}

// NewWorker returns a Worker; it does nothing until Run or Sweep is called.
func NewWorker(o WorkerOptions) *Worker {
	w := &Worker{store: o.Store, renderer: o.Renderer, files: o.Files, log: o.Logger, now: o.Now,
		interval: o.Interval, reviews: o.Reviews, drafted: map[string]draftedVersion{}}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.log = w.log.With("component", "drafts")
	if w.now == nil {
		w.now = time.Now
	}
	if w.interval <= 0 {
		w.interval = DefaultInterval
	}
	w.written = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postmortemd_drafts_written_total",
		Help: "Drafts the worker wrote, by outcome: created, merged, unchanged, written_beside (a merge was not safe: a person must merge the new version), error.",
	}, []string{"outcome"})
	for _, o := range []string{string(Created), string(Merged), string(Unchanged), string(WrittenBeside), "error"} {
		w.written.WithLabelValues(o)
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(w.written)
	}
	return w
}

// Run sweeps at once and then every interval until ctx is done. Failures are logged and retried
// on the next sweep; Run never stops for them.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		_ = w.Sweep(ctx) // Sweep logs every failure itself
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep makes one pass: it drafts every settled resolved incident that has no draft yet or that
// changed since this worker last drafted it. It logs each draft written and each failure, and
// returns the failures joined (nil if none); a failed incident is tried again on the next sweep,
// unless the failure cannot go away until the incident changes (timeline.ErrConflict or
// timeline.ErrInvalid from Store.Write, or a template error).
func (w *Worker) Sweep(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	seen := map[string]bool{}
	disk := &onDisk{files: w.files}
	var errs []error
	var reviews map[string]*Review
	if w.reviews != nil {
		var err error
		if reviews, err = w.reviews.DraftReviews(ctx); err != nil {
			err = fmt.Errorf("read review meetings: %w", err)
			w.log.Error("drafts sweep failed; retrying on the next sweep", "err", err)
			return err
		}
	}
	for offset := 0; ; offset += pageSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		incs, err := w.store.Incidents(ctx, timeline.ListOptions{Status: timeline.StatusResolved, Limit: pageSize, Offset: offset})
		if err != nil {
			err = fmt.Errorf("list resolved incidents: %w", err)
			w.log.Error("drafts sweep failed; retrying on the next sweep", "err", err)
			return errors.Join(append(errs, err)...)
		}
		done := len(incs) < pageSize
		for _, inc := range incs {
			if now.Sub(inc.StartedAt) > sweepHorizon {
				done = true
				break
			}
			seen[inc.ID] = true
			if !inc.Settled(now) {
				continue
			}
			rev := reviews[inc.ID]
			if !w.due(inc, disk) && w.drafted[inc.ID].review == reviewKey(rev) {
				continue
			}
			if err := w.draft(ctx, inc, rev, now); err != nil {
				if ctx.Err() != nil {
					return errors.Join(append(errs, err)...)
				}
				w.log.Error("drafting failed", "incident_id", inc.ID, "err", err)
				errs = append(errs, err)
			}
		}
		if done {
			break
		}
	}
	for id := range w.drafted {
		if !seen[id] {
			delete(w.drafted, id) // reopened, expired or past the horizon
		}
	}
	return errors.Join(errs...)
}

// due reports whether inc needs drafting: it changed since it was last drafted here, or its draft
// is not in the store (never written, or deleted).
func (w *Worker) due(inc timeline.Incident, disk *onDisk) bool {
	v, ok := w.drafted[inc.ID]
	if !ok || !v.updatedAt.Equal(inc.UpdatedAt) {
		return true
	}
	if fs, ok := w.files.(*Store); ok { // a file under its own name needs no listing
		if _, err := os.Stat(filepath.Join(fs.Dir, FileName(inc))); !errors.Is(err, iofs.ErrNotExist) {
			return false
		}
	}
	return !disk.holds(inc.ID) // renamed by a person?
}

// onDisk counts a sweep's drafts by incident id. The store is listed at most once per sweep,
// when the first drafted incident's file is not under its FileName (a person renamed it), so a
// directory of renamed drafts costs one listing per sweep, not one per renamed draft.
type onDisk struct {
	files Postmortems
	read  bool
	ids   map[string]int
	err   error
}

// holds reports whether exactly one file holds incident id's draft, as Store.fileOf finds it: none,
// several (timeline.ErrConflict) or a directory that cannot be listed make it false.
func (d *onDisk) holds(id string) bool {
	if !d.read {
		d.read = true
		var sums []Summary
		if fs, ok := d.files.(*Store); ok {
			sums, d.err = fs.scan()
		} else {
			sums, d.err = d.files.List(Query{})
		}
		d.ids = make(map[string]int, len(sums))
		for _, s := range sums {
			d.ids[s.ID]++
		}
	}
	return d.err == nil && d.ids[id] == 1
}

// reviewKey identifies what a draft shows of a review, so a changed review redrafts.
func reviewKey(r *Review) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%d|%d|%s|%s|%v|%s|%q", r.Start.UnixNano(), r.End.UnixNano(), r.TimeZone, r.Reason, r.Waived, r.WaiveReason, r.Roles)
}

func (w *Worker) draft(ctx context.Context, inc timeline.Incident, rev *Review, now time.Time) (err error) {
	defer func() {
		if err != nil && ctx.Err() == nil {
			w.written.WithLabelValues("error").Inc()
		}
	}()
	es, err := w.store.Entries(ctx, inc.ID)
	if err != nil {
		return fmt.Errorf("draft incident %q: read timeline: %w", inc.ID, err)
	}
	timeline.SortEntries(es)
	evs := make([]timeline.Event, 0, len(es))
	for _, e := range es {
		var ev timeline.Event
		if err := json.Unmarshal(e.JSON, &ev); err != nil {
			// One undecodable entry must not keep the rest of the timeline out of the draft.
			w.log.Warn("skipping an undecodable timeline entry", "incident_id", inc.ID, "cursor", e.Cursor, "err", err)
			continue
		}
		evs = append(evs, ev)
	}
	out, err := w.renderer.Render(Input{Incident: inc, Events: evs, Now: now, Review: rev})
	if err != nil {
		w.drafted[inc.ID] = draftedVersion{inc.UpdatedAt, reviewKey(rev)} // the same timeline fails the same way
		return err
	}
	res, err := w.files.Write(inc, out)
	if err != nil {
		if errors.Is(err, timeline.ErrConflict) || errors.Is(err, timeline.ErrInvalid) {
			w.drafted[inc.ID] = draftedVersion{inc.UpdatedAt, reviewKey(rev)}
		}
		return err
	}
	w.drafted[inc.ID] = draftedVersion{inc.UpdatedAt, reviewKey(rev)}
	w.written.WithLabelValues(string(res.Outcome)).Inc()
	if res.Outcome == WrittenBeside {
		w.log.Warn("draft could not be merged safely; the new version is beside it, merge by hand",
			"incident_id", inc.ID, "outcome", res.Outcome, "path", res.Path, "reason", res.Reason)
		return nil
	}
	level := slog.LevelInfo
	if res.Outcome == Unchanged {
		level = slog.LevelDebug // every restart re-drafts recent incidents
	}
	w.log.Log(ctx, level, "draft postmortem written", "incident_id", inc.ID, "outcome", res.Outcome, "path", res.Path)
	return nil
}
