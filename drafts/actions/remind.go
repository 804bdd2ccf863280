package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// Documents is the postmortem store as the reminder sweep reads and writes it (drafts.Store, or
// any store with the same edit path).
type Documents interface {
	// List returns the postmortems matching q.
	List(q drafts.Query) ([]drafts.Summary, error)
	// Get returns one postmortem, or an error wrapping timeline.ErrNotFound.
	Get(id string) (drafts.Document, error)
	// Save replaces a postmortem if ifMatch is its current ETag; errors wrap
	// timeline.ErrPrecondition when another edit came first.
	Save(id string, content []byte, ifMatch string) (drafts.Document, error)
}

// Claims makes each reminder happen once across replicas and restarts (the Redis store).
type Claims interface {
	// BeginReminder claims key for one attempt held until now+lease. attempt is its number (from
	// 1), or 0 when there is nothing to do (sent, given up, held by another replica, not due for a
	// retry); abandoned reports, once, an attempt whose replica died during it. Errors wrap
	// timeline.ErrUnavailable.
	BeginReminder(ctx context.Context, key string, now time.Time, lease time.Duration) (attempt int, abandoned bool, err error)
	// FinishReminder settles the claimed attempt: sent, or to retry from retryAt, or (zero retryAt)
	// given up.
	FinishReminder(ctx context.Context, key string, sent bool, retryAt time.Time) error
}

// Announcer posts an announcement to a chat or HTTP endpoint (the outgoing webhook).
type Announcer interface {
	// Announce delivers a; an error that Permanent (ReminderOptions) reports cannot be fixed by
	// retrying.
	Announce(ctx context.Context, a Announcement) error
}

// Mailer e-mails plain text (the review's SMTP transport).
type Mailer interface {
	// SendText sends one message; every retry of the same id carries the same Message-ID.
	SendText(ctx context.Context, id, subject, text string, recipients []string) error
}

// Threshold is the moment a reminder is for.
type Threshold string

// The thresholds: an open item is announced when it comes within RemindBefore of its due date, on
// its due date, and once it is overdue; each once per due date (a renegotiated date is announced
// again). The digest is the weekly list of overdue items for the facilitator.
const (
	ThresholdDueSoon  Threshold = "due_soon"
	ThresholdDueToday Threshold = "due_today"
	ThresholdOverdue  Threshold = "overdue"
	ThresholdDigest   Threshold = "digest"
)

// Field is a labelled value of an announcement.
type Field struct{ Title, Value string }

// Announcement is one reminder as a webhook shows it.
type Announcement struct {
	// Key is the same for every attempt of the same reminder.
	Key       string
	Threshold Threshold
	// Text is the one-line summary; Fields, Link and LinkText the details.
	Text     string
	Fields   []Field
	Link     string
	LinkText string
	// Data is the record itself, for receivers that take JSON.
	Data ReminderData
}

// ReminderData is a reminder as generic JSON.
type ReminderData struct {
	Kind       string    `json:"kind"` // "action_item_reminder"
	Threshold  Threshold `json:"threshold"`
	Text       string    `json:"text"`
	Item       Item      `json:"item"`
	Postmortem struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		URL   string `json:"url,omitempty"`
	} `json:"postmortem"`
}

// ReminderOptions configures the reminders. Documents and Claims are required.
type ReminderOptions struct {
	Documents Documents
	Claims    Claims
	// Webhook, when set, gets every reminder.
	Webhook Announcer
	// Mailer, when set, e-mails a reminder to the owner role's addresses and the digest to
	// DigestRole's.
	Mailer Mailer
	// Addresses returns the e-mail addresses the people directory gives a role (none: no e-mail).
	Addresses func(role string) []string
	// DigestRole receives the weekly digest of overdue items. Default "facilitator".
	DigestRole string
	// RemindBefore is how long before its due date an item is first announced. Default 72h.
	RemindBefore time.Duration
	// Location is the service's time zone: dates change at its midnight. Default UTC.
	Location *time.Location
	// BaseURL is postmortemd's external URL, for links; empty leaves links out.
	BaseURL string
	// People replace names in owner cells (see Parser).
	People []timeline.Participant
	// Lang is the language of the digest ("en" or "ja"; default "en"). An item's reminder is written
	// in the language of its postmortem's table.
	Lang string
	// Permanent reports a delivery error that retrying cannot fix. Default: none is.
	Permanent func(error) bool
	// Interval is the time between sweeps (Run). Default 1m.
	Interval time.Duration
	// Lease bounds one delivery attempt; MaxAttempts the attempts per reminder. Defaults 2m, 8.
	Lease       time.Duration
	MaxAttempts int
	Now         func() time.Time
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Reminders sweeps the postmortems: it records what changed in their action items (Parser.Record)
// and announces items as they come due, each once.
type Reminders struct {
	o       ReminderOptions
	log     *slog.Logger
	items   *prometheus.GaugeVec
	overdue prometheus.Gauge
	sent    *prometheus.CounterVec
}

// The defaults.
const (
	DefaultRemindBefore = 72 * time.Hour
	DefaultSweep        = time.Minute
	DefaultDigestRole   = "facilitator"
)

// NewReminders returns the reminders, registering their metrics with o.Registerer.
func NewReminders(o ReminderOptions) (*Reminders, error) {
	if o.Documents == nil || o.Claims == nil {
		return nil, errors.New("action-item reminders: documents and claims are required")
	}
	if o.RemindBefore < 0 {
		return nil, fmt.Errorf("action-items-remind-before %v: must not be negative", o.RemindBefore)
	}
	if o.RemindBefore == 0 {
		o.RemindBefore = DefaultRemindBefore
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.DigestRole == "" {
		o.DigestRole = DefaultDigestRole
	}
	if o.Interval <= 0 {
		o.Interval = DefaultSweep
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Permanent == nil {
		o.Permanent = func(error) bool { return false }
	}
	if o.Addresses == nil {
		o.Addresses = func(string) []string { return nil }
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reminders{o: o, log: log.With("component", "action-items"),
		items: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "postmortemd_action_items",
			Help: "Action items across every postmortem, by status (open, done, wont_do)."}, []string{"status"}),
		overdue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "postmortemd_action_items_overdue",
			Help: "Open action items past their due date."}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "postmortemd_action_item_reminders_total",
			Help: "Action-item reminder deliveries by threshold (due_soon, due_today, overdue, digest) and result (sent, failed: retried later, gave_up, abandoned: a replica died during the attempt, not repeated)."},
			[]string{"threshold", "result"}),
	}
	for _, th := range []Threshold{ThresholdDueSoon, ThresholdDueToday, ThresholdOverdue, ThresholdDigest} {
		for _, res := range []string{"sent", "failed"} {
			r.sent.WithLabelValues(string(th), res)
		}
	}
	if o.Registerer != nil {
		if err := registerAll(o.Registerer, r.items, r.overdue, r.sent); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("action-item metrics: %w", err)
		}
	}
	return nil
}

// Run sweeps every Interval until ctx ends.
func (r *Reminders) Run(ctx context.Context) {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		if err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("action-item sweep incomplete", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep reads every postmortem once: it records hand changes and pins ids (saved with the
// document's ETag; a concurrent edit wins and the next sweep records again), updates the metrics,
// and delivers the reminders now due. A postmortem or a delivery that fails does not stop the
// others; the error says how many failed.
func (r *Reminders) Sweep(ctx context.Context) error {
	now := r.o.Now()
	sums, err := r.o.Documents.List(drafts.Query{})
	if err != nil {
		return fmt.Errorf("list postmortems: %w", err)
	}
	p := Parser{People: r.o.People}
	counts := map[Status]int{}
	overdue := 0
	var digest []dueItem
	failed := 0
	for _, sum := range sums {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		doc, err := r.o.Documents.Get(sum.ID)
		if err != nil {
			if !errors.Is(err, timeline.ErrNotFound) {
				r.log.Warn("postmortem not readable", "postmortem", sum.ID, "err", err)
				failed++
			}
			continue
		}
		content := doc.Content
		if out, changed := p.Record(sum.ID, content, now); changed {
			saved, err := r.o.Documents.Save(sum.ID, out, doc.ETag)
			switch {
			case err == nil:
				content = saved.Content
				r.log.Info("action items recorded in the postmortem", "postmortem", sum.ID)
			case errors.Is(err, timeline.ErrPrecondition):
				// Someone edited it meanwhile: the next sweep records against their version.
			default:
				r.log.Warn("action items not recorded", "postmortem", sum.ID, "err", err)
			}
		}
		ja := p.read(sum.ID, content).ja
		items, err := p.Parse(sum.ID, content, now, r.o.Location)
		if err != nil {
			r.log.Warn("action items not read", "postmortem", sum.ID, "err", err)
			failed++
			continue
		}
		for _, it := range items {
			counts[it.Status]++
			if it.Overdue {
				overdue++
			}
			th, ok := r.threshold(it, now)
			if !ok {
				continue
			}
			di := dueItem{Item: it, Title: doc.Title, threshold: th, ja: ja}
			if th == ThresholdOverdue {
				digest = append(digest, di)
			}
			if err := r.remind(ctx, di, now); err != nil {
				failed++
			}
		}
	}
	for _, st := range Statuses {
		r.items.WithLabelValues(string(st)).Set(float64(counts[st]))
	}
	r.overdue.Set(float64(overdue))
	if err := r.sendDigest(ctx, digest, now); err != nil {
		failed++
	}
	if failed > 0 {
		return fmt.Errorf("%d postmortems or deliveries failed (see the log)", failed)
	}
	return nil
}

// dueItem is an item to announce, with its postmortem's title.
type dueItem struct {
	Item
	Title     string
	threshold Threshold
	ja        bool // the postmortem's table is written in Japanese
}

// printer is the catalogue printer of a reminder's language (internal/i18n, messages reminder.*).
func printer(ja bool) i18n.Printer {
	if ja {
		return i18n.For(i18n.Japanese)
	}
	return i18n.For(i18n.English)
}

// threshold says which reminder an open item is due for now, if any.
func (r *Reminders) threshold(it Item, now time.Time) (Threshold, bool) {
	if it.Status != StatusOpen || it.Due == "" {
		return "", false
	}
	due, ok := it.DueDate(r.o.Location)
	if !ok {
		return "", false
	}
	local := now.In(r.o.Location)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, r.o.Location)
	days := int(due.Sub(today).Hours()/24 + 0.5*sign(due.Sub(today)))
	switch {
	case days < 0:
		return ThresholdOverdue, true
	case days == 0:
		return ThresholdDueToday, true
	case time.Duration(days)*24*time.Hour <= r.o.RemindBefore:
		return ThresholdDueSoon, true
	}
	return "", false
}

func sign(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return 1
}

// reminderKey names one reminder of one item on one channel.
func reminderKey(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return parts[0] + ":" + hex.EncodeToString(sum[:12])
}

func (r *Reminders) link(postmortemID string) string {
	if r.o.BaseURL == "" {
		return ""
	}
	return strings.TrimSuffix(r.o.BaseURL, "/") + "/postmortems/" + url.PathEscape(postmortemID)
}

// remind delivers it's reminder on every channel that has a recipient.
func (r *Reminders) remind(ctx context.Context, it dueItem, now time.Time) error {
	a := r.announcement(it)
	var errs []error
	if r.o.Webhook != nil {
		key := reminderKey("item", it.ID, string(it.threshold), it.Due, "webhook")
		a.Key = key
		errs = append(errs, r.attempt(ctx, key, it.threshold, now, "webhook", it.PostmortemID, func() error {
			return r.o.Webhook.Announce(ctx, a)
		}))
	}
	if to := r.o.Addresses(it.Owner); r.o.Mailer != nil && len(to) > 0 {
		key := reminderKey("item", it.ID, string(it.threshold), it.Due, "email")
		subject := a.Text
		body := a.Text + "\n\n"
		for _, f := range a.Fields {
			body += f.Title + ": " + f.Value + "\n"
		}
		if a.Link != "" {
			body += "\n" + a.Link + "\n"
		}
		body += "\n" + printer(it.ja).T("reminder.footer") + "\n"
		errs = append(errs, r.attempt(ctx, key, it.threshold, now, "email", it.PostmortemID, func() error {
			return r.o.Mailer.SendText(ctx, key, subject, body, to)
		}))
	}
	return errors.Join(errs...)
}

// announcement writes the reminder of it, in its postmortem's language.
func (r *Reminders) announcement(it dueItem) Announcement {
	p := printer(it.ja)
	id := "reminder.due_soon"
	switch it.threshold {
	case ThresholdOverdue:
		id = "reminder.overdue"
	case ThresholdDueToday:
		id = "reminder.due_today"
	}
	text := p.T(id, "Due", it.Due, "Action", it.Action)
	title := it.Title
	if title == "" {
		title = it.PostmortemID
	}
	owner := it.Owner
	if owner == "" {
		owner = p.T("reminder.no_owner")
	}
	a := Announcement{Threshold: it.threshold, Text: text, Link: r.link(it.PostmortemID),
		LinkText: p.T("reminder.link_text", "Title", title),
		Fields:   []Field{{p.T("reminder.owner"), owner}, {p.T("reminder.due"), it.Due}, {p.T("reminder.postmortem"), title}}}
	if it.Horizon != "" {
		h := string(it.Horizon)
		if it.Horizon == HorizonShort || it.Horizon == HorizonLong {
			h = p.T("reminder.horizon." + h)
		}
		a.Fields = append(a.Fields, Field{p.T("reminder.horizon"), h})
	}
	a.Data = ReminderData{Kind: "action_item_reminder", Threshold: it.threshold, Text: text, Item: it.Item}
	a.Data.Postmortem.ID, a.Data.Postmortem.Title, a.Data.Postmortem.URL = it.PostmortemID, it.Title, a.Link
	return a
}

// attempt makes one claimed delivery attempt of the reminder key, if one is due, and settles it.
func (r *Reminders) attempt(ctx context.Context, key string, th Threshold, now time.Time, channel, postmortem string, send func() error) error {
	n, abandoned, err := r.o.Claims.BeginReminder(ctx, key, now, r.o.Lease)
	if err != nil {
		r.log.Warn("reminder not claimed", "postmortem", postmortem, "threshold", th, "channel", channel, "err", err)
		return err
	}
	if abandoned {
		r.sent.WithLabelValues(string(th), "abandoned").Inc()
		r.log.Warn("reminder abandoned: a replica stopped during its delivery, which may have reached the receiver; it is not sent again",
			"postmortem", postmortem, "threshold", th, "channel", channel)
		return nil
	}
	if n == 0 {
		return nil
	}
	sendErr := send()
	if sendErr == nil {
		if err := r.o.Claims.FinishReminder(context.WithoutCancel(ctx), key, true, time.Time{}); err != nil {
			// Sent, but not recorded: the claim's lease lapses into "abandoned", never a second send.
			r.log.Warn("reminder sent but not recorded", "postmortem", postmortem, "err", err)
		}
		r.sent.WithLabelValues(string(th), "sent").Inc()
		r.log.Info("reminder sent", "postmortem", postmortem, "threshold", th, "channel", channel, "attempt", n)
		return nil
	}
	retryAt := time.Time{}
	result := "gave_up"
	if !r.o.Permanent(sendErr) && n < r.o.MaxAttempts {
		retryAt, result = now.Add(Backoff(n)), "failed"
	}
	r.sent.WithLabelValues(string(th), result).Inc()
	r.log.Warn("reminder not delivered", "postmortem", postmortem, "threshold", th, "channel", channel, "attempt", n,
		"retry_at", retryAt, "err", sendErr)
	if err := r.o.Claims.FinishReminder(context.WithoutCancel(ctx), key, false, retryAt); err != nil {
		r.log.Warn("reminder failure not recorded", "postmortem", postmortem, "err", err)
	}
	return sendErr
}

// Backoff is the wait before attempt n+1 of a reminder: 30s, 1m, 2m, ... at most 1h.
func Backoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// sendDigest e-mails the week's overdue items to the digest role, once per week (ISO week in the
// service's time zone), when there are any.
func (r *Reminders) sendDigest(ctx context.Context, items []dueItem, now time.Time) error {
	if len(items) == 0 || r.o.Mailer == nil {
		return nil
	}
	to := r.o.Addresses(r.o.DigestRole)
	if len(to) == 0 {
		return nil
	}
	year, week := now.In(r.o.Location).ISOWeek()
	key := reminderKey("digest", r.o.DigestRole, fmt.Sprintf("%d-W%02d", year, week))
	p := printer(r.o.Lang == "ja")
	subject := p.T("reminder.digest_subject", "Count", len(items), "Week", fmt.Sprintf("%d-W%02d", year, week))
	var b strings.Builder
	b.WriteString(p.T("reminder.digest_intro") + "\n\n")
	for _, it := range items {
		owner := it.Owner
		if owner == "" {
			owner = p.T("reminder.no_owner")
		}
		title := it.Title
		if title == "" {
			title = it.PostmortemID
		}
		b.WriteString("- " + it.Action + "\n  " + p.T("reminder.digest_item", "Owner", owner, "Due", it.Due, "Title", title))
		if l := r.link(it.PostmortemID); l != "" {
			fmt.Fprintf(&b, "\n  %s", l)
		}
		b.WriteString("\n")
	}
	return r.attempt(ctx, key, ThresholdDigest, now, "email", "", func() error {
		return r.o.Mailer.SendText(ctx, key, subject, b.String(), to)
	})
}
