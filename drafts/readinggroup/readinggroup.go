// Package readinggroup plans the reading group: recurring sessions, from an RFC 5545 RRULE in a
// time zone, where newcomers read recommended postmortems together. Each session lists the next
// recommended postmortems no earlier session covered; what a session covered is recorded once,
// when it starts, in a Store shared by the replicas. It reads postmortems only through their
// store's List and knows nothing of HTTP or Redis.
package readinggroup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/teambition/rrule-go"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/i18n"
)

// DefaultPerSession is how many postmortems a session reads when the configuration says nothing.
const DefaultPerSession = 3

// DefaultDuration is a session's length when the configuration says nothing.
const DefaultDuration = time.Hour

// Config is the reading_group block of the configuration file.
type Config struct {
	// RRule is the sessions' recurrence, an RFC 5545 RRULE value such as
	// "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH" (a leading "RRULE:" is accepted).
	RRule string `yaml:"rrule" json:"rrule"`
	// Start is the first session's local start, "YYYY-MM-DDTHH:MM" in TimeZone: it anchors the
	// recurrence and gives the sessions their time of day.
	Start string `yaml:"start" json:"start"`
	// TimeZone is the IANA zone sessions are planned in; the local time stays put across daylight
	// saving changes. Default UTC.
	TimeZone string `yaml:"time_zone" json:"time_zone"`
	// Duration is a session's length. Default 1h.
	Duration time.Duration `yaml:"duration" json:"duration"`
	// PerSession is how many postmortems a session reads. Default 3.
	PerSession int `yaml:"per_session" json:"per_session"`
	// Invite are the addresses invited to every session (by CalDAV and e-mail); never served.
	Invite []string `yaml:"invite" json:"-"`
	// Title is the sessions' title. Default "Postmortem reading group" in the sessions' language
	// (Options.Lang).
	Title string `yaml:"title" json:"title"`
	// Location is where sessions are held, a room or a call link.
	Location string `yaml:"location" json:"location"`
}

// Enabled reports whether a reading group is configured: any setting turns it on, so a block
// missing its rrule is an error rather than silently ignored.
func (c Config) Enabled() bool {
	return c.RRule != "" || c.Start != "" || c.TimeZone != "" || c.Duration != 0 || c.PerSession != 0 ||
		len(c.Invite) > 0 || c.Title != "" || c.Location != ""
}

// Validate names the first bad setting (as reading_group.<key>).
func (c Config) Validate() error {
	_, err := c.rule()
	return err
}

func (c Config) location() (*time.Location, error) {
	if c.TimeZone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("reading_group.time_zone: %w", err)
	}
	return loc, nil
}

// rule builds the recurrence anchored at Start in TimeZone.
func (c Config) rule() (*rrule.RRule, error) {
	loc, err := c.location()
	if err != nil {
		return nil, err
	}
	if c.RRule == "" {
		return nil, errors.New("reading_group.rrule: missing (an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=TH)")
	}
	if c.Start == "" {
		return nil, errors.New(`reading_group.start: missing (the first session's local start, such as "2026-01-08T15:00")`)
	}
	start, err := time.ParseInLocation("2006-01-02T15:04", c.Start, loc)
	if err != nil {
		return nil, fmt.Errorf(`reading_group.start: want "YYYY-MM-DDTHH:MM", got %q`, c.Start)
	}
	value := strings.TrimSpace(c.RRule)
	if len(value) >= 6 && strings.EqualFold(value[:6], "RRULE:") {
		value = value[6:]
	}
	if strings.Contains(strings.ToUpper(value), "DTSTART") {
		return nil, errors.New("reading_group.rrule: give the first session in reading_group.start, not as DTSTART")
	}
	opt, err := rrule.StrToROptionInLocation(value, loc)
	if err != nil {
		return nil, fmt.Errorf("reading_group.rrule: %w", err)
	}
	opt.Dtstart = start
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, fmt.Errorf("reading_group.rrule: %w", err)
	}
	if r.After(start, true).IsZero() {
		return nil, errors.New("reading_group.rrule: the recurrence has no session at or after reading_group.start")
	}
	switch {
	case c.Duration < 0:
		return nil, errors.New("reading_group.duration: must not be negative")
	case c.PerSession < 0:
		return nil, errors.New("reading_group.per_session: must not be negative")
	}
	for _, a := range c.Invite {
		if !strings.Contains(a, "@") || strings.ContainsAny(a, " \r\n<>,") {
			return nil, fmt.Errorf("reading_group.invite: %q is not an e-mail address", a)
		}
	}
	return r, nil
}

// Postmortems lists postmortems; the postmortem store satisfies it.
type Postmortems interface {
	// List returns the postmortems matching q.
	List(q drafts.Query) ([]drafts.Summary, error)
}

// Store records what each session covered, once across replicas. timeline/redisstore satisfies it.
type Store interface {
	// RecordReadingSession stores value for the session uid unless one is stored, and returns the
	// stored one: the first writer wins. Errors wrap timeline.ErrUnavailable.
	RecordReadingSession(ctx context.Context, uid string, value []byte) ([]byte, error)
	// ReadingSessions returns every recorded session's value by UID.
	ReadingSessions(ctx context.Context) (map[string][]byte, error)
}

// Options configure a Group.
type Options struct {
	Config      Config
	Postmortems Postmortems
	Store       Store
	// BaseURL is postmortemd's external URL, for the links to the postmortems; empty leaves them
	// out.
	BaseURL string
	// Lang is the language of the sessions' invitations and calendar events (--draft-lang);
	// default English. A configured title is used as written.
	Lang   i18n.Lang
	Now    func() time.Time
	Logger *slog.Logger
}

// Group plans the reading group's sessions.
type Group struct {
	o    Options
	rule *rrule.RRule
	loc  *time.Location
	log  *slog.Logger
}

// New checks the configuration and builds the group.
func New(o Options) (*Group, error) {
	r, err := o.Config.rule()
	if err != nil {
		return nil, err
	}
	loc, _ := o.Config.location()
	if o.Config.PerSession == 0 {
		o.Config.PerSession = DefaultPerSession
	}
	if o.Config.Duration == 0 {
		o.Config.Duration = DefaultDuration
	}
	if o.Config.Title == "" {
		o.Config.Title = i18n.For(o.Lang).T("readinggroup.title")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Postmortems == nil || o.Store == nil {
		return nil, errors.New("reading group: needs the postmortem store and a session store")
	}
	return &Group{o: o, rule: r, loc: loc, log: o.Logger.With("component", "readinggroup")}, nil
}

// Item is one postmortem a session reads.
type Item struct {
	ID                string     `json:"id"`
	Title             string     `json:"title"`
	RecommendedReason string     `json:"recommended_reason"`
	Services          []string   `json:"services"`
	Started           *time.Time `json:"started,omitempty"`
	// URL is the postmortem's page, "" without a base URL.
	URL string `json:"url,omitempty"`
}

// Session is one meeting of the reading group.
type Session struct {
	UID      string    `json:"uid"`
	Title    string    `json:"title"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	TimeZone string    `json:"time_zone"`
	Location string    `json:"location,omitempty"`
	// Started reports a session that has begun: its postmortems are recorded and no longer change.
	Started     bool   `json:"started"`
	Postmortems []Item `json:"postmortems"`
	// InviteCount is how many addresses are invited; the addresses are never served.
	InviteCount int `json:"invite_count"`
	// Lang is the language the invitation is written in (Options.Lang).
	Lang i18n.Lang `json:"-"`
}

// record is what the Store keeps per session.
type record struct {
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Postmortems []Item    `json:"postmortems"`
}

// uid is a session's stable UID, from its start.
func uid(start time.Time) string {
	return "reading-group-" + start.UTC().Format("20060102T150405Z") + "@postmortemd"
}

func (g *Group) session(start time.Time) Session {
	return Session{UID: uid(start), Title: g.o.Config.Title, Start: start.In(g.loc), End: start.Add(g.o.Config.Duration).In(g.loc),
		TimeZone: g.loc.String(), Location: g.o.Config.Location, InviteCount: len(g.o.Config.Invite), Postmortems: []Item{},
		Lang: g.o.Lang}
}

// Next returns the session in progress, or else the next one to start; ok is false when the
// recurrence has ended. A session that has started is recorded first (once across replicas), so
// its postmortems never change afterwards.
func (g *Group) Next(ctx context.Context) (s Session, ok bool, err error) {
	now := g.o.Now()
	last, err := g.Record(ctx)
	if err != nil {
		return Session{}, false, err
	}
	if last != nil {
		return *last, true, nil
	}
	next := g.rule.After(now, false)
	if next.IsZero() {
		return Session{}, false, nil
	}
	recs, err := g.records(ctx)
	if err != nil {
		return Session{}, false, err
	}
	s = g.session(next)
	if s.Postmortems, err = g.choose(recs, s.UID); err != nil {
		return Session{}, false, err
	}
	return s, true, nil
}

// Record records the session in progress, if no replica did: its postmortems are the recommended
// ones no other session covered. It returns that session, nil when none is in progress. A session
// that ended before any replica saw it (the service was down, or not yet deployed) is not
// recorded: nobody was shown its list, so the next session offers those postmortems again.
func (g *Group) Record(ctx context.Context) (*Session, error) {
	now := g.o.Now()
	start := g.rule.Before(now, true)
	if start.IsZero() || !now.Before(start.Add(g.o.Config.Duration)) {
		return nil, nil
	}
	s := g.session(start)
	s.Started = true
	recs, err := g.records(ctx)
	if err != nil {
		return nil, err
	}
	rec, ok := recs[s.UID]
	if !ok {
		items, err := g.choose(recs, s.UID)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(record{Start: s.Start.UTC(), End: s.End.UTC(), Postmortems: items})
		if err != nil {
			return nil, err
		}
		stored, err := g.o.Store.RecordReadingSession(ctx, s.UID, b)
		if err != nil {
			return nil, fmt.Errorf("record reading session: %w", err)
		}
		if err := json.Unmarshal(stored, &rec); err != nil {
			return nil, fmt.Errorf("reading session %s: %w", s.UID, err)
		}
		g.log.Info("reading-group session started", "uid", s.UID, "postmortems", len(rec.Postmortems))
	}
	s.Postmortems = rec.Postmortems
	return &s, nil
}

// Past returns the recorded sessions, oldest first.
func (g *Group) Past(ctx context.Context) ([]Session, error) {
	recs, err := g.records(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(recs))
	for id, r := range recs {
		s := g.session(r.Start)
		s.UID, s.End, s.Started, s.Postmortems = id, r.End.In(g.loc), true, r.Postmortems
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Session) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// records reads every recorded session; one unreadable record is logged and left out, so it never
// hides the others.
func (g *Group) records(ctx context.Context) (map[string]record, error) {
	raw, err := g.o.Store.ReadingSessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("read reading sessions: %w", err)
	}
	out := make(map[string]record, len(raw))
	for id, b := range raw {
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			g.log.Warn("unreadable reading-group session left out", "uid", id, "err", err)
			continue
		}
		out[id] = r
	}
	return out, nil
}

// choose picks the session's postmortems: recommended, not covered by another recorded session,
// newest incident first (the postmortems closest to today's systems; an older one waits for a
// later session), at most PerSession.
func (g *Group) choose(recs map[string]record, self string) ([]Item, error) {
	covered := map[string]bool{}
	for id, r := range recs {
		if id == self {
			continue
		}
		for _, it := range r.Postmortems {
			covered[it.ID] = true
		}
	}
	yes := true
	sums, err := g.o.Postmortems.List(drafts.Query{Recommended: &yes})
	if err != nil {
		return nil, fmt.Errorf("list recommended postmortems: %w", err)
	}
	slices.SortStableFunc(sums, func(a, b drafts.Summary) int {
		switch {
		case a.Started == nil && b.Started == nil:
		case a.Started == nil:
			return 1
		case b.Started == nil:
			return -1
		default:
			if c := b.Started.Compare(*a.Started); c != 0 {
				return c
			}
		}
		return strings.Compare(a.ID, b.ID)
	})
	items := []Item{}
	for _, s := range sums {
		if len(items) == g.o.Config.PerSession {
			break
		}
		if !s.Recommended || covered[s.ID] || s.ID == "" {
			continue
		}
		covered[s.ID] = true // a file copied by hand lists its id twice: read it once
		items = append(items, Item{ID: s.ID, Title: s.Title, RecommendedReason: s.RecommendedReason,
			Services: append([]string{}, s.Services...), Started: s.Started, URL: g.link(s.ID)})
	}
	return items, nil
}

func (g *Group) link(id string) string {
	if g.o.BaseURL == "" {
		return ""
	}
	return strings.TrimSuffix(g.o.BaseURL, "/") + "/postmortems/" + url.PathEscape(id)
}
