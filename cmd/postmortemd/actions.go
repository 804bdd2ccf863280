package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/actions"
	"github.com/postmortemd/postmortemd/drafts/review"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/notify"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// The action-item reminders' needs, satisfied by the Redis store and the drafts directory.
var (
	_ actions.Claims    = (*redisstore.Store)(nil)
	_ actions.Documents = (*drafts.Store)(nil)
	_ actions.Mailer    = (*review.Mailer)(nil)
)

// ActionItemsConfig is the YAML file's action_items block: when and where action items are
// announced.
type ActionItemsConfig struct {
	// RemindBefore: an open item is announced this long before its due date (then on the day,
	// then once overdue). Default 72h; "3d" is accepted.
	RemindBefore time.Duration `yaml:"remind_before"`
	// Webhook is the URL reminders are posted to; WebhookFormat is slack (default) or json.
	Webhook       string `yaml:"webhook"`
	WebhookFormat string `yaml:"webhook_format"`
	// Sweep is how often due dates are checked. Default 1m.
	Sweep time.Duration `yaml:"sweep"`
	// DigestRole is the role (in the people directory) that gets the weekly digest of overdue
	// items: the one who renegotiates them. Default facilitator.
	DigestRole string `yaml:"digest_role"`
	// TimeZone is where dates change (an item is overdue from the day after its due date there).
	// Default: --review-timezone.
	TimeZone string `yaml:"time_zone"`
}

func init() { settings = append(settings, actionItemSettings...) }

var actionItemSettings = []setting{
	{name: "action-items-remind-before", usage: "announce an open action item this long before its due date (then on the day, then when overdue), e.g. 72h or 3d",
		set: func(c *Config, v string) error {
			d, err := parseDays(v)
			if err != nil {
				return err
			}
			c.ActionItems.RemindBefore = d
			return nil
		}, def: func(Config) string { return "72h" }},
	{name: "action-items-webhook", usage: "URL action-item reminders are posted to (empty: no webhook)", secret: true,
		set: str(func(c *Config) *string { return &c.ActionItems.Webhook }), def: func(Config) string { return "" }},
	{name: "action-items-webhook-format", usage: "body of the reminders' webhook: slack (incoming-webhook text and blocks) or json",
		set: str(func(c *Config) *string { return &c.ActionItems.WebhookFormat }), def: func(Config) string { return "slack" }},
	{name: "action-items-sweep", usage: "how often action items' due dates are checked",
		set: dur(func(c *Config) *time.Duration { return &c.ActionItems.Sweep }), def: func(Config) string { return actions.DefaultSweep.String() }},
	{name: "action-items-digest-role", usage: "role (mapped to an address by the people directory) that gets the weekly digest of overdue action items",
		set: str(func(c *Config) *string { return &c.ActionItems.DigestRole }), def: func(Config) string { return actions.DefaultDigestRole }},
	{name: "action-items-timezone", usage: "IANA time zone where action items' due dates end (default: --review-timezone)",
		set: str(func(c *Config) *string { return &c.ActionItems.TimeZone }), def: func(Config) string { return "" }},
}

// parseDays reads a duration, also in whole days ("3d").
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(strings.TrimSpace(v), "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want a duration such as 72h or 3d, got %q", v)
	}
	return d, nil
}

// validate names the bad action-item setting.
func (a ActionItemsConfig) validate() error {
	if a.Webhook != "" {
		if _, err := notify.NewWebhook(notify.WebhookOptions{URL: a.Webhook, Format: notify.Format(a.WebhookFormat)}); err != nil {
			return fmt.Errorf("action-items-webhook: %w", err)
		}
	}
	switch notify.Format(a.WebhookFormat) {
	case "", notify.FormatSlack, notify.FormatJSON:
	default:
		return fmt.Errorf("action-items-webhook-format: want slack or json, got %q", a.WebhookFormat)
	}
	if a.Sweep < 0 || a.RemindBefore < 0 {
		return errors.New("action-items-sweep, action-items-remind-before: must not be negative")
	}
	if a.TimeZone != "" {
		if _, err := time.LoadLocation(a.TimeZone); err != nil {
			return fmt.Errorf("action-items-timezone: %w", err)
		}
	}
	return nil
}

// location is the zone action items' dates end in.
func (c Config) actionItemsLocation() *time.Location {
	for _, name := range []string{c.ActionItems.TimeZone, c.Review.TimeZone} {
		if name == "" {
			continue
		}
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
	}
	return time.UTC
}

// addresses maps a role to the people directory's addresses for it.
func (c Config) addresses(role string) []string {
	var out []string
	for _, p := range c.People {
		if p.Email != "" && strings.EqualFold(strings.TrimSpace(p.Role), strings.TrimSpace(role)) {
			out = append(out, p.Email)
		}
	}
	return out
}

// webhookAnnouncer posts reminders through the outgoing webhook.
type webhookAnnouncer struct{ w *notify.Webhook }

func (a webhookAnnouncer) Announce(ctx context.Context, an actions.Announcement) error {
	m := notify.Message{Key: an.Key, Text: notify.SlackEscape(an.Text), Link: an.Link, LinkText: an.LinkText, Data: an.Data}
	for _, f := range an.Fields {
		m.Fields = append(m.Fields, notify.Field{Title: f.Title, Value: f.Value})
	}
	return a.w.Send(ctx, m)
}

// partialMailer treats a message some recipients refused as sent (the others have it; sending it
// again would repeat it to them), with a log line naming the refusal.
type partialMailer struct {
	m   *review.Mailer
	log *slog.Logger
}

func (p partialMailer) SendText(ctx context.Context, id, subject, text string, to []string) error {
	err := p.m.SendText(ctx, id, subject, text, to)
	if errors.Is(err, review.ErrPartial) {
		p.log.Warn("reminder e-mailed, but some recipients refused it", "err", err)
		return nil
	}
	return err
}

// startActionItems starts the action-item sweep (ids and hand changes recorded, metrics, reminders)
// and returns what the HTTP side needs; stop ends the sweep and waits.
func startActionItems(cfg Config, store *redisstore.Store, files *drafts.Store, reg prometheus.Registerer, log *slog.Logger) (web.ActionItemOptions, func(), error) {
	ac := cfg.ActionItems
	loc := cfg.actionItemsLocation()
	opts := actions.ReminderOptions{Documents: files, Claims: store, RemindBefore: ac.RemindBefore, Location: loc,
		BaseURL: cfg.Review.BaseURL, People: cfg.participants(), DigestRole: ac.DigestRole, Interval: ac.Sweep,
		Addresses: cfg.addresses, Now: clock(), Logger: log, Registerer: reg, Lang: cfg.DraftLang,
		Permanent: func(err error) bool {
			return errors.Is(err, notify.ErrPermanent) || errors.Is(err, review.ErrPermanent)
		}}
	if ac.Webhook != "" {
		w, err := notify.NewWebhook(notify.WebhookOptions{URL: ac.Webhook, Format: notify.Format(ac.WebhookFormat)})
		if err != nil {
			return web.ActionItemOptions{}, nil, fmt.Errorf("action-items-webhook: %w", err)
		}
		opts.Webhook = webhookAnnouncer{w}
	}
	if sc := cfg.Review.SMTP; sc.Addr != "" {
		from := sc.From
		if from == "" {
			from = cfg.Review.Organizer
		}
		m, err := review.NewMailer(review.MailOptions{Addr: sc.Addr, From: from, Username: sc.Username,
			Password: sc.Password, StartTLS: review.StartTLSMode(sc.StartTLS), Now: clock()})
		if err != nil {
			return web.ActionItemOptions{}, nil, fmt.Errorf("smtp-addr: %w", err)
		}
		opts.Mailer = partialMailer{m: m, log: log}
	}
	if clockHook != nil {
		opts.Interval = 200 * time.Millisecond // tests move the clock and want to see the result soon
	}
	r, err := actions.NewReminders(opts)
	if err != nil {
		return web.ActionItemOptions{}, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	log.Info("action items on", "time_zone", loc.String(), "webhook", ac.Webhook != "", "webhook_format", ac.WebhookFormat,
		"email", opts.Mailer != nil, "remind_before", ac.RemindBefore, "sweep", ac.Sweep)
	return web.ActionItemOptions{Location: loc, Now: clock()}, func() { cancel(); <-done }, nil
}
