package web

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"fmt"
	"html/template"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/postmortemd/postmortemd/drafts/insights"
	"github.com/postmortemd/postmortemd/internal/i18n"
)

// The /insights page: the figures as tables, and plots drawn here as SVG images (data: URIs, so
// the page needs no other request, no external asset and no JavaScript).

// insightsPage is GET /insights.
type insightsPage struct {
	Title   string
	Filter  insightsQuery
	APIURL  string
	Report  insights.Report
	Plots   []plotImage
	Months  []monthRow
	Service []countRow
	Sev     []countRow
	Totals  []durationRow
	Items   []figureRow
	// DoneByDue is the share of action items done by their due date, "" when none is known.
	DoneByDue string
}

// plotImage is one drawing and the words around it. The drawing holds no words, only numbers and
// months: its title (Title), its vertical axis (Axis) and its legend (Legend) are the page's HTML,
// so they are in the reader's language and in the browser's fonts (gonum's fonts have no Japanese
// glyphs, and it measures text with them, so Japanese text inside the SVG would be laid out wrong).
type plotImage struct {
	Title, Alt, Axis string
	Legend           []plotKey
	Src              template.URL
}

// plotKey is one line of a plot's legend; Style names the stroke the CSS draws beside it
// (plot-line-0 solid, plot-line-1 dashed, in the drawing's colours).
type plotKey struct {
	Style, Label string
}

type monthRow struct {
	Month                        string
	Incidents                    int
	Detect, Acknowledge, Resolve string
}

type countRow struct {
	Name  string
	Count int
}

type durationRow struct {
	Name, Median, P90 string
	Count             int
	Sources           string
}

type figureRow struct {
	insights.Figures
	URL                          string
	Detect, Acknowledge, Resolve string
}

func (v *insightsView) page(c echo.Context) error {
	q := insightsQuery{From: c.QueryParam("from"), To: c.QueryParam("to"), Service: c.QueryParam("service"), Severity: c.QueryParam("severity")}
	f, err := insightsFilter(c)
	if err != nil {
		return err
	}
	r, err := v.report(f, "insights_page")
	if err != nil {
		return err
	}
	pr := i18n.For(v.s.pages.lang(c.Request()))
	data := insightsPage{Title: pr.T("ui.insights"), Filter: q, Report: r, APIURL: "/api/v1/insights"}
	if e := q.encode(); e != "" {
		data.APIURL += "?" + e
	}
	months := slices.Sorted(maps.Keys(r.Incidents.ByMonth))
	for _, m := range months {
		data.Months = append(data.Months, monthRow{Month: m, Incidents: r.Incidents.ByMonth[m],
			Detect: statText(pr, r.TimeToDetect.ByMonth[m]), Acknowledge: statText(pr, r.TimeToAcknowledge.ByMonth[m]),
			Resolve: statText(pr, r.TimeToResolve.ByMonth[m])})
	}
	data.Service, data.Sev = countRows(r.Incidents.ByService), countRows(r.Incidents.BySeverity)
	for _, d := range []struct {
		name string
		d    insights.Durations
	}{{pr.T("ui.ttd"), r.TimeToDetect}, {pr.T("ui.tta"), r.TimeToAcknowledge}, {pr.T("ui.ttr"), r.TimeToResolve}} {
		row := durationRow{Name: d.name, Median: secondsText(pr, d.d.MedianSeconds), P90: secondsText(pr, d.d.P90Seconds), Count: d.d.Count}
		for i, k := range slices.Sorted(maps.Keys(d.d.Sources)) {
			if i > 0 {
				row.Sources += pr.T("list.comma")
			}
			row.Sources += k + " " + strconv.Itoa(d.d.Sources[k])
		}
		data.Totals = append(data.Totals, row)
	}
	for _, p := range r.Postmortems {
		data.Items = append(data.Items, figureRow{Figures: p, URL: "/postmortems/" + url.PathEscape(p.ID),
			Detect: figureText(pr, p.TimeToDetect), Acknowledge: figureText(pr, p.TimeToAcknowledge), Resolve: figureText(pr, p.TimeToResolve)})
	}
	if s := r.ActionItems.DoneByDueDate.Share; s != nil {
		data.DoneByDue = strconv.Itoa(int(math.Round(*s*100))) + "%"
	}
	if r.Incidents.Total > 0 {
		data.Plots, err = insightPlots(pr, r, months)
		if err != nil {
			// The figures are still worth reading without the pictures.
			v.s.log.Error("insights plots could not be drawn", "err", err)
			data.Plots = nil
		}
	}
	return v.s.pages.render(c, "insights", data, 64<<10+len(data.Items)*400)
}

// insightPlots draws the incidents per month and the durations' medians per month. The drawings
// carry no words; their caption, axis, legend and text alternative are in the reader's language.
func insightPlots(pr i18n.Printer, r insights.Report, months []string) ([]plotImage, error) {
	var known []string // the months with a start ("unknown" cannot be placed on a time axis)
	for _, m := range months {
		if m != "unknown" {
			known = append(known, m)
		}
	}
	if len(known) == 0 {
		return nil, nil
	}
	var out []plotImage
	counts := make(plotter.Values, len(known))
	for i, m := range known {
		counts[i] = float64(r.Incidents.ByMonth[m])
	}
	img, err := barPlot("incidents", known, counts)
	if err != nil {
		return nil, err
	}
	out = append(out, plotImage{Title: pr.T("ui.plot_incidents"), Src: img, Axis: pr.T("ui.plot_axis_incidents"),
		Alt: pr.T("ui.plot_incidents_alt", "From", known[0], "To", known[len(known)-1])})

	type series struct {
		stats map[string]insights.Stats
		p90   bool
	}
	img, err = linePlot("resolve", known, []series{
		{r.TimeToResolve.ByMonth, false}, {r.TimeToResolve.ByMonth, true}}, func(s series, st insights.Stats) *float64 {
		if s.p90 {
			return st.P90Seconds
		}
		return st.MedianSeconds
	}, func(s series) map[string]insights.Stats { return s.stats })
	if err != nil {
		return nil, err
	}
	out = append(out, plotImage{Title: pr.T("ui.plot_resolve"), Src: img, Alt: pr.T("ui.plot_resolve_alt"), Axis: pr.T("ui.plot_axis_minutes"),
		Legend: []plotKey{{"plot-line-0", pr.T("ui.plot_median")}, {"plot-line-1", pr.T("ui.plot_p90")}}})

	img, err = linePlot("detect", known, []series{
		{r.TimeToDetect.ByMonth, false}, {r.TimeToAcknowledge.ByMonth, false}}, func(s series, st insights.Stats) *float64 {
		return st.MedianSeconds
	}, func(s series) map[string]insights.Stats { return s.stats })
	if err != nil {
		return nil, err
	}
	out = append(out, plotImage{Title: pr.T("ui.plot_detect"), Src: img, Alt: pr.T("ui.plot_detect_alt"), Axis: pr.T("ui.plot_axis_minutes"),
		Legend: []plotKey{{"plot-line-0", pr.T("ui.plot_detect_median")}, {"plot-line-1", pr.T("ui.plot_acknowledge_median")}}})
	return out, nil
}

// plotColors are dark enough to read on white; style.css's plot-line-0 and plot-line-1 draw the
// legend in the first two.
var plotColors = plotutil.DarkColors

// newPlot is a plot without words (the page writes the title, the axis and the legend around the
// drawing).
func newPlot(labels []string) *plot.Plot {
	p := plot.New()
	p.NominalX(labels...)
	if len(labels) > 8 {
		p.X.Tick.Label.Rotation = math.Pi / 4
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	}
	p.Y.Min = 0
	p.X.Min, p.X.Max = -0.5, float64(len(labels))-0.5
	return p
}

func barPlot(title string, labels []string, values plotter.Values) (template.URL, error) {
	p := newPlot(labels)
	bars, err := plotter.NewBarChart(values, vg.Points(math.Min(40, 400/float64(len(values)))))
	if err != nil {
		return "", fmt.Errorf("plot %s: %w", title, err)
	}
	bars.Color = plotColors[1]
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.Y.Max = math.Max(1, slices.Max(values)*1.1)
	return svgURI(title, p)
}

// linePlot draws one line per series over the months, in minutes; a month without a value breaks
// the line rather than drawing across it.
func linePlot[S any](title string, months []string, ss []S, value func(S, insights.Stats) *float64,
	stats func(S) map[string]insights.Stats) (template.URL, error) {
	p := newPlot(months)
	ymax := 1.0
	for i, s := range ss {
		col := plotColors[i%len(plotColors)]
		var seg plotter.XYs
		flush := func() error {
			if len(seg) == 0 {
				return nil
			}
			line, points, err := plotter.NewLinePoints(seg)
			if err != nil {
				return err
			}
			line.Color, points.Color = col, col
			line.Width = vg.Points(1.5)
			if i == 1 {
				line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(line, points)
			seg = nil
			return nil
		}
		for x, m := range months {
			v := value(s, stats(s)[m])
			if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
				if err := flush(); err != nil {
					return "", fmt.Errorf("plot %s: %w", title, err)
				}
				continue
			}
			mins := *v / 60
			ymax = math.Max(ymax, mins)
			seg = append(seg, plotter.XY{X: float64(x), Y: mins})
		}
		if err := flush(); err != nil {
			return "", fmt.Errorf("plot %s: %w", title, err)
		}
	}
	p.Y.Max = ymax * 1.1
	return svgURI(title, p)
}

// svgURI draws the plot as SVG into a data: URI. A drawing that panics (a library bug on odd data)
// becomes an error, so the page is still served.
func svgURI(name string, p *plot.Plot) (uri template.URL, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("draw %s plot: %v", name, r)
		}
	}()
	c := vgsvg.New(7*vg.Inch, 3*vg.Inch)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("draw %s plot: %w", name, err)
	}
	return template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil // #nosec G203 -- our own drawing
}

func countRows(m map[string]int) []countRow {
	out := make([]countRow, 0, len(m))
	for k, n := range m {
		out = append(out, countRow{k, n})
	}
	slices.SortFunc(out, func(a, b countRow) int { return cmp.Or(b.Count-a.Count, cmp.Compare(a.Name, b.Name)) })
	return out
}

// secondsText writes a duration as people read it ("1h17m49s"), "–" when unknown.
// Other languages than English get their own units ("1時間17分49秒").
func secondsText(p i18n.Printer, s *float64) string {
	if s == nil {
		return "–"
	}
	return durationText(p, time.Duration(math.Round(*s))*time.Second)
}

func durationText(p i18n.Printer, d time.Duration) string {
	if p.Lang() == i18n.English {
		return d.String()
	}
	return p.Duration(d)
}

func statText(p i18n.Printer, st insights.Stats) string {
	if st.Count == 0 {
		return "–"
	}
	return p.T("ui.stat", "Value", secondsText(p, st.MedianSeconds), "Count", st.Count)
}

func figureText(p i18n.Printer, f *insights.Figure) string {
	if f == nil {
		return "–"
	}
	return p.T("ui.figure", "Value", durationText(p, time.Duration(f.Seconds)*time.Second), "From", f.From, "To", f.To)
}
