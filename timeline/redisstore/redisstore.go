// Package redisstore keeps timelines in Redis with go-redis v9: incidents as hashes, each incident's
// events as one stream, and the per-group state that makes every append idempotent.
//
// It imports timeline and go-redis only. It turns redis.Nil into timeline.ErrNotFound and
// connection failures into timeline.ErrUnavailable; it knows nothing of HTTP or of any sender.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/timeline"
)

// DefaultPrefix is the key prefix (a Cluster hash tag) used when Options.Prefix is empty.
const DefaultPrefix = "{pm}"

// timeLayout is fixed-width so that stored times compare as strings inside the Lua script.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// Options tune a Store.
type Options struct {
	// Prefix starts every key; tests sharing a server use their own. Default DefaultPrefix.
	Prefix string
	// GroupTTL is how long a group's dedupe state outlives its last delivery. Default 30 days: a
	// late duplicate must still find the occurrence it repeats.
	GroupTTL time.Duration
	// ParticipantsTTL is how long who-took-part records outlive their last write. Default 30 days:
	// long enough to invite everyone to the review, short enough not to keep people on file.
	ParticipantsTTL time.Duration
	// ResolveGrace is how long after learning of a resolution an incident counts as resolved for
	// the postmortem and review steps (Incident.SettlesAt). Zero settles at once.
	ResolveGrace time.Duration
	// Now is the store's clock for created_at and updated_at. Default time.Now.
	Now func() time.Time
	// ReadCacheBytes bounds the in-process cache of recently read timelines (event JSON bytes);
	// 0 means 64 MiB, negative turns the cache off.
	ReadCacheBytes int
	// Observe, if set, is told the duration and outcome of every store operation (for metrics).
	Observe func(op string, d time.Duration, err error)
	// WaitReplicas, when positive, makes every write wait until that many replicas acknowledged
	// it (Redis's WAIT), so that a Sentinel failover loses nothing acknowledged; a write fewer
	// replicas took within WaitTimeout (default 1s) fails as unavailable. See replicas.go. New
	// adds a hook to rdb for it: give each Store its own client. Not for Cluster clients.
	WaitReplicas int
	WaitTimeout  time.Duration
	// NotReplicated, if set, is told about each write fewer than WaitReplicas replicas took.
	NotReplicated func(acked int, err error)
}

// Store is a timeline store on Redis. It is safe for concurrent use, and several processes may
// share one Redis.
type Store struct {
	rdb             redis.UniversalClient
	prefix          string
	groupTTL        time.Duration
	participantsTTL time.Duration
	resolveGrace    time.Duration
	now             func() time.Time
	observe         func(string, time.Duration, error)
	replicas        *replicaHook // nil unless Options.WaitReplicas
	cache           *entryCache
	commits         commitQueue
}

// New returns a Store using rdb. The caller owns rdb and closes it.
func New(rdb redis.UniversalClient, o Options) *Store {
	s := &Store{rdb: rdb, prefix: o.Prefix, groupTTL: o.GroupTTL, participantsTTL: o.ParticipantsTTL,
		resolveGrace: o.ResolveGrace, now: o.Now, observe: o.Observe}
	if o.ResolveGrace < 0 {
		s.resolveGrace = 0
	}
	switch {
	case o.ReadCacheBytes == 0:
		s.cache = newEntryCache(64 << 20)
	case o.ReadCacheBytes > 0:
		s.cache = newEntryCache(o.ReadCacheBytes)
	}
	if s.participantsTTL <= 0 {
		s.participantsTTL = 30 * 24 * time.Hour
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.groupTTL <= 0 {
		s.groupTTL = 30 * 24 * time.Hour
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.observe == nil {
		s.observe = func(string, time.Duration, error) {}
	}
	if o.WaitReplicas > 0 {
		s.replicas = &replicaHook{rdb: rdb, n: o.WaitReplicas, timeout: o.WaitTimeout, failed: o.NotReplicated}
		if s.replicas.timeout <= 0 {
			s.replicas.timeout = time.Second
		}
		rdb.AddHook(s.replicas)
	}
	return s
}

// Ping checks that Redis answers; it returns an error wrapping timeline.ErrUnavailable otherwise.
func (s *Store) Ping(ctx context.Context) error {
	return s.wrap("ping", s.rdb.Ping(ctx).Err())
}

// Record applies b atomically and idempotently (see timeline.Batch).
func (s *Store) Record(ctx context.Context, b timeline.Batch) (res timeline.Result, err error) {
	defer s.timed("record", &err)()
	if b.Group == "" {
		return res, fmt.Errorf("record: %w: empty group", timeline.ErrInvalid)
	}
	args, err := s.recordArgs(b)
	if err != nil {
		return res, fmt.Errorf("record: %w", err)
	}
	keys := []string{s.groupKey(string(b.Source), b.Group), s.indexKey(indexAll),
		s.indexKey(indexActive), s.indexKey(indexResolved)}
	out, err := s.runRecord(ctx, keys, args)
	if err != nil {
		return res, s.wrap("record", err)
	}
	if len(out) != 7 {
		return res, fmt.Errorf("record: unexpected script reply %v", out)
	}
	res.IncidentID, _ = out[0].(string)
	res.Opened = asInt(out[1]) == 1
	res.Resolved = asInt(out[2]) == 1
	res.Appended = asInt(out[3])
	res.Duplicates = asInt(out[4])
	res.Reopened = asInt(out[5]) == 1
	res.Joined = asInt(out[6]) == 1
	return res, nil
}

func (s *Store) recordArgs(b timeline.Batch) ([]any, error) {
	labels, err := json.Marshal(nonNilMap(b.Open.Labels))
	if err != nil {
		return nil, err
	}
	sources, err := json.Marshal(nonNilMap(b.Open.Sources))
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, 16+len(b.Open.Services)+5*len(b.Occurrences)+3*len(b.Events))
	args = append(args, s.prefix, s.now().UTC().Format(timeLayout), b.Open.ID, b.Open.Title,
		b.Open.Severity, b.SeverityRank, b.Open.StartedAt.UTC().Format(timeLayout),
		b.Open.StartedAt.UnixMilli(), labels, sources, int64(s.groupTTL/time.Second),
		flag(b.OpenAlways), b.DeliveryKey, len(b.Open.Services))
	for _, svc := range b.Open.Services {
		args = append(args, svc)
	}
	args = append(args, len(b.Links))
	for _, l := range b.Links {
		args = append(args, l)
	}
	args = append(args, len(b.Snapshot))
	for _, f := range b.Snapshot {
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		// JSON-escaped, so it can stand inside an event's JSON string as it is.
		args = append(args, f.Name, string(v[1:len(v)-1]), f.At.UTC().Format(timeLayout))
	}
	var w eventWriter
	for _, o := range b.Occurrences {
		w.expectEvents(o.Event)
	}
	for _, ke := range b.Events {
		w.expectEvents(ke.Event)
	}
	if b.Resolve {
		w.expectEvents(b.Resolution)
	}
	args = append(args, len(b.Occurrences))
	for _, o := range b.Occurrences {
		st := "f"
		if o.State == timeline.OccurrenceResolved {
			st = "r"
		}
		e, err := w.stored(o.Event)
		if err != nil {
			return nil, err
		}
		args = append(args, occurrenceField(o.Key), o.Key, aliasField(o.Alias), o.Alias, st,
			o.Event.At.UnixNano(), e)
	}
	args = append(args, len(b.Events))
	for _, ke := range b.Events {
		e, err := w.stored(ke.Event)
		if err != nil {
			return nil, err
		}
		keys := ke.DedupeKey
		for _, k := range ke.AltKeys {
			keys += "\n" + k
		}
		args = append(args, keys, ke.Event.At.UnixNano(), e)
	}
	if b.Resolve {
		e, err := w.stored(b.Resolution)
		if err != nil {
			return nil, err
		}
		args = append(args, "1", b.ResolvedAt.UTC().Format(timeLayout), b.Resolution.At.UnixNano(), e)
	} else {
		args = append(args, "0", "", 0, "")
	}
	if b.Status != nil {
		args = append(args, string(b.Status.To), b.Status.At.UTC().Format(timeLayout))
	} else {
		args = append(args, "", "")
	}
	return args, nil
}

// Incident returns one incident, or an error wrapping timeline.ErrNotFound. An incident that was
// merged into another (two senders' views of one outage) is found under its old id too.
func (s *Store) Incident(ctx context.Context, id string) (inc timeline.Incident, err error) {
	defer s.timed("incident", &err)()
	for hop := 0; hop < 3; hop++ {
		pipe := s.rdb.Pipeline()
		h := pipe.HGetAll(ctx, s.incidentKey(id))
		svc := pipe.SMembers(ctx, s.servicesKey(id))
		merged := pipe.Get(ctx, s.mergedKey(id))
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return inc, s.wrap("incident "+id, err)
		}
		if len(h.Val()) == 0 && merged.Val() != "" {
			id = merged.Val()
			continue
		}
		return s.decodeIncident(id, h.Val(), svc.Val())
	}
	return inc, fmt.Errorf("incident %q: %w", id, timeline.ErrNotFound)
}

// Incidents lists incidents newest first (by start time).
func (s *Store) Incidents(ctx context.Context, o timeline.ListOptions) (incs []timeline.Incident, err error) {
	defer s.timed("incidents", &err)()
	index := indexAll
	switch o.Status {
	case "":
	case timeline.StatusOpen:
		index = indexActive
	case timeline.StatusResolved:
		index = indexResolved
	case timeline.StatusAcknowledged:
		index = indexActive
	default:
		return nil, fmt.Errorf("list incidents: %w: unknown status %q", timeline.ErrInvalid, o.Status)
	}
	if o.Limit <= 0 {
		o.Limit = 100
	}
	var ids []string
	if o.Status == timeline.StatusAcknowledged {
		ids, err = s.acknowledgedIDs(ctx, o.Offset, o.Limit)
	} else {
		ids, err = s.rdb.ZRevRange(ctx, s.indexKey(index), int64(o.Offset), int64(o.Offset+o.Limit-1)).Result()
	}
	if err != nil {
		return nil, s.wrap("list incidents", err)
	}
	if len(ids) == 0 {
		return []timeline.Incident{}, nil
	}
	pipe := s.rdb.Pipeline()
	hs := make([]*redis.MapStringStringCmd, len(ids))
	ss := make([]*redis.StringSliceCmd, len(ids))
	for i, id := range ids {
		hs[i] = pipe.HGetAll(ctx, s.incidentKey(id))
		ss[i] = pipe.SMembers(ctx, s.servicesKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, s.wrap("list incidents", err)
	}
	incs = make([]timeline.Incident, 0, len(ids))
	for i, id := range ids {
		inc, err := s.decodeIncident(id, hs[i].Val(), ss[i].Val())
		if errors.Is(err, timeline.ErrNotFound) {
			continue // expired between the index read and the fetch
		}
		if err != nil {
			return nil, err
		}
		if o.Status == timeline.StatusAcknowledged && inc.Status != timeline.StatusAcknowledged {
			continue
		}
		incs = append(incs, inc)
	}
	return incs, nil
}

// acknowledgedIDs pages over the acknowledged incidents, newest first: it walks the index of
// unresolved incidents (open and acknowledged, a short list in any team) a chunk at a time, reading
// only each one's status, and skips offset acknowledged ones before taking limit. Filtering one
// page of the unresolved index instead would return short or empty pages.
func (s *Store) acknowledgedIDs(ctx context.Context, offset, limit int) ([]string, error) {
	const chunk = 500
	var out []string
	for start := int64(0); ; start += chunk {
		ids, err := s.rdb.ZRevRange(ctx, s.indexKey(indexActive), start, start+chunk-1).Result()
		if err != nil {
			return nil, err
		}
		pipe := s.rdb.Pipeline()
		st := make([]*redis.StringCmd, len(ids))
		for i, id := range ids {
			st[i] = pipe.HGet(ctx, s.incidentKey(id), "status")
		}
		if len(ids) > 0 {
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return nil, err
			}
		}
		for i, id := range ids {
			if st[i].Val() != string(timeline.StatusAcknowledged) {
				continue
			}
			if offset > 0 {
				offset--
				continue
			}
			if out = append(out, id); len(out) == limit {
				return out, nil
			}
		}
		if len(ids) < chunk {
			return out, nil
		}
	}
}

// Refine records a refinement of one event's role and fact; Entries applies it.
func (s *Store) Refine(ctx context.Context, r timeline.Refinement) (err error) {
	defer s.timed("refine", &err)()
	b, err := json.Marshal(refinement{Role: r.Role, Fact: r.Fact})
	if err != nil {
		return err
	}
	id := r.IncidentID
	for hop := 0; hop < 3; hop++ {
		n, err := refineScript.Run(ctx, s.rdb, []string{s.incidentKey(id), s.refinedKey(id), s.mergedKey(id)},
			r.EventID, b).Text()
		if err != nil {
			return s.wrap("refine", err)
		}
		switch n {
		case "ok":
			return nil
		case "":
			return fmt.Errorf("refine: incident %q: %w", r.IncidentID, timeline.ErrNotFound)
		}
		id = n // merged into another incident: refine there
	}
	return fmt.Errorf("refine: incident %q: %w", r.IncidentID, timeline.ErrNotFound)
}

// refineScript stores a refinement only for an incident that exists (so a stray one cannot create
// keys that never expire), merging it field by field with an earlier one. It answers "ok", the id
// a merged incident was folded into, or "" for an unknown incident.
var refineScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.call('GET', KEYS[3]) or '' end
local r = cjson.decode(ARGV[2])
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  old = cjson.decode(old)
  if r.role == nil or r.role == '' then r.role = old.role end
  if r.fact == nil or r.fact == '' then r.fact = old.fact end
end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(r))
return 'ok'
`)

type refinement struct {
	Role timeline.Role `json:"role,omitempty"`
	Fact string        `json:"fact,omitempty"`
}

// applyRefinements rewrites the role and fact of refined events. Only refined events are decoded:
// most timelines have none or a few.
func applyRefinements(es []timeline.Entry, refined map[string]string) error {
	for i, e := range es {
		raw, ok := refined[e.ID()]
		if !ok {
			continue
		}
		var r refinement
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return err
		}
		var ev timeline.Event
		if err := json.Unmarshal(e.JSON, &ev); err != nil {
			return err
		}
		if r.Role != "" {
			ev.Role = r.Role
		}
		if r.Fact != "" {
			ev.Fact = r.Fact
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		es[i].JSON = b
	}
	return nil
}

func (s *Store) decodeIncident(id string, h map[string]string, services []string) (timeline.Incident, error) {
	if len(h) == 0 {
		return timeline.Incident{}, fmt.Errorf("incident %q: %w", id, timeline.ErrNotFound)
	}
	inc := timeline.Incident{
		ID:       id,
		Title:    h["title"],
		Status:   timeline.Status(h["status"]),
		Severity: h["severity"],
		Services: services,
	}
	var err error
	inc.EventCount, _ = strconv.ParseInt(h["events"], 10, 64)
	if inc.StartedAt, err = parseTime(h["started_at"]); err != nil {
		return inc, fmt.Errorf("incident %q: started_at: %w", id, err)
	}
	if h["resolved_at"] != "" {
		t, err := parseTime(h["resolved_at"])
		if err != nil {
			return inc, fmt.Errorf("incident %q: resolved_at: %w", id, err)
		}
		inc.ResolvedAt = &t
	}
	if seen, err := parseTime(h["resolution_seen_at"]); err == nil && !seen.IsZero() && inc.Status == timeline.StatusResolved {
		settles := seen.Add(s.resolveGrace)
		inc.SettlesAt = &settles
	}
	inc.CreatedAt, _ = parseTime(h["created_at"])
	inc.UpdatedAt, _ = parseTime(h["updated_at"])
	if err := json.Unmarshal([]byte(h["labels"]), &inc.Labels); err != nil {
		return inc, fmt.Errorf("incident %q: labels: %w", id, err)
	}
	if err := json.Unmarshal([]byte(h["sources"]), &inc.Sources); err != nil {
		return inc, fmt.Errorf("incident %q: sources: %w", id, err)
	}
	if inc.Services == nil {
		inc.Services = []string{}
	}
	slices.Sort(inc.Services)
	return inc, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// wrap classifies a go-redis error: redis.Nil is not found, a connection or timeout failure is
// unavailable (retryable), anything else is returned as it is, with context.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%s: %w", op, timeline.ErrNotFound)
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %v", op, timeline.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func unavailable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, net.ErrClosed) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", errNotReplicated,
		"connection refused", "connection reset", "broken pipe", "EOF", "i/o timeout"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func (s *Store) timed(op string, err *error) func() {
	start := time.Now()
	return func() { s.observe(op, time.Since(start), *err) }
}

func asInt(v any) int {
	switch n := v.(type) {
	case int64:
		return int(n)
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
