// Package receiver is postmortemd's edge for senders: it authenticates webhook deliveries, reads them
// with a size limit, decodes them strictly into private wire structs, and turns them into timeline
// batches with roles in place of people.
//
// It imports timeline and Echo only: it never talks to Redis directly, renders drafts or serves the
// read side. Names of people must not travel past this package.
package receiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/timeline"
)

// DefaultMaxBodyBytes is the default body limit: 16 MiB takes a 5,000-alert Alertmanager storm.
const DefaultMaxBodyBytes = 16 << 20

// Options configure a Handler.
type Options struct {
	// Store applies batches.
	Store timeline.Recorder
	// Logger is scoped with component=receiver.
	Logger *slog.Logger
	// Metrics counts deliveries; nil counts nothing.
	Metrics *Metrics
	// MaxBodyBytes caps a delivery's body; larger ones get 413. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Alertmanager authenticates Alertmanager deliveries.
	Alertmanager Auth
	// PagerDuty configures PagerDuty V3 webhooks.
	PagerDuty PagerDutyOptions
	// Now is the receive clock. Default time.Now.
	Now func() time.Time
	// StoreTimeout bounds one store call, so a hung Redis answers 503 before the sender gives up.
	// Default 5s.
	StoreTimeout time.Duration
	// Redact, if set, finds the names and e-mail addresses of the people postmortemd knows (the
	// configured people directory) in alert annotations, which are stored with them replaced by
	// roles (timeline.FindNames): annotations are free text that may name whoever owns a service.
	// Labels identify alerts and are kept as sent.
	Redact func(text string) timeline.Redacted
}

// Auth is what Alertmanager's http_config may send: a bearer token, basic auth, or both accepted.
// With neither set, deliveries are not authenticated.
type Auth struct {
	BearerToken string
	Username    string
	Password    string
}

func (a Auth) enabled() bool { return a.BearerToken != "" || a.Username != "" }

// check compares credentials in constant time.
func (a Auth) check(r *http.Request) bool {
	if !a.enabled() {
		return true
	}
	h := r.Header.Get("Authorization")
	if a.BearerToken != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok &&
			subtle.ConstantTimeCompare([]byte(tok), []byte(a.BearerToken)) == 1 {
			return true
		}
	}
	if a.Username != "" {
		if u, p, ok := r.BasicAuth(); ok {
			uok := subtle.ConstantTimeCompare([]byte(u), []byte(a.Username))
			pok := subtle.ConstantTimeCompare([]byte(p), []byte(a.Password))
			if uok&pok == 1 {
				return true
			}
		}
	}
	return false
}

// Handler receives webhooks. Its methods are Echo handlers.
type Handler struct {
	store        timeline.Recorder
	log          *slog.Logger
	logBySource  map[timeline.Source]*slog.Logger
	metrics      *Metrics
	maxBody      int64
	amAuth       Auth
	pd           PagerDutyOptions
	now          func() time.Time
	storeTimeout time.Duration
	redact       func(string) timeline.Redacted
}

// New returns a Handler.
func New(o Options) *Handler {
	h := &Handler{store: o.Store, log: o.Logger, metrics: o.Metrics, maxBody: o.MaxBodyBytes,
		amAuth: o.Alertmanager, pd: o.PagerDuty, now: o.Now, storeTimeout: o.StoreTimeout, redact: o.Redact}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "receiver")
	// Scoped once here, not on every delivery.
	h.logBySource = map[timeline.Source]*slog.Logger{}
	for _, src := range []timeline.Source{timeline.SourceAlertmanager, timeline.SourcePagerDuty} {
		h.logBySource[src] = h.log.With("source", src)
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.storeTimeout <= 0 {
		h.storeTimeout = 5 * time.Second
	}
	if h.metrics == nil {
		h.metrics = NewMetrics(nil)
	}
	return h
}

// Alertmanager handles POST /webhook/alertmanager.
func (h *Handler) Alertmanager(c echo.Context) error {
	const src = timeline.SourceAlertmanager
	log := h.logBySource[src]
	received := h.now()
	if err := h.refuseBrowser(c, src, log); err != nil {
		return err
	}
	if !h.amAuth.check(c.Request()) {
		h.metrics.outcome(src, outcomeUnauthorized)
		log.Warn("webhook rejected: bad or missing credentials", "remote", c.RealIP())
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="postmortemd", Bearer`)
		return echo.NewHTTPError(http.StatusUnauthorized, "missing or invalid credentials")
	}
	h.noteContentType(c, src, log)
	// Large deliveries take turns, so that their peaks do not add up, and are held to a memory
	// limit counted from before their body is read when its length is declared.
	declared := c.Request().ContentLength
	large := declared >= largeBody && declared <= h.maxBody
	if large {
		defer takeLargeTurn(int(declared))()
	}
	body, err := h.readBody(c.Request())
	if err != nil {
		return h.fail(log, src, err)
	}
	if !large && len(body) >= largeBody {
		// A large body of undeclared length (chunked): the limit counts from now.
		large = true
		defer takeLargeTurn(len(body))()
	}
	m, err := decodeAlertmanager(body)
	if err != nil {
		return h.fail(log, src, err)
	}
	if large {
		collect() // the body
	}
	// The decoded message is not used past this point, so a huge one can be collected while the
	// store encodes its events.
	groupKey := m.GroupKey
	b, err := h.batch(m, received)
	if err != nil {
		return h.fail(log, src, fmt.Errorf("alertmanager batch: %w", err))
	}
	if large {
		collect() // the body's decoded text and the places names were found: only the batch's attributes stay
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), h.storeTimeout)
	defer cancel()
	res, err := h.store.Record(ctx, b)
	if err != nil {
		return h.fail(log, src, fmt.Errorf("record alertmanager notification: %w", err))
	}
	h.metrics.recorded(src, res)
	// Checked first: the arguments would otherwise be boxed on every delivery, logged or not.
	if res.Opened || res.Resolved || res.Appended > 0 {
		if log.Enabled(ctx, slog.LevelInfo) {
			log.Info("notification recorded", "incident_id", res.IncidentID, "group_key", groupKey,
				"opened", res.Opened, "resolved", res.Resolved, "appended", res.Appended, "duplicates", res.Duplicates)
		}
	} else if log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("duplicate notification", "incident_id", res.IncidentID, "group_key", groupKey,
			"duplicates", res.Duplicates)
	}
	return respond(c, deliveryResponse{Status: "ok", IncidentID: res.IncidentID,
		Opened: res.Opened, Resolved: res.Resolved, Appended: res.Appended, Duplicates: res.Duplicates})
}

// respond answers 200 with r as c.JSON writes it (the encoder's newline included), without
// reflection on every delivery; ?pretty and Echo's debug mode still get c.JSON's indented form.
func respond(c echo.Context, r deliveryResponse) error {
	if _, pretty := c.QueryParams()["pretty"]; pretty || c.Echo().Debug {
		return c.JSON(http.StatusOK, r)
	}
	return c.JSONBlob(http.StatusOK, r.appendJSON(make([]byte, 0, 128)))
}

// appendJSON appends r as json.Encoder writes it, newline included.
func (r deliveryResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"status":`...)
	b = timeline.AppendJSONString(b, r.Status)
	if r.IncidentID != "" {
		b = append(b, `,"incident_id":`...)
		b = timeline.AppendJSONString(b, r.IncidentID)
	}
	b = strconv.AppendBool(append(b, `,"opened":`...), r.Opened)
	b = strconv.AppendBool(append(b, `,"resolved":`...), r.Resolved)
	b = strconv.AppendInt(append(b, `,"appended":`...), int64(r.Appended), 10)
	b = strconv.AppendInt(append(b, `,"duplicates":`...), int64(r.Duplicates), 10)
	return append(b, "}\n"...)
}

// deliveryResponse tells a sender (and a person testing with curl) what a delivery changed.
type deliveryResponse struct {
	Status     string `json:"status"`
	IncidentID string `json:"incident_id,omitempty"`
	Opened     bool   `json:"opened"`
	Resolved   bool   `json:"resolved"`
	Appended   int    `json:"appended"`
	Duplicates int    `json:"duplicates"`
}

var errTooLarge = errors.New("body too large")

// largeBody is the body size from which a delivery collects its garbage as it goes (see collect
// and limitMemory).
const largeBody = 1 << 20

// collect runs a garbage collection. A large delivery holds its text several times over, one
// form after the other (the body, the decoded strings, then the attributes, written with names
// replaced by roles as they are written, in a buffer the store's event JSON is then written
// around): each is garbage once the next is built, but the
// collector, paced by the heap's size at its last cycle, lets them pile up to several times the
// body before it runs (bench/hostile.sh: 5.5-10x a 16 MiB body). Collecting between the steps
// keeps the peak near the forms alive at once. It costs a few milliseconds, only for bodies of a
// MiB or more.
func collect() { runtime.GC() }

// largeTurn makes large deliveries take turns, across every Handler of the process: the memory
// limit that limitMemory sets and restores is the process's.
var largeTurn sync.Mutex

// takeLargeTurn waits for a large delivery's turn and limits memory for a body of n bytes; the
// returned function restores the limit and ends the turn.
func takeLargeTurn(n int) (done func()) {
	largeTurn.Lock()
	restore := limitMemory(n)
	return func() {
		restore()
		largeTurn.Unlock()
	}
}

// limitMemory holds the process to about 2 times a large body's size above what it uses now (before
// the body is read, when its length is declared), until the returned function runs: the runtime's
// soft memory limit makes the collector run as often as that needs while the delivery is handled
// (the body, the decoded text and the attributes are each about the body's size, and each is
// garbage once the next is built; the event JSON shares the attributes' memory). A lower limit set
// by the operator (GOMEMLIMIT) is kept. The collector's CPU under the limit is capped by the
// runtime, and deliveries of a MiB or more are rare.
func limitMemory(bodyLen int) (restore func()) {
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 || sample[1].Value.Kind() != metrics.KindUint64 {
		return func() {}
	}
	inUse := int64(sample[0].Value.Uint64() - sample[1].Value.Uint64())
	old := debug.SetMemoryLimit(-1)
	if limit := inUse + 2*int64(bodyLen); limit < old {
		debug.SetMemoryLimit(limit)
	}
	return func() { debug.SetMemoryLimit(old) }
}

func (h *Handler) readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > h.maxBody {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errTooLarge, r.ContentLength, h.maxBody)
	}
	// With a declared length the body is read into one buffer of that size, not grown by copies
	// (a 16 MiB body would otherwise cost twice that on the way in).
	buf := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 0)+bytes.MinRead))
	_, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, h.maxBody))
	body := buf.Bytes()
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("%w: over the limit of %d bytes", errTooLarge, h.maxBody)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %v", timeline.ErrInvalid, err)
	}
	return body, nil
}

// fail counts and logs a failed delivery and returns the error for the HTTP error handler to map.
func (h *Handler) fail(log *slog.Logger, src timeline.Source, err error) error {
	switch {
	case errors.Is(err, errTooLarge):
		h.metrics.outcome(src, outcomeTooLarge)
		log.Warn("webhook rejected: body too large", "err", err)
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, err.Error()).SetInternal(err)
	case errors.Is(err, timeline.ErrInvalid):
		h.metrics.outcome(src, outcomeInvalid)
		log.Warn("webhook rejected: malformed payload", "err", err)
	case errors.Is(err, timeline.ErrUnavailable):
		h.metrics.outcome(src, outcomeUnavailable)
		log.Error("webhook may not be stored: store unavailable; the sender will retry", "err", err)
	default:
		h.metrics.outcome(src, outcomeError)
		log.Error("webhook not stored", "err", err)
	}
	return err
}

// newID makes an incident id that is URL-safe, sorts by day and says what it is about, e.g.
// "20261122-highlatency-9f86d081".
func (h *Handler) newID(t time.Time, title string) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name, _, _ := strings.Cut(title, ":")
	s := timeline.Slug(name, 40)
	if s == "" {
		s = "incident"
	}
	return t.UTC().Format("20060102") + "-" + s + "-" + hex.EncodeToString(rnd[:])
}

// Metrics counts what the receiver does, in Prometheus' conventions.
type Metrics struct {
	webhooks   *prometheus.CounterVec
	appended   *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	opened     *prometheus.CounterVec
	resolved   *prometheus.CounterVec

	unknownPagerDuty *prometheus.CounterVec
	nonJSON          *prometheus.CounterVec // browser.go
}

// Delivery outcomes, the values of the outcome label.
const (
	outcomeStored       = "stored"
	outcomeDuplicate    = "duplicate"
	outcomeInvalid      = "invalid"
	outcomeUnauthorized = "unauthorized"
	outcomeTooLarge     = "too_large"
	outcomeUnavailable  = "unavailable"
	outcomeError        = "error"
	outcomeIgnored      = "ignored"
	outcomeUnconfigured = "unconfigured"
)

// NewMetrics creates the receiver's metrics and registers them with reg (none when reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_webhooks_received_total",
			Help: "Webhook deliveries received, by source and outcome (stored, duplicate, ignored, invalid, unauthorized, browser, rate_limited, too_large, unavailable, error).",
		}, []string{"source", "outcome"}),
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_events_appended_total",
			Help: "Timeline events stored, by source.",
		}, []string{"source"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_duplicates_dropped_total",
			Help: "Events dropped because they were already stored (retries, repeats, HA peers), by source.",
		}, []string{"source"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_incidents_opened_total",
			Help: "Incidents opened, by source.",
		}, []string{"source"}),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_incidents_resolved_total",
			Help: "Incidents resolved, by source.",
		}, []string{"source"}),
		unknownPagerDuty: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_pagerduty_events_ignored_total",
			Help: "PagerDuty events accepted but not recorded (types postmortemd does not know, service events), by event type.",
		}, []string{"event_type"}),
		nonJSON: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postmortemd_webhooks_non_json_total",
			Help: "Webhook deliveries accepted with a Content-Type other than JSON, by source.",
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.webhooks, m.appended, m.duplicates, m.opened, m.resolved, m.unknownPagerDuty, m.nonJSON)
	}
	return m
}

func (m *Metrics) outcome(src timeline.Source, outcome string) {
	m.webhooks.WithLabelValues(string(src), outcome).Inc()
}

func (m *Metrics) recorded(src timeline.Source, r timeline.Result) {
	s := string(src)
	if r.Appended > 0 || r.Opened || r.Resolved {
		m.outcome(src, outcomeStored)
	} else {
		m.outcome(src, outcomeDuplicate)
	}
	m.appended.WithLabelValues(s).Add(float64(r.Appended))
	m.duplicates.WithLabelValues(s).Add(float64(r.Duplicates))
	if r.Opened {
		m.opened.WithLabelValues(s).Inc()
	}
	if r.Resolved {
		m.resolved.WithLabelValues(s).Inc()
	}
}
