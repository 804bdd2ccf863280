package web

// The review meeting's page: GET /incidents/{id}/review says when (in the viewer's zone and in
// UTC), how long, where, who is invited (as roles), whether it is within 24 hours of the
// resolution and if not why, and carries the waive form and the link that hands the meeting to a
// calendar application.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/drafts/lint"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// reviewDeadline is the promise the review page checks: the meeting within a day of the resolution.
const reviewDeadline = 24 * time.Hour

func (p *pages) reviewPageRoutes(e *echo.Echo) {
	if p.s.opts.Review.Reviews == nil {
		return
	}
	e.GET("/incidents/:id/review", p.review)
	mw := append([]echo.MiddlewareFunc{p.s.requireWrite}, p.s.opts.Review.WaiveMiddleware...)
	e.POST("/incidents/:id/review/waive", p.waiveForm, mw...)
}

type reviewPage struct {
	Title      string
	IncidentID string
	Incident   *timeline.Incident
	Info       ReviewInfo
	// Zone is the meeting's planning zone ("UTC" if it cannot be loaded); InZone is the start
	// there, UTCSpan the meeting in UTC.
	Zone, InZone, UTCSpan string
	// Duration says how long the meeting is, in words.
	Duration string
	// Location is where the meeting is held; LocationURL is set when it is a web link.
	Location, LocationURL string
	// OnTime says in plain words whether the meeting is within 24 hours of the resolution, and
	// if not, why.
	OnTime   bool
	Timing   string
	ICSURL   string
	CanWrite bool
	CSRF     string
	Error    string
	Reason   string // the waive reason sent back after a refusal
	Waived   bool
}

func (p *pages) review(c echo.Context) error {
	return p.renderReview(c, http.StatusOK, "", "")
}

func (p *pages) renderReview(c echo.Context, code int, errMsg, reason string) error {
	id := c.Param("id")
	ctx, cancel := p.s.storeCtx(c)
	defer cancel()
	info, err := p.s.opts.Review.Reviews.ReviewInfo(ctx, id)
	if err != nil {
		return err
	}
	pr := i18n.For(p.lang(c.Request()))
	data := reviewPage{Title: pr.T("ui.review"), IncidentID: id, Info: info, Error: errMsg, Reason: reason,
		ICSURL: "/incidents/" + url.PathEscape(id) + "/review.ics", Waived: c.QueryParam("waived") == "1"}
	if inc, err := p.s.store.Incident(ctx, id); err == nil {
		data.Incident = &inc
		if inc.Title != "" {
			data.Title = pr.T("ui.review_title", "Title", inc.Title)
		}
	} else if !errors.Is(err, timeline.ErrNotFound) {
		p.s.log.Warn("review page: incident lookup failed", "incident_id", id, "err", err)
	}
	zone := time.UTC
	if loc, err := time.LoadLocation(info.TimeZone); err == nil && info.TimeZone != "" {
		zone = loc
	}
	data.Zone, data.InZone = zone.String(), meetingTime(pr, info.Start.In(zone), true)+" "+info.Start.In(zone).Format("MST")
	data.UTCSpan = meetingTime(pr, info.Start.UTC(), true)
	if !info.End.IsZero() {
		data.UTCSpan += "–" + info.End.UTC().Format("15:04")
	}
	data.UTCSpan += " UTC"
	if !info.End.IsZero() {
		data.Duration = minutes(pr, info.End.Sub(info.Start))
	}
	data.Location = strings.TrimSpace(p.s.opts.Review.Location)
	data.LocationURL = webURL(data.Location)
	resolved := info.ResolvedAt
	if resolved.IsZero() && data.Incident != nil && data.Incident.ResolvedAt != nil {
		resolved = *data.Incident.ResolvedAt
	}
	data.OnTime, data.Timing = reviewTiming(pr, info, resolved, zone)
	n := p.s.notes()
	data.CanWrite = n.writeAuth(c.Request()) != authNone
	if data.CanWrite {
		data.CSRF = n.csrf.Token(c)
	}
	return p.renderStatus(c, code, "review", data, 8<<10)
}

// reviewTiming says whether the meeting starts within 24 hours of the resolution, in p's words.
func reviewTiming(p i18n.Printer, info ReviewInfo, resolved time.Time, zone *time.Location) (bool, string) {
	day := func(t time.Time) string { return meetingTime(p, t.In(zone), false) + " " + t.In(zone).Format("MST") }
	if resolved.IsZero() {
		if info.Late {
			return false, p.T("ui.review_late", "Reason", info.reasonText(p))
		}
		return true, p.T("ui.review_within")
	}
	after := info.Start.Sub(resolved)
	if !info.Late && after <= reviewDeadline {
		return true, p.T("ui.review_within_at", "Resolved", day(resolved), "After", span(p, after))
	}
	return false, p.T("ui.review_late_at", "Resolved", day(resolved), "Start", day(info.Start), "After", span(p, after),
		"Reason", info.reasonText(p))
}

// meetingTime writes t to the minute in its location, with its weekday, and the year if withYear:
// "Mon 2 Jan 2006 15:04", "2006年1月2日（月） 15:04"; English keeps its short day-month form.
func meetingTime(p i18n.Printer, t time.Time, withYear bool) string {
	if p.Lang() == i18n.English {
		if withYear {
			return t.Format("Mon 2 Jan 2006 15:04")
		}
		return t.Format("Mon 2 Jan 15:04")
	}
	return p.LongDate(t) + " " + t.Format("15:04")
}

// minutes says a meeting's length in p's words.
func minutes(p i18n.Printer, d time.Duration) string {
	if p.Lang() != i18n.English {
		return p.Duration(d.Round(time.Minute))
	}
	m := int(d.Round(time.Minute) / time.Minute)
	switch {
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	case m%60 == 0 && m == 60:
		return "1 hour"
	case m%60 == 0:
		return fmt.Sprintf("%d hours", m/60)
	}
	return fmt.Sprintf("%dh %02dm", m/60, m%60)
}

// span says a delay in the two largest units, in p's words.
func span(p i18n.Printer, d time.Duration) string {
	if d < 0 {
		d = -d
	}
	return strings.TrimSpace(age(p, d+time.Minute-time.Nanosecond))
}

// waiveForm is POST /incidents/{id}/review/waive from the page's form: a required reason, names in
// it replaced by roles as the API does.
func (p *pages) waiveForm(c echo.Context) error {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxWaiveBody)
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		return p.renderReview(c, http.StatusUnprocessableEntity, i18n.For(p.lang(r)).T("ui.waive_no_reason"), "")
	}
	id := c.Param("id")
	ctx, cancel := p.s.storeCtx(c)
	defer cancel()
	people, _, err := p.s.peopleOf(ctx, id)
	if err != nil {
		return err
	}
	reason, _ = lint.ReplaceNames(reason, people)
	if _, err := p.s.opts.Review.Reviews.Waive(ctx, id, reason); err != nil {
		if errors.Is(err, timeline.ErrInvalid) {
			pr := i18n.For(p.lang(r))
			return p.renderReview(c, http.StatusUnprocessableEntity, pr.T("ui.waive_refused", "Reason", invalidReason(pr, err)), reason)
		}
		return err
	}
	p.s.log.Info("review waived from the page", "incident_id", id)
	return c.Redirect(http.StatusSeeOther, "/incidents/"+url.PathEscape(id)+"/review?waived=1")
}
