// Package web is postmortemd's HTTP surface: the one route table, the JSON API, the HTML pages and
// their embedded assets, the live event stream, health and metrics endpoints, access control, and
// the one map from domain errors to HTTP statuses.
//
// It works through small interfaces it owns or borrows (timeline.Reader, timeline.Annotator for
// people's notes, Postmortems for the drafts directory, Reviews for the review meetings, a pinger)
// and hands webhook routes to the receiver's handlers. The only things it writes are what people
// write: notes (always as context, never facts, with names replaced by roles), postmortem edits and
// review waivers. It never imports the Redis adapter.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/postmortemd/postmortemd/timeline"
)

// Webhooks are the sender-facing handlers (receiver.Handler).
type Webhooks interface {
	Alertmanager(c echo.Context) error
	PagerDuty(c echo.Context) error
}

// Pinger reports whether the store answers; /-/ready uses it.
type Pinger interface {
	// Ping returns an error when the store cannot be reached.
	Ping(ctx context.Context) error
}

// Options configure the HTTP server's handler.
type Options struct {
	Store    timeline.Reader
	Ready    Pinger
	Webhooks Webhooks
	Logger   *slog.Logger
	// Registry serves /metrics and receives the HTTP metrics; nil serves an empty registry.
	Registry *prometheus.Registry
	Version  string
	// StoreTimeout bounds each read from the store, so a hung Redis answers 503 instead of holding
	// requests. Default 5s.
	StoreTimeout time.Duration

	// Each feature's own options, defined beside its handlers.
	Postmortems  PostmortemOptions   // postmortems.go: /api/v1/postmortems, /postmortems
	Review       ReviewOptions       // review.go: review JSON, .ics, /calendar.ics
	Pages        PageOptions         // pages.go: /incidents pages, assets, the event stream
	Notes        NoteOptions         // notes.go: notes, lint API, write access
	Library      LibraryOptions      // library.go: /library, /postmortems.atom, /library.atom
	Insights     InsightsOptions     // insights.go: /api/v1/insights, /insights
	ActionItems  ActionItemOptions   // actions.go: /api/v1/action-items, /action-items
	Limits       LimitOptions        // limits.go: rate limits per source address, minimum body rate
	ReadingGroup ReadingGroupOptions // readinggroup.go: /api/v1/reading-group
}

// Server is the HTTP handler with every route.
type Server struct {
	echo         *echo.Echo
	store        timeline.Reader
	ready        Pinger
	log          *slog.Logger
	version      string
	storeTimeout time.Duration
	opts         Options
	pages        *pages // pages.go: the browser pages and the event streams' shared polls
	actions      *actionItemState
}

// New builds the route table.
func New(o Options) *Server {
	s := &Server{store: o.Store, ready: o.Ready, log: o.Logger, version: o.Version, storeTimeout: o.StoreTimeout, opts: o}
	if s.storeTimeout <= 0 {
		s.storeTimeout = 5 * time.Second
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "web")
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(nosniff, s.recoverPanics, newHTTPMetrics(reg).middleware)
	lim := newLimits(o.Limits, s.log, reg)
	e.Use(lim.rateLimits()...)
	e.Use(lim.bodyRate)

	e.GET("/-/healthy", s.healthy)
	e.HEAD("/-/healthy", s.healthy)
	e.GET("/-/ready", s.readyz)
	e.HEAD("/-/ready", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))

	e.POST("/webhook/alertmanager", o.Webhooks.Alertmanager)
	e.POST("/webhook/pagerduty", o.Webhooks.PagerDuty)

	api := e.Group("/api/v1")
	api.GET("/incidents", s.listIncidents)
	api.GET("/incidents/:id", s.getIncident)
	api.GET("/incidents/:id/timeline", s.getTimeline)

	// Each feature registers its routes from its own file.
	s.postmortemRoutes(e, api)
	s.reviewRoutes(e, api)
	s.pageRoutes(e, api)
	s.noteRoutes(e, api)
	unreadable := newUnreadableCounter(reg)
	s.libraryRoutes(e, unreadable)
	s.insightRoutes(e, api, unreadable)
	s.actionItemRoutes(e, api)
	s.readingGroupRoutes(api)
	s.echo = e
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

func (s *Server) healthy(c echo.Context) error {
	return c.String(http.StatusOK, "postmortemd is healthy.\n")
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), min(2*time.Second, s.storeTimeout))
	defer cancel()
	if err := s.ready.Ping(ctx); err != nil {
		s.log.Warn("not ready: store does not answer", "err", err)
		return echo.NewHTTPError(http.StatusServiceUnavailable, "not ready: the store does not answer").SetInternal(err)
	}
	return c.String(http.StatusOK, "postmortemd is ready.\n")
}

// storeCtx bounds one request's reads from the store.
func (s *Server) storeCtx(c echo.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request().Context(), s.storeTimeout)
}

// errorBody is every error response's JSON.
type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// handleError is the one place domain errors become statuses.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		code = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(code)
		}
	case errors.Is(err, timeline.ErrNotFound):
		code, msg = http.StatusNotFound, err.Error()
	case errors.Is(err, timeline.ErrInvalid):
		code, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, timeline.ErrConflict):
		code, msg = http.StatusConflict, err.Error()
	case errors.Is(err, timeline.ErrPrecondition):
		code, msg = http.StatusPreconditionFailed, err.Error()
	case errors.Is(err, timeline.ErrUnavailable):
		code, msg = http.StatusServiceUnavailable, "the store is unavailable; the request may not have taken effect, and retrying it is safe"
	default:
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if code == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "5")
	}
	if s.pages.errorHTML(c, code, msg, err) {
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(code)
		return
	}
	_ = c.JSON(code, errorBody{Error: msg, Status: code})
}

func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic while serving", "path", c.Request().URL.Path, "panic", r)
				err = errors.New("panic while serving")
			}
		}()
		return next(c)
	}
}

// httpMetrics counts requests by route (the pattern, never the raw path) and status.
type httpMetrics struct {
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "postmortemd_http_request_duration_seconds",
		Help:    "HTTP request latency by route, method and status code.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method", "code"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "postmortemd_http_requests_in_flight",
			Help: "HTTP requests being served, by route: a webhook whose body is still arriving is one.",
		}, []string{"route"})}
	reg.MustRegister(m.duration, m.inFlight)
	return m
}

func (m *httpMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		inFlight := m.inFlight.WithLabelValues(route)
		inFlight.Inc()
		defer inFlight.Dec()
		err := next(c)
		if err != nil {
			c.Error(err) // write the response now, so its status is the one observed
		}
		m.duration.WithLabelValues(route, c.Request().Method, strconv.Itoa(c.Response().Status)).
			Observe(time.Since(start).Seconds())
		return nil
	}
}
