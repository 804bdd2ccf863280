package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/timeline"
)

// EnrichStore is what PagerDuty enrichment needs from a store: append (backfilled log entries),
// refine (better roles, full note texts), the participants record, and reads to find what it refines.
type EnrichStore interface {
	timeline.Recorder
	timeline.Refiner
	timeline.Participants
	timeline.Reader
}

// EnricherOptions configure a PagerDutyEnricher.
type EnricherOptions struct {
	// Client calls PagerDuty's REST API (a read-only API key is enough). Required.
	Client *pagerduty.Client
	// Store is where timelines and participants are kept. Required.
	Store EnrichStore
	// Roles maps PagerDuty ids to configured roles, as for webhooks.
	Roles RoleMap
	// Logger is scoped with component=pagerduty_enricher.
	Logger *slog.Logger
	// Metrics, if set, registers the postmortemd_pagerduty_enrich_* metrics.
	Metrics prometheus.Registerer
	// Workers is the number of jobs worked on at once. Default 2: PagerDuty's REST rate limit is
	// per account.
	Workers int
	// QueueSize bounds the jobs waiting; Enqueue drops jobs beyond it. Default 1000.
	QueueSize int
	// Now is the clock for RecordedAt and for the user cache's expiry. Default time.Now.
	Now func() time.Time
	// RetryBase and RetryMax bound the exponential backoff between attempts. Defaults 1s and 5m.
	RetryBase time.Duration
	RetryMax  time.Duration
	// MaxAttempts caps the attempts at one call (PagerDuty or store). Default 8.
	MaxAttempts int
	// CallTimeout bounds one PagerDuty request (go-pagerduty's HTTP client has no timeout of its
	// own). Default 30s.
	CallTimeout time.Duration
	// StoreTimeout bounds one store operation. Default 5s.
	StoreTimeout time.Duration
	// BackfillInterval is how often log entries of unresolved incidents are read back. Default 10m.
	BackfillInterval time.Duration
	// UserCacheTTL is how long a user's name and address read from PagerDuty (or the fact that the
	// user no longer exists) are remembered, so the people of an incident burst are read once.
	// Default 10m.
	UserCacheTTL time.Duration
}

// PagerDutyEnricher refines PagerDuty timelines from the REST API after webhooks were answered:
// people's on-call levels become their roles, trimmed notes get their full (scrubbed) text, log
// entries that no webhook brought (postmortemd was down, a delivery was dropped) are recorded, and
// the e-mail addresses webhooks never carry are read into the participants record (only there), so
// the review can invite the people.
//
// Every store operation it makes is idempotent, so any number of replicas may run one against the
// same store. It never blocks webhook ingest: Enqueue drops work when the queue is full.
type PagerDutyEnricher struct {
	client        *pagerduty.Client
	store         EnrichStore
	roles         RoleMap
	log           *slog.Logger
	metrics       *enrichMetrics
	queue         chan EnrichJob
	pending       atomic.Int64 // jobs enqueued and not finished
	workers       int
	now           func() time.Time
	retryBase     time.Duration
	retryMax      time.Duration
	attempts      int
	callTimeout   time.Duration
	storeTimeout  time.Duration
	backfillEvery time.Duration
	levels        *levelCache
	users         *userCache
}

var _ Enricher = (*PagerDutyEnricher)(nil)

// Limits that keep one pass bounded whatever PagerDuty or the store answer.
const (
	onCallBucket       = 5 * time.Minute
	levelCacheSize     = 4096
	userCacheSize      = 4096
	logEntriesPageSize = 100
	maxLogEntryPages   = 100 // 10,000 entries, PagerDuty's offset limit
	incidentsPageSize  = 100
	maxIncidentPages   = 100
	// maxNoteFact caps a full note's text (PagerDuty notes are at most 25,000 characters).
	maxNoteFact = 32 << 10
	// recoveredSuffix marks facts read back from PagerDuty's log rather than delivered by a webhook.
	recoveredSuffix = " (recovered from PagerDuty's log)"
)

// NewPagerDutyEnricher returns an enricher; Run starts its work.
func NewPagerDutyEnricher(o EnricherOptions) *PagerDutyEnricher {
	if o.Client == nil || o.Store == nil {
		panic("receiver: NewPagerDutyEnricher needs a Client and a Store")
	}
	e := &PagerDutyEnricher{client: o.Client, store: o.Store, roles: o.Roles, log: o.Logger,
		workers: o.Workers, now: o.Now, retryBase: o.RetryBase, retryMax: o.RetryMax,
		attempts: o.MaxAttempts, callTimeout: o.CallTimeout, storeTimeout: o.StoreTimeout,
		backfillEvery: o.BackfillInterval, levels: newLevelCache(levelCacheSize)}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("component", "pagerduty_enricher", "source", timeline.SourcePagerDuty)
	if e.workers <= 0 {
		e.workers = 2
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1000
	}
	e.queue = make(chan EnrichJob, o.QueueSize)
	if e.now == nil {
		e.now = time.Now
	}
	if e.retryBase <= 0 {
		e.retryBase = time.Second
	}
	if e.retryMax <= 0 {
		e.retryMax = 5 * time.Minute
	}
	e.retryMax = max(e.retryMax, e.retryBase)
	if e.attempts <= 0 {
		e.attempts = 8
	}
	if e.callTimeout <= 0 {
		e.callTimeout = 30 * time.Second
	}
	if e.storeTimeout <= 0 {
		e.storeTimeout = 5 * time.Second
	}
	if e.backfillEvery <= 0 {
		e.backfillEvery = 10 * time.Minute
	}
	if o.UserCacheTTL <= 0 {
		o.UserCacheTTL = 10 * time.Minute
	}
	e.users = newUserCache(userCacheSize, o.UserCacheTTL, e.now)
	e.metrics = newEnrichMetrics(o.Metrics, func() float64 { return float64(len(e.queue)) })
	return e
}

// Enqueue hands over one recorded event. It never blocks: when the queue is full the job is
// dropped (the timeline keeps its provisional roles and trimmed text), with a warning and a metric.
func (e *PagerDutyEnricher) Enqueue(job EnrichJob) {
	if job.IncidentID == "" || job.PagerDutyIncident == "" || (job.TrimmedNoteID == "" && len(job.Users) == 0) {
		return // nothing the REST API can add
	}
	e.pending.Add(1)
	select {
	case e.queue <- job:
	default:
		e.pending.Add(-1)
		e.metrics.jobs.WithLabelValues(jobDropped).Inc()
		e.log.Warn("enrichment queue full: job dropped; the event keeps its provisional roles",
			"incident_id", job.IncidentID, "pagerduty_incident", job.PagerDutyIncident, "queue_size", cap(e.queue))
	}
}

// Run works on enqueued jobs and backfills log entries (at once, then every BackfillInterval) until
// ctx is done. Jobs still queued then are abandoned. Call it once.
func (e *PagerDutyEnricher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range e.workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case job := <-e.queue:
					e.process(ctx, job)
				}
			}
		})
	}
	wg.Go(func() {
		e.backfill(ctx)
		t := time.NewTicker(e.backfillEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				e.backfill(ctx)
			}
		}
	})
	wg.Wait()
	if n := len(e.queue); n > 0 {
		e.log.Warn("enrichment jobs abandoned at shutdown", "jobs", n)
	}
}

// Job outcomes, the values of the outcome label of postmortemd_pagerduty_enrich_jobs_total.
const (
	jobDone    = "done"
	jobFailed  = "failed"
	jobDropped = "dropped"
)

// process does what a job asks; a failure of one part leaves the other parts done.
func (e *PagerDutyEnricher) process(ctx context.Context, job EnrichJob) {
	defer e.pending.Add(-1)
	log := e.log.With("incident_id", job.IncidentID, "pagerduty_incident", job.PagerDutyIncident, "event_id", job.EventID)
	var errs []error
	// Addresses first: a trimmed note's full text is then scrubbed of them too.
	if len(job.Users) > 0 {
		if err := e.completeAddresses(ctx, job.PagerDutyIncident, job.Users); err != nil {
			errs = append(errs, fmt.Errorf("addresses: %w", err))
		}
	}
	if job.EscalationPolicyID != "" && len(job.Users) > 0 {
		if err := e.refineRoles(ctx, job); err != nil {
			errs = append(errs, fmt.Errorf("on-call roles: %w", err))
		}
	}
	if job.TrimmedNoteID != "" {
		if err := e.fullNote(ctx, job); err != nil {
			errs = append(errs, fmt.Errorf("trimmed note %s: %w", job.TrimmedNoteID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			log.Debug("enrichment abandoned at shutdown", "err", err)
			return
		}
		e.metrics.jobs.WithLabelValues(jobFailed).Inc()
		log.Warn("enrichment incomplete; the event keeps what the webhook said", "err", err)
		return
	}
	e.metrics.jobs.WithLabelValues(jobDone).Inc()
}

// refineRoles asks PagerDuty at which level of the incident's escalation policy each person the
// event names was on call when it happened, keeps that in the participants record, and refines the
// event when a person's role in it changes.
func (e *PagerDutyEnricher) refineRoles(ctx context.Context, job EnrichJob) error {
	var errs []error
	levels := map[string]int{}
	for _, u := range job.Users {
		lvl, err := e.onCallLevel(ctx, job.EscalationPolicyID, u, job.OccurredAt)
		if err != nil {
			errs = append(errs, fmt.Errorf("user %s: %w", u, err))
			continue
		}
		if lvl > 0 { // not on call for this policy: the provisional role stays
			levels[u] = lvl
		}
	}
	if len(levels) == 0 {
		return errors.Join(errs...)
	}
	known, err := withRetry(ctx, e, "store_participants", e.storeTimeout,
		func(ctx context.Context) (map[string]timeline.Participant, error) {
			return e.store.Participants(ctx, job.PagerDutyIncident)
		})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	at := job.OccurredAt.UTC()
	var ps []timeline.Participant
	changed := map[string]timeline.Role{}
	for u, lvl := range levels {
		role := levelRole(lvl, job.ServiceName)
		// The store's merge keeps a configured or incident role over this one.
		ps = append(ps, timeline.Participant{ID: u, Role: role, RoleRank: timeline.RankOnCall, Level: lvl,
			FirstSeen: at, LastSeen: at})
		if named := job.Named[u]; role != named && e.replaceable(u, named, known) {
			changed[u] = role
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	if _, err := withRetry(ctx, e, "store_save_participants", e.storeTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, e.store.SaveParticipants(ctx, job.PagerDutyIncident, ps)
	}); err != nil {
		errs = append(errs, err)
	}
	if len(changed) > 0 {
		if err := e.refineEvent(ctx, job, changed); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// onCallLevel is the lowest escalation level at which user was on call for policy ep at time at,
// 0 if none. Answers are cached per policy, user and five minutes.
func (e *PagerDutyEnricher) onCallLevel(ctx context.Context, ep, user string, at time.Time) (int, error) {
	key := levelKey{ep: ep, user: user, bucket: at.UTC().Truncate(onCallBucket).Unix()}
	if lvl, ok := e.levels.get(key); ok {
		e.metrics.cache.WithLabelValues("hit").Inc()
		return lvl, nil
	}
	e.metrics.cache.WithLabelValues("miss").Inc()
	since := at.UTC().Truncate(time.Second)
	resp, err := withRetry(ctx, e, "oncalls", e.callTimeout, func(ctx context.Context) (*pagerduty.ListOnCallsResponse, error) {
		return e.client.ListOnCallsWithContext(ctx, pagerduty.ListOnCallOptions{
			Limit:               100,
			EscalationPolicyIDs: []string{ep},
			UserIDs:             []string{user},
			Since:               since.Format(time.RFC3339),
			Until:               since.Add(time.Second).Format(time.RFC3339),
		})
	})
	if err != nil {
		return 0, err
	}
	lvl := 0
	for _, oc := range resp.OnCalls {
		if (oc.User.ID != "" && oc.User.ID != user) || (oc.EscalationPolicy.ID != "" && oc.EscalationPolicy.ID != ep) {
			continue
		}
		if l := int(oc.EscalationLevel); l > 0 && (lvl == 0 || l < lvl) {
			lvl = l
		}
	}
	e.levels.put(key, lvl)
	return lvl, nil
}

// replaceable reports whether the role an event named a person by may give way to an on-call role.
// Only roles inferred from a payload (and the fallback) may: a configured role, an incident role, or
// anything postmortemd cannot place stays, as the participants record's merge rules say.
func (e *PagerDutyEnricher) replaceable(user string, named timeline.Role, known map[string]timeline.Participant) bool {
	if named == "" || e.roles.Users[user] != "" {
		return false
	}
	if p, ok := known[user]; ok && p.Role == named {
		return p.RoleRank <= timeline.RankOnCall
	}
	for _, m := range []map[string]string{e.roles.EscalationPolicies, e.roles.Teams} {
		for _, r := range m {
			if timeline.Role(r) == named {
				return false
			}
		}
	}
	return named == roleFallback || inferredRole(named)
}

var levelRoleText = regexp.MustCompile(`^(primary on-call \(level 1\)|secondary on-call \(level 2\)|level-\d+ on-call)( for .+)?$`)

// inferredRole recognises the roles policyRole, responderRole and levelRole make.
func inferredRole(r timeline.Role) bool {
	s := string(r)
	return levelRoleText.MatchString(s) || s == "on-call responder" || s == "requested responder" ||
		strings.HasPrefix(s, "on-call responder via the ") || strings.HasPrefix(s, "responder requested via the ")
}

// refineEvent rewrites the stored event: the actor's role if it changed, and in the fact every
// changed person's old role by their new one. A role that several people shared and that no longer
// names them all alike is left as it was rather than guessed.
func (e *PagerDutyEnricher) refineEvent(ctx context.Context, job EnrichJob, changed map[string]timeline.Role) error {
	inc, ev, err := e.storedEvent(ctx, job)
	if err != nil {
		return err
	}
	byOld := map[timeline.Role][]string{}
	for u, r := range job.Named {
		byOld[r] = append(byOld[r], u)
	}
	repl := map[string]string{}
	for old, users := range byOld {
		var to timeline.Role
		alike, moved := true, false
		for _, u := range users {
			r := old
			if c, ok := changed[u]; ok {
				r, moved = c, true
			}
			if to == "" {
				to = r
			}
			alike = alike && r == to
		}
		if moved && alike {
			repl[old.Phrase()] = to.Phrase()
		}
	}
	fact := replacePhrases(ev.Fact, repl)
	role := ev.Role
	if r, ok := changed[job.ActorID]; ok && job.ActorID != "" && ev.Role == job.Named[job.ActorID] {
		role = r
	}
	if fact == ev.Fact && role == ev.Role {
		return nil
	}
	if _, err := withRetry(ctx, e, "store_refine", e.storeTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, e.store.Refine(ctx, timeline.Refinement{IncidentID: inc, EventID: job.EventID, Role: role, Fact: fact})
	}); err != nil {
		return err
	}
	e.metrics.refinements.WithLabelValues("role").Inc()
	e.log.Info("roles refined from on-call data", "incident_id", inc, "event_id", job.EventID, "role", role)
	return nil
}

// storedEvent finds the job's event as the timeline shows it now (with the store's "from" parts
// filled in and earlier refinements applied), under the incident's current id: an incident merged
// into another after the job was queued is found under the one it was folded into.
func (e *PagerDutyEnricher) storedEvent(ctx context.Context, job EnrichJob) (string, timeline.Event, error) {
	inc, err := withRetry(ctx, e, "store_incident", e.storeTimeout, func(ctx context.Context) (timeline.Incident, error) {
		return e.store.Incident(ctx, job.IncidentID)
	})
	if err != nil {
		return "", timeline.Event{}, err
	}
	es, err := withRetry(ctx, e, "store_entries", e.storeTimeout, func(ctx context.Context) ([]timeline.Entry, error) {
		return e.store.Entries(ctx, inc.ID)
	})
	if err != nil {
		return "", timeline.Event{}, err
	}
	for _, en := range es {
		if en.ID() != job.EventID {
			continue
		}
		var ev timeline.Event
		if err := json.Unmarshal(en.JSON, &ev); err != nil {
			return "", timeline.Event{}, fmt.Errorf("event %s: %w", job.EventID, err)
		}
		return inc.ID, ev, nil
	}
	return "", timeline.Event{}, fmt.Errorf("event %s is not on incident %s's timeline: %w", job.EventID, inc.ID, timeline.ErrNotFound)
}

// fullNote replaces a trimmed note's text by the full note, with names scrubbed as the webhook's
// text was.
func (e *PagerDutyEnricher) fullNote(ctx context.Context, job EnrichJob) error {
	notes, err := withRetry(ctx, e, "notes", e.callTimeout, func(ctx context.Context) ([]pagerduty.IncidentNote, error) {
		return e.client.ListIncidentNotesWithContext(ctx, job.PagerDutyIncident)
	})
	if err != nil {
		return err
	}
	i := slices.IndexFunc(notes, func(n pagerduty.IncidentNote) bool { return n.ID == job.TrimmedNoteID })
	if i < 0 {
		return fmt.Errorf("not among the incident's %d notes: %w", len(notes), timeline.ErrNotFound)
	}
	known, err := withRetry(ctx, e, "store_participants", e.storeTimeout,
		func(ctx context.Context) (map[string]timeline.Participant, error) {
			return e.store.Participants(ctx, job.PagerDutyIncident)
		})
	if err != nil {
		return err
	}
	text := scrubNote(newRoleBook(known, e.roles, job.OccurredAt), notes[i])
	inc, err := withRetry(ctx, e, "store_incident", e.storeTimeout, func(ctx context.Context) (timeline.Incident, error) {
		return e.store.Incident(ctx, job.IncidentID)
	})
	if err != nil {
		return err
	}
	if _, err := withRetry(ctx, e, "store_refine", e.storeTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, e.store.Refine(ctx, timeline.Refinement{IncidentID: inc.ID, EventID: job.EventID, Fact: text})
	}); err != nil {
		return err
	}
	e.metrics.refinements.WithLabelValues("note").Inc()
	e.log.Info("trimmed note completed from PagerDuty", "incident_id", inc.ID, "event_id", job.EventID)
	return nil
}

// pagerDutyID is the shape of PagerDuty's object ids; nothing else is put into a request's path.
var pagerDutyID = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// User look-up outcomes, the values of the outcome label of
// postmortemd_pagerduty_enrich_user_lookups_total.
const (
	userFetched  = "fetched"   // read from PagerDuty
	userCached   = "cached"    // answered from memory (an address or a deleted user)
	userNotFound = "not_found" // deleted in PagerDuty: nobody to invite, never retried
	userFailed   = "failed"    // PagerDuty or the network failed, retries included
)

// completeAddresses reads from PagerDuty (GET /users/{id}) the e-mail address and name of each of
// users the incident's participants record holds without an address, and saves them there:
// webhooks carry only ids and display names, and the review invites people by address. Names and
// addresses go nowhere else (no timeline, role, log line or metric label). People whose address is
// known are not looked up again, so any number of calls, on any replica, come to the same record.
func (e *PagerDutyEnricher) completeAddresses(ctx context.Context, pdID string, users []string) error {
	known, err := withRetry(ctx, e, "store_participants", e.storeTimeout,
		func(ctx context.Context) (map[string]timeline.Participant, error) {
			return e.store.Participants(ctx, pdID)
		})
	if err != nil {
		return err
	}
	var ps []timeline.Participant
	var errs []error
	asked := map[string]bool{}
	for _, id := range users {
		// Someone the record does not hold yet is saved by the webhook that names them, which
		// enqueues them again.
		k, ok := known[id]
		if !ok || k.Email != "" || asked[id] || !pagerDutyID.MatchString(id) {
			continue
		}
		asked[id] = true
		u, outcome, err := e.user(ctx, id)
		e.metrics.users.WithLabelValues(outcome).Inc()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("user %s: %w", id, err))
			continue
		}
		if u.email == "" {
			continue // deleted: nobody to invite
		}
		// No role: the record's role and rank stay as they are.
		ps = append(ps, timeline.Participant{ID: id, Name: u.name, Email: u.email, FirstSeen: k.FirstSeen, LastSeen: k.LastSeen})
	}
	if len(ps) > 0 {
		if _, err := withRetry(ctx, e, "store_save_participants", e.storeTimeout, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, e.store.SaveParticipants(ctx, pdID, ps)
		}); err != nil {
			errs = append(errs, err)
		} else {
			e.log.Debug("participants' addresses read from PagerDuty", "pagerduty_incident", pdID, "people", len(ps))
		}
	}
	return errors.Join(errs...)
}

// user is what PagerDuty says of one user, from the cache or GET /users/{id}, and how it was
// learnt. A 404 (the user was deleted) is an answer, not an error: it is not retried.
func (e *PagerDutyEnricher) user(ctx context.Context, id string) (pdPerson, string, error) {
	p, cached, err := e.users.get(ctx, id, func(ctx context.Context) (pdPerson, error) {
		u, err := withRetry(ctx, e, "users", e.callTimeout, func(ctx context.Context) (*pagerduty.User, error) {
			return e.client.GetUserWithContext(ctx, id, pagerduty.GetUserOptions{})
		})
		var ae pagerduty.APIError
		if errors.As(err, &ae) && ae.NotFound() {
			return pdPerson{gone: true}, nil
		}
		if err != nil {
			return pdPerson{}, err
		}
		return pdPerson{name: strings.TrimSpace(u.Name), email: strings.TrimSpace(u.Email)}, nil
	})
	switch {
	case err != nil:
		return p, userFailed, err
	case cached:
		return p, userCached, nil
	case p.gone:
		return p, userNotFound, nil
	}
	return p, userFetched, nil
}

// scrubNote is a note's text with every known person's name and address replaced by their role,
// the note's author included, and any other address by a neutral word.
func scrubNote(book *roleBook, n pagerduty.IncidentNote) string {
	if n.User.ID != "" {
		book.learn(&pdRef{ID: n.User.ID, Type: orDefault(n.User.Type, "user_reference"), Summary: n.User.Summary},
			"", timeline.RankFallback, "")
	}
	return truncate(book.scrub(n.Content), maxNoteFact)
}

// backfill records the log entries of every unresolved PagerDuty incident that no webhook brought.
func (e *PagerDutyEnricher) backfill(ctx context.Context) {
	// Collect first: backfilling resolves incidents, which moves the pages of the open list.
	var ids []string
	seen := map[string]bool{}
	for page := range maxIncidentPages {
		incs, err := withRetry(ctx, e, "store_incidents", e.storeTimeout, func(ctx context.Context) ([]timeline.Incident, error) {
			return e.store.Incidents(ctx, timeline.ListOptions{Status: timeline.StatusOpen, Limit: incidentsPageSize,
				Offset: page * incidentsPageSize})
		})
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("backfill skipped: unresolved incidents not listed", "err", err)
			}
			return
		}
		for _, inc := range incs {
			if id := inc.Sources[timeline.SourceKeyPagerDutyIncidentID]; id != "" && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if len(incs) == 0 {
			break
		}
	}
	for _, id := range ids {
		n, err := e.backfillIncident(ctx, id)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.log.Warn("log entries not backfilled", "pagerduty_incident", id, "err", err)
			continue
		}
		if n > 0 {
			e.log.Info("log entries backfilled", "pagerduty_incident", id, "appended", n)
		}
	}
}

// backfillIncident records one PagerDuty incident's log entries; those a webhook already brought
// (or an earlier pass, on any replica) are duplicates in the store. It returns the number appended.
func (e *PagerDutyEnricher) backfillIncident(ctx context.Context, pdID string) (int, error) {
	entries, err := e.logEntries(ctx, pdID)
	if err != nil {
		return 0, err
	}
	type timed struct {
		le pagerduty.LogEntry
		at time.Time
	}
	var todo []timed
	for _, le := range entries {
		if !backfilled(le.Type) {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, le.CreatedAt)
		if err != nil {
			e.log.Warn("log entry skipped: bad created_at", "pagerduty_incident", pdID, "log_entry", le.ID, "err", err)
			continue
		}
		todo = append(todo, timed{le, at.UTC()})
	}
	if len(todo) == 0 {
		return 0, nil
	}
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].at.Before(todo[j].at) })
	known, err := withRetry(ctx, e, "store_participants", e.storeTimeout,
		func(ctx context.Context) (map[string]timeline.Participant, error) {
			return e.store.Participants(ctx, pdID)
		})
	if err != nil {
		return 0, err
	}
	book := newRoleBook(known, e.roles, todo[0].at)
	var notes []pagerduty.IncidentNote
	notesRead := false
	lastSeen := map[string]time.Time{}
	appended := 0
	for _, t := range todo {
		book.at = t.at
		if t.le.Type == "annotate_log_entry" && !notesRead {
			notesRead = true
			if notes, err = withRetry(ctx, e, "notes", e.callTimeout, func(ctx context.Context) ([]pagerduty.IncidentNote, error) {
				return e.client.ListIncidentNotesWithContext(ctx, pdID)
			}); err != nil {
				if ctx.Err() != nil {
					return appended, ctx.Err()
				}
				e.log.Warn("notes not read: backfilled notes say only that a note was added", "pagerduty_incident", pdID, "err", err)
			}
		}
		ke, status := e.logEntryEvent(book, pdID, t.le, t.at, notes)
		for id := range book.updates {
			if t.at.After(lastSeen[id]) {
				lastSeen[id] = t.at
			}
		}
		b := timeline.Batch{Source: timeline.SourcePagerDuty, Group: pdID, Events: []timeline.KeyedEvent{ke}}
		if status != "" {
			b.Status = &timeline.StatusChange{To: status, At: t.at}
		}
		res, err := withRetry(ctx, e, "store_record", e.storeTimeout, func(ctx context.Context) (timeline.Result, error) {
			return e.store.Record(ctx, b)
		})
		if err != nil {
			e.metrics.backfilled.Add(float64(appended))
			return appended, err
		}
		appended += res.Appended
	}
	// Who did what is kept apart from the timeline, for the review's invitations.
	ps := book.participants()
	for i := range ps {
		ps[i].LastSeen = lastSeen[ps[i].ID]
	}
	_, err = withRetry(ctx, e, "store_save_participants", e.storeTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, e.store.SaveParticipants(ctx, pdID, ps)
	})
	e.metrics.backfilled.Add(float64(appended))
	if err != nil {
		return appended, err
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return appended, e.completeAddresses(ctx, pdID, ids)
}

// logEntries reads all of an incident's log entries, page by page.
func (e *PagerDutyEnricher) logEntries(ctx context.Context, pdID string) ([]pagerduty.LogEntry, error) {
	var out []pagerduty.LogEntry
	var offset uint
	for range maxLogEntryPages {
		resp, err := withRetry(ctx, e, "log_entries", e.callTimeout, func(ctx context.Context) (*pagerduty.ListIncidentLogEntriesResponse, error) {
			return e.client.ListIncidentLogEntriesWithContext(ctx, pdID, pagerduty.ListIncidentLogEntriesOptions{
				Limit: logEntriesPageSize, Offset: offset, TimeZone: "UTC"})
		})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.LogEntries...)
		if !resp.More || len(resp.LogEntries) == 0 {
			break
		}
		offset += uint(len(resp.LogEntries))
	}
	return out, nil
}

// backfilled reports whether a log entry type records a change a webhook records too.
func backfilled(logType string) bool {
	for _, t := range logEntryTypes {
		if t == logType {
			return true
		}
	}
	return false
}

// logEntryEvent states one log entry as the webhook for the same change would, naming people by
// role. A log entry's summary names people and is never used.
func (e *PagerDutyEnricher) logEntryEvent(book *roleBook, pdID string, le pagerduty.LogEntry, at time.Time,
	notes []pagerduty.IncidentNote) (timeline.KeyedEvent, timeline.Status) {
	var agent *pdRef
	if le.Agent.ID != "" || le.Agent.Type != "" {
		agent = &pdRef{ID: le.Agent.ID, Type: le.Agent.Type, Summary: le.Agent.Summary}
	}
	assigneeRoleList := []string{}
	assignees := func() string {
		var roles []string
		for _, a := range le.Assignees {
			ref := &pdRef{ID: a.ID, Type: orDefault(a.Type, "user_reference"), Summary: a.Summary}
			book.learn(ref, "", timeline.RankFallback, "assignee")
			if r := book.role(ref); !contains(assigneeRoleList, string(r)) {
				assigneeRoleList = append(assigneeRoleList, string(r))
			}
			if r := book.role(ref).Phrase(); !contains(roles, r) {
				roles = append(roles, r)
			}
		}
		s := strings.Join(roles, " and ")
		if len(le.Assignees) > len(roles) {
			s += fmt.Sprintf(" (%d people)", len(le.Assignees))
		}
		return s
	}
	var typ timeline.Type
	var status timeline.Status
	var duty string
	kind := timeline.KindFact
	switch le.Type {
	case "trigger_log_entry":
		typ, duty = timeline.TypeIncidentTriggered, "trigger"
	case "acknowledge_log_entry":
		typ, duty, status = timeline.TypeIncidentAcknowledged, "acknowledger", timeline.StatusAcknowledged
	case "unacknowledge_log_entry":
		typ, status = timeline.TypeIncidentUnacknowledged, timeline.StatusOpen
	case "escalate_log_entry":
		typ, duty = timeline.TypeIncidentEscalated, "escalator"
	case "assign_log_entry":
		typ, duty = timeline.TypeIncidentReassigned, "reassigner"
	case "delegate_log_entry":
		typ, duty = timeline.TypeIncidentDelegated, "delegator"
	case "annotate_log_entry":
		typ, duty = timeline.TypeNote, "note author"
	case "resolve_log_entry":
		typ, duty, status = timeline.TypeIncidentResolved, "resolver", timeline.StatusResolved
	}
	if isUser(agent) {
		book.learn(agent, "", timeline.RankFallback, duty)
	}
	actor := book.actor(agent, nil)
	by := actor.Phrase()
	var fact string
	switch le.Type {
	case "trigger_log_entry":
		fact = "PagerDuty incident triggered"
		if le.Service.Summary != "" {
			fact += " on service " + le.Service.Summary
		}
		fact += recoveredSuffix
	case "acknowledge_log_entry":
		fact = "Acknowledged by " + by + recoveredSuffix
	case "unacknowledge_log_entry":
		fact = "Acknowledgement lapsed; the incident is triggered again"
		if len(le.Assignees) > 0 {
			fact += " and assigned to " + assignees()
		}
		fact += recoveredSuffix
	case "escalate_log_entry":
		fact = "Escalated"
		if len(le.Assignees) > 0 {
			fact += " to " + assignees()
		}
		fact += recoveredSuffix
	case "assign_log_entry":
		fact = "Reassigned by " + by
		if len(le.Assignees) > 0 {
			fact += " to " + assignees()
		}
		fact += recoveredSuffix
	case "delegate_log_entry":
		fact = "Moved by " + by + " to another escalation policy" + recoveredSuffix
	case "annotate_log_entry":
		if n, ok := noteFor(notes, le, at); ok {
			kind, fact = timeline.KindContext, scrubNote(book, n)
		} else {
			fact = "Note added by " + by + " (recovered from PagerDuty's log; its text is no longer among the incident's notes)"
		}
	case "resolve_log_entry":
		fact = "Resolved in PagerDuty by " + by + recoveredSuffix
	}
	attrs := map[string]any{"pagerduty_log_entry_type": le.Type, "pagerduty_incident_id": pdID,
		"pagerduty_log_entry_id": le.ID, "recovered_from": "log_entries"}
	if le.Channel.Type != "" {
		attrs["channel"] = le.Channel.Type // its other fields may name people
	}
	// What the sentence says beyond the type, so it can be rendered in another language.
	switch le.Type {
	case "trigger_log_entry":
		attrs["service"] = le.Service.Summary
	case "unacknowledge_log_entry", "escalate_log_entry", "assign_log_entry":
		attrs["assignees"] = assigneeRoleList
	}
	identity := "log_entry:" + orDefault(le.ID, le.Type+"@"+at.Format(time.RFC3339))
	ev := timeline.Event{ID: timeline.EventID(timeline.SourcePagerDuty, identity), At: at, RecordedAt: e.now().UTC(),
		Source: timeline.SourcePagerDuty, Type: typ, Kind: kind, Role: actor, Fact: truncate(fact, maxNoteFact),
		Attributes: mustJSON(attrs)}
	return timeline.KeyedEvent{DedupeKey: LogEntryKey(le.Type, at), Event: ev}, status
}

// noteFor finds the note an annotate log entry records: same author, same second.
func noteFor(notes []pagerduty.IncidentNote, le pagerduty.LogEntry, at time.Time) (pagerduty.IncidentNote, bool) {
	for _, n := range notes {
		t, err := time.Parse(time.RFC3339Nano, n.CreatedAt)
		if err != nil || !t.Truncate(time.Second).Equal(at.Truncate(time.Second)) {
			continue
		}
		if le.Agent.ID == "" || n.User.ID == le.Agent.ID {
			return n, true
		}
	}
	return pagerduty.IncidentNote{}, false
}

// withRetry calls f until it succeeds, with exponential backoff and jitter between attempts, as long
// as the error is worth retrying (see retryable) and attempts remain. Each attempt gets timeout.
func withRetry[T any](ctx context.Context, e *PagerDutyEnricher, call string, timeout time.Duration,
	f func(context.Context) (T, error)) (T, error) {
	var zero T
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		v, err := f(actx)
		cancel()
		if err == nil {
			e.metrics.calls.WithLabelValues(call, "ok").Inc()
			return v, nil
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("%s: %w", call, ctx.Err())
		}
		if !retryable(err) || attempt >= e.attempts {
			e.metrics.calls.WithLabelValues(call, "error").Inc()
			return zero, fmt.Errorf("%s: %w", call, err)
		}
		e.metrics.calls.WithLabelValues(call, "retried").Inc()
		d := e.backoff(attempt)
		e.log.Debug("retrying", "call", call, "attempt", attempt, "backoff", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, fmt.Errorf("%s: %w", call, ctx.Err())
		case <-t.C:
		}
	}
}

// backoff is the wait after the given failed attempt: RetryBase doubled per attempt up to RetryMax,
// with the upper half jittered so replicas that failed together do not retry together.
func (e *PagerDutyEnricher) backoff(attempt int) time.Duration {
	d := e.retryBase
	for i := 1; i < attempt && d < e.retryMax; i++ {
		d *= 2
	}
	d = min(d, e.retryMax)
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryable tells errors that may pass (rate limits, PagerDuty's 5xx, the network, an unavailable
// store) from those that will not (any other 4xx, a malformed answer).
func retryable(err error) bool {
	var ae pagerduty.APIError
	if errors.As(err, &ae) {
		return ae.Temporary() // 429 and 5xx
	}
	var ne net.Error
	if errors.Is(err, timeline.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return true
	}
	// go-pagerduty v1.8.0 formats transport failures with %v, so their type is lost.
	msg := err.Error()
	return strings.HasPrefix(msg, "error calling the API endpoint") || strings.HasPrefix(msg, "failed to read response body")
}

// replacePhrases replaces whole phrases (not parts of words or of longer names such as
// "checkout-api") in one pass, longest first, so a replacement is never replaced again.
func replacePhrases(s string, repl map[string]string) string {
	olds := make([]string, 0, len(repl))
	for o := range repl {
		if o != "" {
			olds = append(olds, o)
		}
	}
	sort.Slice(olds, func(i, j int) bool {
		return len(olds[i]) > len(olds[j]) || (len(olds[i]) == len(olds[j]) && olds[i] < olds[j])
	})
	type span struct {
		i, j int
		with string
	}
	var spans []span
	for _, o := range olds {
		for from := 0; from < len(s); {
			k := strings.Index(s[from:], o)
			if k < 0 {
				break
			}
			i, j := from+k, from+k+len(o)
			from = i + 1
			if !phraseEdge(s, i, j) || slices.ContainsFunc(spans, func(sp span) bool { return i < sp.j && sp.i < j }) {
				continue
			}
			spans = append(spans, span{i, j, repl[o]})
		}
	}
	if len(spans) == 0 {
		return s
	}
	sort.Slice(spans, func(a, b int) bool { return spans[a].i < spans[b].i })
	var sb strings.Builder
	last := 0
	for _, sp := range spans {
		sb.WriteString(s[last:sp.i])
		sb.WriteString(sp.with)
		last = sp.j
	}
	sb.WriteString(s[last:])
	return sb.String()
}

// phraseEdge reports whether s[i:j] stands alone: no letter or digit before it, and no letter,
// digit or hyphen after it.
func phraseEdge(s string, i, j int) bool {
	if i > 0 {
		if r, _ := utf8.DecodeLastRuneInString(s[:i]); isWordRune(r) {
			return false
		}
	}
	if j < len(s) {
		if r, _ := utf8.DecodeRuneInString(s[j:]); isWordRune(r) || r == '-' {
			return false
		}
	}
	return true
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// levelKey identifies one cached on-call answer.
type levelKey struct {
	ep, user string
	bucket   int64
}

// levelCache remembers on-call answers, forgetting the oldest beyond its size.
type levelCache struct {
	mu   sync.Mutex
	m    map[levelKey]int
	ring []levelKey
	next int
}

func newLevelCache(size int) *levelCache {
	return &levelCache{m: make(map[levelKey]int, size), ring: make([]levelKey, size)}
}

func (c *levelCache) get(k levelKey) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *levelCache) put(k levelKey, v int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		c.m[k] = v
		return
	}
	if len(c.m) >= len(c.ring) {
		delete(c.m, c.ring[c.next])
	}
	c.ring[c.next] = k
	c.next = (c.next + 1) % len(c.ring)
	c.m[k] = v
}

// pdPerson is what PagerDuty's API says of a user. It is kept in memory and in the participants
// record only.
type pdPerson struct {
	name, email string
	gone        bool // 404: the user was deleted
}

// userEntry is one cached look-up; ready is closed once it has ended.
type userEntry struct {
	ready   chan struct{}
	p       pdPerson
	err     error
	expires time.Time
}

// userCache remembers users read from PagerDuty for ttl, at most size of them, and makes
// concurrent look-ups of one user share a single request. Failures are not remembered.
type userCache struct {
	mu   sync.Mutex
	m    map[string]*userEntry
	size int
	ttl  time.Duration
	now  func() time.Time
}

func newUserCache(size int, ttl time.Duration, now func() time.Time) *userCache {
	return &userCache{m: make(map[string]*userEntry, size), size: size, ttl: ttl, now: now}
}

// get returns the user id from memory (cached true) or from fetch, which is called once however
// many callers ask at the same time.
func (c *userCache) get(ctx context.Context, id string, fetch func(context.Context) (pdPerson, error)) (pdPerson, bool, error) {
	c.mu.Lock()
	if ent, ok := c.m[id]; ok {
		select {
		case <-ent.ready:
			if c.now().Before(ent.expires) {
				c.mu.Unlock()
				return ent.p, true, nil
			}
			delete(c.m, id)
		default: // another worker is asking: wait for its answer
			c.mu.Unlock()
			select {
			case <-ent.ready:
				return ent.p, true, ent.err
			case <-ctx.Done():
				return pdPerson{}, false, ctx.Err()
			}
		}
	}
	c.evictLocked()
	ent := &userEntry{ready: make(chan struct{})}
	c.m[id] = ent
	c.mu.Unlock()

	p, err := fetch(ctx)
	c.mu.Lock()
	ent.p, ent.err, ent.expires = p, err, c.now().Add(c.ttl)
	if err != nil && c.m[id] == ent {
		delete(c.m, id) // the next job asks again
	}
	close(ent.ready)
	c.mu.Unlock()
	return p, false, err
}

// evictLocked makes room for one entry: expired entries go first, then the one closest to expiry.
func (c *userCache) evictLocked() {
	if len(c.m) < c.size {
		return
	}
	now := c.now()
	oldest := ""
	var oldestAt time.Time
	for id, ent := range c.m {
		select {
		case <-ent.ready:
		default:
			continue // in flight
		}
		if !now.Before(ent.expires) {
			delete(c.m, id)
			continue
		}
		if oldest == "" || ent.expires.Before(oldestAt) {
			oldest, oldestAt = id, ent.expires
		}
	}
	if len(c.m) >= c.size && oldest != "" {
		delete(c.m, oldest)
	}
}

// enrichMetrics count what enrichment does, in Prometheus' conventions.
type enrichMetrics struct {
	jobs        *prometheus.CounterVec
	calls       *prometheus.CounterVec
	refinements *prometheus.CounterVec
	cache       *prometheus.CounterVec
	users       *prometheus.CounterVec
	backfilled  prometheus.Counter
	queue       prometheus.GaugeFunc
}

func newEnrichMetrics(reg prometheus.Registerer, queueLen func() float64) *enrichMetrics {
	m := &enrichMetrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_pagerduty_enrich_jobs_total",
			Help: "PagerDuty enrichment jobs, by outcome (done, failed, dropped because the queue was full).",
		}, []string{"outcome"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_pagerduty_enrich_calls_total",
			Help: "Calls made by PagerDuty enrichment (PagerDuty REST API and store), by call and outcome (ok, retried, error).",
		}, []string{"call", "outcome"}),
		refinements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_pagerduty_enrich_refinements_total",
			Help: "Timeline events refined, by kind (role from on-call data, full text of a trimmed note).",
		}, []string{"kind"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_pagerduty_enrich_oncall_cache_total",
			Help: "On-call level look-ups, by result (hit, miss).",
		}, []string{"result"}),
		users: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_pagerduty_enrich_user_lookups_total",
			Help: "Look-ups of participants' e-mail addresses (GET /users/{id}), by outcome (fetched, cached, not_found for deleted users, failed).",
		}, []string{"outcome"}),
		backfilled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "postmortemd_pagerduty_enrich_backfilled_events_total",
			Help: "Timeline events recorded from PagerDuty log entries that no webhook had brought.",
		}),
		queue: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postmortemd_pagerduty_enrich_queue_length",
			Help: "PagerDuty enrichment jobs waiting.",
		}, queueLen),
	}
	if reg != nil {
		reg.MustRegister(m.jobs, m.calls, m.refinements, m.cache, m.users, m.backfilled, m.queue)
	}
	return m
}
