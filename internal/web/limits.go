package web

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// LimitOptions protect the server from one client: a flood of writes from one address, or a body
// dripped a byte at a time to hold a connection.
type LimitOptions struct {
	// WriteRate is how many writes (POST, PUT, PATCH, DELETE other than webhooks: notes, edits,
	// waivers, sign-in) one source address may make per second, with bursts of WriteBurst; zero
	// means no limit.
	WriteRate  float64
	WriteBurst int
	// WebhookRate and WebhookBurst limit webhook deliveries the same way; zero (the default in
	// cmd) means no limit, as webhooks come from a few known senders whose storms must not be cut.
	WebhookRate  float64
	WebhookBurst int
	// MinBodyRate is the slowest a request body may arrive, in bytes per second, after BodyGrace:
	// a client that sends slower is cut off. A 16 MiB webhook at 1 MiB/s is far above it; a body
	// dripped to hold the connection is ended after about BodyGrace. Zero means no minimum.
	MinBodyRate int64
	// BodyGrace is the time a body may take before MinBodyRate applies (default 10s).
	BodyGrace time.Duration
}

// The source address of a request is the peer of its TCP connection, never a header a client can
// write (X-Forwarded-For): behind a reverse proxy every request shares the proxy's address, so set
// the limits there, or raise these.
func sourceAddress(c echo.Context) (string, error) {
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr, nil
	}
	return host, nil
}

// limits builds the rate-limit and body-rate middleware of o.
type limits struct {
	o       LimitOptions
	log     *slog.Logger
	limited *prometheus.CounterVec
	slow    prometheus.Counter
	lastLog atomic.Int64 // unix seconds of the last refusal logged
}

func newLimits(o LimitOptions, log *slog.Logger, reg prometheus.Registerer) *limits {
	if o.BodyGrace <= 0 {
		o.BodyGrace = 10 * time.Second
	}
	l := &limits{o: o, log: log, limited: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postmortemd_http_rate_limited_total",
		Help: "Requests refused with 429 because their source address exceeded a rate limit, by kind (write, webhook).",
	}, []string{"kind"}), slow: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "postmortemd_http_slow_bodies_total",
		Help: "Requests cut off because their body arrived slower than the minimum body rate.",
	})}
	reg.MustRegister(l.limited, l.slow)
	return l
}

func isWebhook(c echo.Context) bool { return strings.HasPrefix(c.Path(), "/webhook/") }

func isWrite(c echo.Context) bool {
	switch c.Request().Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// rateLimits returns the middleware of the configured limits (none when both are off).
func (l *limits) rateLimits() []echo.MiddlewareFunc {
	var out []echo.MiddlewareFunc
	add := func(kind string, perSecond float64, burst int, applies func(echo.Context) bool) {
		if perSecond <= 0 {
			return
		}
		if burst <= 0 {
			burst = int(math.Max(1, math.Ceil(perSecond)))
		}
		retryAfter := strconv.Itoa(int(math.Max(1, math.Ceil(1/perSecond))))
		out = append(out, middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
			Skipper: func(c echo.Context) bool { return !applies(c) },
			Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
				Rate: rate.Limit(perSecond), Burst: burst, ExpiresIn: 10 * time.Minute}),
			IdentifierExtractor: sourceAddress,
			DenyHandler: func(c echo.Context, who string, _ error) error {
				l.limited.WithLabelValues(kind).Inc()
				if now := time.Now().Unix(); l.lastLog.Swap(now) != now { // at most one line a second
					l.log.Warn("request refused: rate limit", "kind", kind, "remote", who, "path", c.Path())
				}
				c.Response().Header().Set("Retry-After", retryAfter)
				return echo.NewHTTPError(http.StatusTooManyRequests,
					"too many "+kind+" requests from "+who+"; retry after "+retryAfter+"s")
			},
		}))
	}
	add("webhook", l.o.WebhookRate, l.o.WebhookBurst, isWebhook)
	add("write", l.o.WriteRate, l.o.WriteBurst, func(c echo.Context) bool { return isWrite(c) && !isWebhook(c) })
	return out
}

// bodyRate ends a request whose body arrives slower than MinBodyRate after BodyGrace: the read
// deadline starts at BodyGrace and moves on by one second for every MinBodyRate bytes read.
func (l *limits) bodyRate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if l.o.MinBodyRate <= 0 || r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		rc := http.NewResponseController(c.Response())
		start := time.Now()
		if err := rc.SetReadDeadline(start.Add(l.o.BodyGrace)); err != nil {
			return next(c) // not a net/http connection (a test's recorder): nothing to bound
		}
		body := &rateBody{ReadCloser: r.Body, rc: rc, start: start, grace: l.o.BodyGrace, rate: l.o.MinBodyRate}
		r.Body = body
		// The deadline stays: net/http reads what is left of an unread body after the handler, and
		// sets its own deadline before the next request on the connection.
		err := next(c)
		if body.cut {
			c.Response().Header().Set("Connection", "close") // nothing more will be read from this client
			l.slow.Inc()
			l.log.Warn("request body arrived too slowly: cut off", "remote", r.RemoteAddr, "path", c.Path(),
				"bytes_read", body.read, "min_bytes_per_second", l.o.MinBodyRate)
			if err != nil {
				return echo.NewHTTPError(http.StatusRequestTimeout, "the request body arrived too slowly").SetInternal(err)
			}
		}
		return err
	}
}

// rateBody moves the connection's read deadline on as the body arrives.
type rateBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	grace time.Duration
	rate  int64
	read  int64
	cut   bool // the deadline ended a read
}

func (b *rateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.read += int64(n)
		_ = b.rc.SetReadDeadline(b.start.Add(b.grace + time.Duration(float64(b.read)/float64(b.rate)*float64(time.Second))))
	}
	var timeout net.Error
	if err != nil && errors.As(err, &timeout) && timeout.Timeout() {
		b.cut = true
	}
	return n, err
}
