package receiver

import (
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/timeline"
)

// outcomeBrowser is the outcome of a delivery refused because a browser sent it.
const outcomeBrowser = "browser"

// refuseBrowser refuses a request that a web browser made. Alertmanager and PagerDuty never send
// the headers browsers add, while any page a user visits can make their browser post to a webhook
// ("Content-Type: text/plain" needs no CORS preflight): without a webhook token that would open
// an incident. A browser marks such a request with Sec-Fetch-Site (cross-site or same-site) and
// Origin; a request carrying either is refused with 403 and the reason. Sec-Fetch-Site "none" (the
// user typed the URL) and "same-origin" carry no Origin on a GET only, so Origin alone decides
// those.
func (h *Handler) refuseBrowser(c echo.Context, src timeline.Source, log *slog.Logger) error {
	r := c.Request()
	why := ""
	switch site := strings.ToLower(r.Header.Get("Sec-Fetch-Site")); {
	case site == "cross-site" || site == "same-site":
		why = "Sec-Fetch-Site: " + site
	case r.Header.Get("Origin") != "":
		why = "an Origin header"
	}
	if why == "" {
		return nil
	}
	h.metrics.outcome(src, outcomeBrowser)
	log.Warn("webhook refused: sent by a web browser", "remote", c.RealIP(), "reason", why,
		"origin", logSafe(r.Header.Get("Origin")))
	return echo.NewHTTPError(http.StatusForbidden,
		"webhook refused: the request carries "+why+", so a web browser sent it; webhooks accept deliveries from Alertmanager and PagerDuty only")
}

// noteContentType logs and counts an Alertmanager delivery whose Content-Type is not JSON. Real
// Alertmanagers send application/json; other senders (scripts, proxies) are still accepted, as
// the body is decoded strictly either way.
func (h *Handler) noteContentType(c echo.Context, src timeline.Source, log *slog.Logger) {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return
	}
	h.metrics.nonJSON.WithLabelValues(string(src)).Inc()
	log.Warn("webhook with a Content-Type other than JSON: accepted, decoded as JSON", "remote", c.RealIP(),
		"content_type", logSafe(ct))
}

// logSafe is a header value fit for a log line: at most 100 bytes, printable.
func logSafe(v string) string {
	if len(v) > 100 {
		v = v[:100]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, v)
}
