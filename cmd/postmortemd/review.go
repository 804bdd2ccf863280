package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/readinggroup"
	"github.com/postmortemd/postmortemd/drafts/review"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// The review scheduler's needs, satisfied by the Redis store and the scheduler.
var (
	_ review.Store   = (*redisstore.Store)(nil)
	_ drafts.Reviews = (*review.Scheduler)(nil)
	_ web.Reviews    = reviewAPI{}
)

// clockHook, when a test sets it, replaces time.Now for the store, the drafts worker and the review
// scheduler, so an end-to-end test can play an incident that resolved on a Friday evening.
var clockHook func() time.Time

// clock is the service's clock: time.Now unless a test set clockHook.
func clock() func() time.Time {
	if clockHook != nil {
		return clockHook
	}
	return time.Now
}

// ReviewConfig is the YAML file's review block: when and with whom review meetings are held, and
// how invitations are delivered. Zero values mean the defaults.
type ReviewConfig struct {
	// TimeZone is the IANA zone of the working hours and holidays. Default UTC.
	TimeZone string `yaml:"time_zone"`
	// WorkingDays are the days meetings may be held. Default mon..fri.
	WorkingDays []string `yaml:"working_days"`
	// WorkingHours is "HH:MM-HH:MM" in TimeZone. Default 10:00-18:00.
	WorkingHours string `yaml:"working_hours"`
	// Holidays are YYYY-MM-DD days without meetings.
	Holidays []string `yaml:"holidays"`
	// Lead, Deadline and Duration: the meeting is at least Lead and at most Deadline after the
	// resolution (if a slot fits) and lasts Duration. Defaults 2h, 24h, 1h.
	Lead     time.Duration `yaml:"lead"`
	Deadline time.Duration `yaml:"deadline"`
	Duration time.Duration `yaml:"duration"`
	// SingleFacilitator keeps meetings from overlapping each other.
	SingleFacilitator bool `yaml:"single_facilitator"`
	// Organizer is the invitations' organizer address; BaseURL is postmortemd's external URL for
	// the links to the draft and the live timeline.
	Organizer string              `yaml:"organizer"`
	BaseURL   string              `yaml:"base_url"`
	Policy    review.PolicyConfig `yaml:"policy"`
	Owners    review.OwnersConfig `yaml:"owners"`
	CalDAV    CalDAVConfig        `yaml:"caldav"`
	SMTP      SMTPConfig          `yaml:"smtp"`
	// Location is where review meetings are held, a room or a call link, for the review page.
	Location string `yaml:"location"`
}

// CalDAVConfig puts invitations into a shared calendar collection.
type CalDAVConfig struct {
	URL          string `yaml:"url"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// SMTPConfig e-mails invitations (iMIP) through a relay.
type SMTPConfig struct {
	Addr         string `yaml:"addr"`
	From         string `yaml:"from"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// StartTLS is none, opportunistic (default) or required.
	StartTLS string `yaml:"starttls"`
}

func init() { settings = append(settings, reviewSettings...) }

// list appends comma-separated values (a repeatable flag or variable).
func list(p func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*p(c) = append(*p(c), s)
			}
		}
		return nil
	}
}

var reviewSettings = []setting{
	{name: "review-timezone", usage: "IANA time zone of review meetings' working hours and holidays (e.g. Asia/Tokyo)",
		set: str(func(c *Config) *string { return &c.Review.TimeZone }), def: func(Config) string { return "UTC" }},
	{name: "review-working-days", usage: "days review meetings may be held, comma-separated",
		set: func(c *Config, v string) error {
			c.Review.WorkingDays = nil
			return list(func(c *Config) *[]string { return &c.Review.WorkingDays })(c, v)
		}, def: func(Config) string { return "mon,tue,wed,thu,fri" }},
	{name: "review-working-hours", usage: "local working hours review meetings fit in, HH:MM-HH:MM",
		set: str(func(c *Config) *string { return &c.Review.WorkingHours }), def: func(Config) string { return "10:00-18:00" }},
	{name: "review-holiday", usage: "a day without review meetings, YYYY-MM-DD; repeat the flag (or comma-separate the variable)", repeat: true,
		set: list(func(c *Config) *[]string { return &c.Review.Holidays }), def: func(Config) string { return "" }},
	{name: "review-lead", usage: "least time between a resolution and its review meeting",
		set: dur(func(c *Config) *time.Duration { return &c.Review.Lead }), def: func(Config) string { return review.DefaultLead.String() }},
	{name: "review-deadline", usage: "hold the review meeting within this long of the resolution when a slot fits (else the first slot after, with the reason recorded)",
		set: dur(func(c *Config) *time.Duration { return &c.Review.Deadline }), def: func(Config) string { return review.DefaultDeadline.String() }},
	{name: "review-duration", usage: "length of a review meeting",
		set: dur(func(c *Config) *time.Duration { return &c.Review.Duration }), def: func(Config) string { return review.DefaultDuration.String() }},
	{name: "review-single-facilitator", usage: "one facilitator runs every review: meetings never overlap", boolean: true,
		set: boolean(func(c *Config) *bool { return &c.Review.SingleFacilitator }), def: func(Config) string { return "" }},
	{name: "review-match", usage: `which resolved incidents get a review: Alertmanager label matchers such as severity=~"critical|page" or {team="payments"}; repeat for alternatives. Default: severity critical or page, or PagerDuty priority P1 or P2`,
		repeat: true, def: func(Config) string { return "" },
		set: func(c *Config, v string) error {
			c.Review.Policy.Matchers = append(c.Review.Policy.Matchers, v)
			return nil
		}},
	{name: "review-organizer", usage: "organizer address of review invitations",
		set: str(func(c *Config) *string { return &c.Review.Organizer }), def: func(Config) string { return "" }},
	{name: "review-location", usage: "where review meetings are held, a room or a call link (shown on each meeting's page)",
		set: str(func(c *Config) *string { return &c.Review.Location }), def: func(Config) string { return "" }},
	{name: "review-base-url", usage: "postmortemd's external URL, for the draft and timeline links in invitations",
		set: str(func(c *Config) *string { return &c.Review.BaseURL }), def: func(Config) string { return "" }},
	{name: "review-invite", usage: "an address invited to every review meeting (optional attendee); repeat the flag (or comma-separate the variable)", repeat: true,
		set: list(func(c *Config) *[]string { return &c.Review.Owners.Always }), def: func(Config) string { return "" }},
	{name: "caldav-url", usage: "CalDAV calendar collection review meetings are put into (empty: no CalDAV delivery)",
		set: str(func(c *Config) *string { return &c.Review.CalDAV.URL }), def: func(Config) string { return "" }},
	{name: "caldav-username", usage: "CalDAV basic auth user",
		set: str(func(c *Config) *string { return &c.Review.CalDAV.Username }), def: func(Config) string { return "" }},
	{name: "caldav-password", usage: "CalDAV basic auth password", secret: true,
		set: str(func(c *Config) *string { return &c.Review.CalDAV.Password }), def: func(Config) string { return "" }},
	{name: "caldav-password-file", usage: "read the CalDAV password from this file",
		set: str(func(c *Config) *string { return &c.Review.CalDAV.PasswordFile }), def: func(Config) string { return "" }},
	{name: "smtp-addr", usage: "SMTP relay host:port review invitations are e-mailed through (empty: no e-mail)",
		set: str(func(c *Config) *string { return &c.Review.SMTP.Addr }), def: func(Config) string { return "" }},
	{name: "smtp-from", usage: "sender of review invitation e-mails (default: the organizer)",
		set: str(func(c *Config) *string { return &c.Review.SMTP.From }), def: func(Config) string { return "" }},
	{name: "smtp-username", usage: "SMTP AUTH user",
		set: str(func(c *Config) *string { return &c.Review.SMTP.Username }), def: func(Config) string { return "" }},
	{name: "smtp-password", usage: "SMTP AUTH password", secret: true,
		set: str(func(c *Config) *string { return &c.Review.SMTP.Password }), def: func(Config) string { return "" }},
	{name: "smtp-password-file", usage: "read the SMTP password from this file",
		set: str(func(c *Config) *string { return &c.Review.SMTP.PasswordFile }), def: func(Config) string { return "" }},
	{name: "smtp-starttls", usage: "STARTTLS mode: none, opportunistic or required",
		set: str(func(c *Config) *string { return &c.Review.SMTP.StartTLS }), def: func(Config) string { return string(review.StartTLSOpportunistic) }},
}

// reviewSetup is what the rest of run() needs from the review scheduler.
type reviewSetup struct {
	scheduler *review.Scheduler
	web       web.ReviewOptions
	// transports deliver review invitations, and the reading group's too.
	transports []review.Transport
}

// validate names the first bad review setting.
func (r ReviewConfig) validate() error {
	h, err := r.hours()
	if err != nil {
		return err
	}
	if err := h.Fits(r.Duration); err != nil {
		return fmt.Errorf("review-duration, review-working-hours: %w", err)
	}
	if _, err := review.NewPolicy(r.Policy); err != nil {
		return fmt.Errorf("review-match: %w", err)
	}
	if r.Lead < 0 || r.Deadline < 0 || r.Duration < 0 {
		return errors.New("review-lead, review-deadline, review-duration: must not be negative")
	}
	if r.SMTP.Addr != "" && r.SMTP.From == "" && r.Organizer == "" {
		return errors.New("smtp-from: e-mailing invitations needs a sender (--smtp-from or --review-organizer)")
	}
	return nil
}

func (r ReviewConfig) hours() (review.Hours, error) {
	tz := r.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return review.Hours{}, fmt.Errorf("review-timezone: %w", err)
	}
	h := review.Hours{Location: loc, Holidays: r.Holidays}
	if len(r.WorkingDays) > 0 {
		if h.Days, err = review.ParseWeekdays(r.WorkingDays); err != nil {
			return h, fmt.Errorf("review-working-days: %w", err)
		}
	}
	if r.WorkingHours != "" {
		from, to, ok := strings.Cut(r.WorkingHours, "-")
		if !ok {
			return h, fmt.Errorf("review-working-hours: want HH:MM-HH:MM, got %q", r.WorkingHours)
		}
		if h.Start, err = review.ParseClock(from); err == nil {
			h.End, err = review.ParseClock(to)
		}
		if err != nil {
			return h, fmt.Errorf("review-working-hours: %w", err)
		}
	}
	if err := h.Validate(); err != nil {
		return h, fmt.Errorf("review-working-hours, review-holiday: %w", err)
	}
	return h, nil
}

// startReviews builds the review scheduler from cfg and starts its sweeps; stop ends them and
// waits. The scheduler also feeds the drafts (review slot and waiver) and the review routes.
func startReviews(cfg Config, store *redisstore.Store, reg prometheus.Registerer, log *slog.Logger) (rs reviewSetup, stop func(), err error) {
	rc := cfg.Review
	hours, err := rc.hours()
	if err != nil {
		return rs, nil, err
	}
	policy, err := review.NewPolicy(rc.Policy)
	if err != nil {
		return rs, nil, fmt.Errorf("review-match: %w", err)
	}
	var transports []review.Transport
	if rc.CalDAV.URL != "" {
		c, err := review.NewCalDAV(review.CalDAVOptions{URL: rc.CalDAV.URL, Username: rc.CalDAV.Username, Password: rc.CalDAV.Password})
		if err != nil {
			return rs, nil, fmt.Errorf("caldav-url: %w", err)
		}
		transports = append(transports, c)
	}
	if rc.SMTP.Addr != "" {
		from := rc.SMTP.From
		if from == "" {
			from = rc.Organizer
		}
		m, err := review.NewMailer(review.MailOptions{Addr: rc.SMTP.Addr, From: from, Username: rc.SMTP.Username,
			Password: rc.SMTP.Password, StartTLS: review.StartTLSMode(rc.SMTP.StartTLS), Now: clock()})
		if err != nil {
			return rs, nil, fmt.Errorf("smtp-addr: %w", err)
		}
		transports = append(transports, m)
	}
	interval := review.DefaultInterval
	if cfg.ResolveGrace > 0 && cfg.ResolveGrace/4 < interval {
		interval = max(time.Second, cfg.ResolveGrace/4)
	}
	if clockHook != nil {
		interval = 200 * time.Millisecond // tests move the clock and want to see the result soon
	}
	s, err := review.New(review.Options{Store: store, Incidents: store, Participants: store, Policy: policy,
		Owners: rc.Owners, Hours: hours, Lead: rc.Lead, Deadline: rc.Deadline, Duration: rc.Duration,
		SingleFacilitator: rc.SingleFacilitator, Lock: store,
		Calendar: review.CalendarOptions{Organizer: rc.Organizer, Links: review.Links{BaseURL: rc.BaseURL}, Now: clock(),
			Lang: i18n.Lang(cfg.DraftLang)}, // invitations speak the team's language, as its drafts do
		Transports: transports, Logger: log, Registerer: reg, Now: clock(), Interval: interval})
	if err != nil {
		return rs, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	names := make([]string, len(transports))
	for i, t := range transports {
		names[i] = t.Name()
	}
	log.Info("review meetings on", "time_zone", hours.Location.String(), "transports", strings.Join(names, ","),
		"single_facilitator", rc.SingleFacilitator)
	if len(transports) == 0 {
		log.Warn("review meetings are booked but no invitation is sent: they are in /calendar.ics only; set --smtp-addr or --caldav-url to deliver them")
	}
	return reviewSetup{scheduler: s, web: web.ReviewOptions{Reviews: reviewAPI{s: s}, Location: rc.Location}, transports: transports}, func() { cancel(); <-done }, nil
}

// reviewAPI adapts the scheduler to what the HTTP side shows: counts and roles, never addresses.
// With a reading group, its sessions join the review meetings in /calendar.ics.
type reviewAPI struct {
	s     *review.Scheduler
	group *readinggroup.Group
	log   *slog.Logger
}

func (a reviewAPI) ReviewInfo(ctx context.Context, id string) (web.ReviewInfo, error) {
	r, err := a.s.Review(ctx, id)
	if err != nil {
		return web.ReviewInfo{}, err
	}
	return reviewInfo(r), nil
}

func (a reviewAPI) ReviewCalendar(ctx context.Context, id string) ([]byte, error) {
	r, err := a.s.Review(ctx, id)
	if err != nil {
		return nil, err
	}
	return a.s.Feed([]review.Review{r})
}

func (a reviewAPI) Calendar(ctx context.Context) ([]byte, error) {
	rs, err := a.s.Reviews(ctx)
	if err != nil {
		return nil, err
	}
	feed, err := a.s.Feed(rs)
	if err != nil || a.group == nil {
		return feed, err
	}
	// The reading group's sessions never take the review meetings out of the feed.
	evs, err := a.group.Events(ctx)
	if err != nil {
		a.log.Warn("calendar feed without the reading group's sessions", "component", "readinggroup", "err", err)
		return feed, nil
	}
	return review.AddToFeed(feed, func(err error) {
		a.log.Warn("reading-group session left out of the calendar feed", "component", "readinggroup", "err", err)
	}, evs...)
}

func (a reviewAPI) Waive(ctx context.Context, id, reason string) (web.ReviewInfo, error) {
	r, err := a.s.Waive(ctx, id, reason)
	if err != nil {
		return web.ReviewInfo{}, err
	}
	return reviewInfo(r), nil
}

func reviewInfo(r review.Review) web.ReviewInfo {
	info := web.ReviewInfo{IncidentID: r.IncidentID, UID: r.UID, Sequence: r.Sequence, Status: string(r.Status),
		Start: r.Start, End: r.End, TimeZone: r.TimeZone, ResolvedAt: r.ResolvedAt, Late: r.Late, Reason: r.Reason, ReasonCode: r.ReasonCode, WaiveReason: r.WaiveReason,
		AttendeeCount: len(r.Attendees), Roles: append([]string{}, review.Roles(r.Attendees)...), Delivery: map[string]web.ReviewDelivery{}}
	for _, at := range r.Attendees {
		if at.Required {
			info.RequiredCount++
		}
	}
	for name, d := range r.Deliveries {
		wd := web.ReviewDelivery{Sequence: d.Sequence, Method: d.Method, State: string(d.State), Attempts: d.Attempts, LastError: d.LastError}
		if !d.NextAttempt.IsZero() {
			t := d.NextAttempt
			wd.NextAttempt = &t
		}
		if !d.DeliveredAt.IsZero() {
			t := d.DeliveredAt
			wd.DeliveredAt = &t
		}
		info.Delivery[name] = wd
	}
	return info
}
