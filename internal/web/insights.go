package web

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/insights"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// InsightsOptions configures GET /api/v1/insights and the /insights page. They read the
// postmortems of PostmortemOptions.Library and are left out without it.
type InsightsOptions struct {
	// Location is the service's time zone: an action item is overdue from the day after its due
	// date there. Default UTC.
	Location *time.Location
	// Now is the clock (overdue items, reviews whose 24 hours have passed). Default time.Now.
	Now func() time.Time
}

// insightsView reads the postmortems' figures, keeping each one while its file is unchanged and the
// day (which decides overdue items) is the same, so a request reads only the files that changed.
type insightsView struct {
	s          *Server
	o          InsightsOptions
	unreadable *prometheus.CounterVec

	mu    sync.Mutex
	cache map[string]cachedFigures // by postmortem id
}

type cachedFigures struct {
	file     string
	modified time.Time
	day      string
	pm       insights.Postmortem
}

func (s *Server) insightRoutes(e *echo.Echo, api *echo.Group, unreadable *prometheus.CounterVec) {
	if s.opts.Postmortems.Library == nil {
		return
	}
	v := &insightsView{s: s, o: s.opts.Insights, unreadable: unreadable, cache: map[string]cachedFigures{}}
	if v.o.Location == nil {
		v.o.Location = time.UTC
	}
	if v.o.Now == nil {
		v.o.Now = time.Now
	}
	api.GET("/insights", v.api)
	e.GET("/insights", v.page)
}

// insightsFilter reads from, to, service and severity. from and to are dates (YYYY-MM-DD, UTC, both
// days included) or RFC 3339 times (from included, to excluded).
func insightsFilter(c echo.Context) (insights.Filter, error) {
	f := insights.Filter{Service: strings.TrimSpace(c.QueryParam("service")), Severity: strings.TrimSpace(c.QueryParam("severity"))}
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := strings.TrimSpace(c.QueryParam(p.name))
		if v == "" {
			continue
		}
		if d, err := time.Parse(time.DateOnly, v); err == nil {
			if p.name == "to" {
				d = d.AddDate(0, 0, 1)
			}
			*p.into = d
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, fmt.Errorf("%s: %w: %w", p.name, timeline.ErrInvalid, i18n.Refuse("reason.filter_time", "Field", p.name, "Value", strconv.Quote(v)))
		}
		*p.into = t.UTC()
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, fmt.Errorf("to: %w: %w", timeline.ErrInvalid, i18n.Refuse("reason.filter_order"))
	}
	return f, nil
}

// report computes the figures over every postmortem f may keep. A document that cannot be read is
// logged, counted and named in the report's problems; the others are counted.
func (v *insightsView) report(f insights.Filter, view string) (insights.Report, error) {
	sums, err := v.s.opts.Postmortems.Library.List(drafts.Query{Service: f.Service, Severity: f.Severity})
	if err != nil {
		return insights.Report{}, fmt.Errorf("list postmortems: %w", err)
	}
	now := v.o.Now()
	day := now.In(v.o.Location).Format(time.DateOnly)
	pms := make([]insights.Postmortem, 0, len(sums))
	var problems []insights.Problem
	seen := make(map[string]bool, len(sums))
	for _, sum := range sums {
		if seen[sum.ID] {
			continue // a copied file: Get names both files in the problem below
		}
		seen[sum.ID] = true
		pm, err := v.read(sum, now, day)
		if err != nil {
			v.s.log.Warn("a postmortem could not be read; the insights leave it out", "view", view, "postmortem", sum.ID, "err", err)
			v.unreadable.WithLabelValues(view).Inc()
			pr := insights.Problem{Postmortem: sum.ID, Problem: "left out: its document could not be read", Code: "insights.unreadable"}
			if errors.Is(err, timeline.ErrConflict) || errors.Is(err, insights.ErrNoFrontMatter) || strings.HasPrefix(err.Error(), "front matter") {
				pr.Problem, pr.Code, pr.Args = "left out: "+err.Error(), "insights.left_out", map[string]string{"Err": err.Error()}
				if errors.Is(err, insights.ErrNoFrontMatter) {
					pr.Code, pr.Args = "insights.no_front_matter", nil
				} else if r, ok := i18n.ReasonOf(err); ok {
					// The reason as a message of its own: Code names it, its Args beside (insightProblem).
					pr.Args["Code"] = r.Code
					for k, v := range r.Args {
						pr.Args[k] = v
					}
				}
			}
			problems = append(problems, pr)
			continue
		}
		pms = append(pms, pm)
	}
	v.forgetExcept(seen)
	r := insights.Compute(pms, f, now)
	r.Problems = append(problems, r.Problems...)
	return r, nil
}

// read returns one postmortem's figures, from the cache while its file and the day are unchanged.
func (v *insightsView) read(sum drafts.Summary, now time.Time, day string) (insights.Postmortem, error) {
	v.mu.Lock()
	c, ok := v.cache[sum.ID]
	v.mu.Unlock()
	if ok && c.file == sum.File && c.modified.Equal(sum.Modified) && c.day == day {
		return c.pm, nil
	}
	doc, err := v.s.opts.Postmortems.Library.Get(sum.ID)
	if err != nil {
		return insights.Postmortem{}, err
	}
	pm, err := insights.Read(doc.Content, now, v.o.Location)
	if err != nil {
		return insights.Postmortem{}, err
	}
	pm.ID = sum.ID // the id the library knows it by
	v.mu.Lock()
	v.cache[sum.ID] = cachedFigures{file: doc.File, modified: doc.Modified, day: day, pm: pm}
	v.mu.Unlock()
	return pm, nil
}

// forgetExcept drops cached postmortems no longer listed; a filtered listing keeps the cache.
func (v *insightsView) forgetExcept(listed map[string]bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(listed) < len(v.cache)/2 {
		return // a filtered listing: the others are still there
	}
	for id := range v.cache {
		if !listed[id] {
			delete(v.cache, id)
		}
	}
}

// insightsAnswer is GET /api/v1/insights: the report, and the definitions its figures follow.
type insightsAnswer struct {
	insights.Report
	Definitions map[string]string `json:"definitions"`
}

// definitions say what each figure measures and where its ends come from, in the answer itself.
var definitions = map[string]string{
	"time_to_detect":      "start -> detection. start: impact_started if people set it, else started (the first alert's startsAt); detection: detected (the first alert reaching postmortemd or the first page, whichever came first)",
	"time_to_acknowledge": "detection -> the first acknowledgement (detected -> acknowledged)",
	"time_to_resolve":     "start -> resolution. start as for time_to_detect; resolution: impact_ended if people set it, else resolved (the incident's resolution)",
	"median_seconds":      "the middle value, or the mean of the two middle values",
	"p90_seconds":         "nearest rank: the smallest value that at least 90% of the values do not exceed",
	"sources":             "how many figures took an end from each front matter key",
	"by_month":            "by the month (UTC) of the start",
	"reviews":             "resolved incidents' review meetings against the 24 hours after the resolution",
	"action_items":        "the items of section 5; done_by_due_date counts done items whose history says when they were done, and open items past their due date",
}

func (v *insightsView) api(c echo.Context) error {
	f, err := insightsFilter(c)
	if err != nil {
		return err
	}
	r, err := v.report(f, "insights_api")
	if err != nil {
		return err
	}
	return c.JSON(200, insightsAnswer{Report: r, Definitions: definitions})
}

// insightsQuery is the page's filter as its form shows it back.
type insightsQuery struct {
	From, To, Service, Severity string
}

func (q insightsQuery) encode() string {
	v := url.Values{}
	for k, s := range map[string]string{"from": q.From, "to": q.To, "service": q.Service, "severity": q.Severity} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}
