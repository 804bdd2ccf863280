package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postmortemd/postmortemd/internal/testenv"
	"github.com/postmortemd/postmortemd/internal/web"
)

// insightPostmortems are five postmortems as people left them; the figures are worked out by hand
// in TestInsightsAPI.
//
//	      start (source)                detect  ack   resolve (source)          review
//	a  10-05 10:00 started               60s   240s   3600s resolved            08:00 next day: held in 24h
//	b  10-20 10:00 impact_started 09:40  1260s  60s   4800s resolved            3 days later: late
//	c  11-02 00:00 started               30s   -      1800s impact_ended        waived
//	d  11-10 12:00 started               600s  120s   - (unresolved)            -
//	e  11-28 06:00 started, Japanese     90s   30s    600s resolved             none, 24 h passed: late
func insightPostmortems() []pm {
	return []pm{
		{id: "a", title: "Checkout errors", status: "published", services: []string{"checkout"}, severity: "critical",
			started: "2026-10-05T10:00:00Z", detected: "2026-10-05T10:01:00Z", acknowledged: "2026-10-05T10:05:00Z", resolved: "2026-10-05T11:00:00Z",
			review: "  start: 2026-10-06T08:00:00Z\n  end: 2026-10-06T09:00:00Z\n  time_zone: \"UTC\"\n"},
		{id: "b", title: "Search slow", status: "reviewed", services: []string{"search"}, severity: "warning",
			started: "2026-10-20T10:00:00Z", detected: "2026-10-20T10:01:00Z", acknowledged: "2026-10-20T10:02:00Z", resolved: "2026-10-20T11:00:00Z",
			people: "impact_started: 2026-10-20T09:40:00Z\n",
			review: "  start: 2026-10-23T10:00:00Z\n  end: 2026-10-23T11:00:00Z\n  time_zone: \"UTC\"\n"},
		{id: "c", title: "Login outage", status: "draft", services: []string{"login", "checkout"}, severity: "critical",
			started: "2026-11-02T00:00:00Z", detected: "2026-11-02T00:00:30Z", resolved: "2026-11-02T01:00:00Z",
			people: "impact_ended: 2026-11-02T00:30:00Z\n",
			review: "  start: null\n  end: null\n  time_zone: \"UTC\"\n  waived: true\n"},
		{id: "d", title: "Queue backlog", status: "draft", services: []string{"checkout"}, severity: "critical",
			started: "2026-11-10T12:00:00Z", detected: "2026-11-10T12:10:00Z", acknowledged: "2026-11-10T12:12:00Z"},
		{id: "e", title: "検索の遅延", lang: "ja", status: "draft", services: []string{"search"}, severity: "warning",
			started: "2026-11-28T06:00:00Z", detected: "2026-11-28T06:01:30Z", acknowledged: "2026-11-28T06:02:00Z", resolved: "2026-11-28T06:10:00Z"},
	}
}

var insightsNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type statsJSON struct {
	Median *float64 `json:"median_seconds"`
	P90    *float64 `json:"p90_seconds"`
	Count  int      `json:"count"`
}

type durationsJSON struct {
	statsJSON
	ByMonth map[string]statsJSON `json:"by_month"`
	Sources map[string]int       `json:"sources"`
}

func (s statsJSON) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestInsightsAPI(t *testing.T) {
	files := writePostmortems(t, insightPostmortems()...)
	s, _ := newLibraryService(t, files, web.Options{Insights: web.InsightsOptions{Now: func() time.Time { return insightsNow }}})
	var got struct {
		Incidents struct {
			Total      int            `json:"total"`
			ByMonth    map[string]int `json:"by_month"`
			ByService  map[string]int `json:"by_service"`
			BySeverity map[string]int `json:"by_severity"`
		} `json:"incidents"`
		TTD     durationsJSON  `json:"time_to_detect"`
		TTA     durationsJSON  `json:"time_to_acknowledge"`
		TTR     durationsJSON  `json:"time_to_resolve"`
		Reviews map[string]int `json:"reviews"`
		Actions struct {
			Total int `json:"total"`
		} `json:"action_items"`
		Postmortems []struct {
			ID            string `json:"id"`
			TimeToResolve *struct {
				Seconds  int64  `json:"seconds"`
				From, To string `json:"-"`
			} `json:"time_to_resolve"`
		} `json:"postmortems"`
		Definitions map[string]string `json:"definitions"`
	}
	getJSON(t, s, "/api/v1/insights", &got)
	if got.Incidents.Total != 5 || got.Incidents.ByMonth["2026-10"] != 2 || got.Incidents.ByMonth["2026-11"] != 3 ||
		got.Incidents.ByService["checkout"] != 3 || got.Incidents.ByService["search"] != 2 || got.Incidents.ByService["login"] != 1 ||
		got.Incidents.BySeverity["critical"] != 3 || got.Incidents.BySeverity["warning"] != 2 {
		t.Errorf("incidents %+v", got.Incidents)
	}
	st := func(median, p90 float64, n int) string { return statsJSON{&median, &p90, n}.String() }
	for _, c := range []struct {
		name string
		got  statsJSON
		want string
	}{
		// detect: 30 60 90 600 1260 -> the 3rd; p90 the ceil(4.5) = 5th.
		{"time to detect", got.TTD.statsJSON, st(90, 1260, 5)},
		{"time to detect, October: 60 1260", got.TTD.ByMonth["2026-10"], st(660, 1260, 2)},
		{"time to detect, November: 30 90 600", got.TTD.ByMonth["2026-11"], st(90, 600, 3)},
		// acknowledge (from detection): 30 60 120 240 (c was never acknowledged).
		{"time to acknowledge", got.TTA.statsJSON, st(90, 240, 4)},
		// resolve: 600 1800 3600 4800 (d is unresolved); b from impact_started, c to impact_ended.
		{"time to resolve", got.TTR.statsJSON, st(2700, 4800, 4)},
		{"time to resolve, November: 600 1800", got.TTR.ByMonth["2026-11"], st(1200, 1800, 2)},
	} {
		if c.got.String() != c.want {
			t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
		}
	}
	if want := map[string]int{"started": 3, "impact_started": 1, "resolved": 3, "impact_ended": 1}; !equalCounts(got.TTR.Sources, want) {
		t.Errorf("time to resolve's sources %v, want %v", got.TTR.Sources, want)
	}
	if want := map[string]int{"held_within_24h": 1, "late": 2, "waived": 1, "pending": 0}; !equalCounts(got.Reviews, want) {
		t.Errorf("reviews %v, want %v", got.Reviews, want)
	}
	if got.Actions.Total != 0 || got.Definitions["time_to_detect"] == "" {
		t.Errorf("the drafts' placeholder rows are not items (%d), and the answer defines its figures (%v)", got.Actions.Total, got.Definitions)
	}

	// Filters: service, severity, from and to (dates, both days included).
	for _, c := range []struct{ query, want string }{
		{"service=Search", "e b"},
		{"severity=critical&from=2026-11-01", "d c"},
		{"from=2026-10-20&to=2026-11-02", "c b"}, // b starts 10-20 09:40 (impact_started)
		{"to=2026-10-19T23:59:59Z", "a"},
	} {
		getJSON(t, s, "/api/v1/insights?"+c.query, &got)
		var ids []string
		for _, p := range got.Postmortems {
			ids = append(ids, p.ID)
		}
		if strings.Join(ids, " ") != c.want {
			t.Errorf("?%s counts %v, want %s", c.query, ids, c.want)
		}
	}
	for _, q := range []string{"from=yesterday", "to=2026-13-01", "from=2026-11-02&to=2026-11-01"} {
		resp, body := s.get(t, "/api/v1/insights?"+q)
		name, _, _ := strings.Cut(q, "=")
		if q == "from=2026-11-02&to=2026-11-01" {
			name = "to"
		}
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error":"`+name+`: `) {
			t.Errorf("?%s: %d %s, want 400 naming %s", q, resp.StatusCode, body, name)
		}
	}

	// A person corrects the start in the document: the figure follows, from the next request on.
	path := filepath.Join(files.Dir, "a.md")
	b, _ := os.ReadFile(path)
	b = []byte(strings.Replace(string(b), "\n---\n", "\nimpact_started: 2026-10-05T09:00:00Z\n---\n", 1))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(path, later, later)
	getJSON(t, s, "/api/v1/insights?service=checkout&to=2026-10-31", &got)
	if len(got.Postmortems) != 1 || got.Postmortems[0].TimeToResolve == nil || got.Postmortems[0].TimeToResolve.Seconds != 7200 {
		t.Errorf("after the correction: %+v", got.Postmortems)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// One document that cannot be read leaves the others counted, and is named.
func TestInsightsWithABadDocument(t *testing.T) {
	files := writePostmortems(t, insightPostmortems()...)
	b, _ := os.ReadFile(filepath.Join(files.Dir, "a.md"))
	os.WriteFile(filepath.Join(files.Dir, "copy-of-a.md"), b, 0o644)
	os.WriteFile(filepath.Join(files.Dir, "notes.md"), []byte("# not a postmortem\n"), 0o644)
	s, reg := newLibraryService(t, files, web.Options{Insights: web.InsightsOptions{Now: func() time.Time { return insightsNow }}})
	var got struct {
		Incidents struct {
			Total int `json:"total"`
		} `json:"incidents"`
		Problems []struct{ Postmortem, Problem string } `json:"problems"`
	}
	getJSON(t, s, "/api/v1/insights", &got)
	if got.Incidents.Total != 4 || len(got.Problems) != 1 || got.Problems[0].Postmortem != "a" ||
		!strings.Contains(got.Problems[0].Problem, "copy-of-a.md") {
		t.Fatalf("with a copied file: %+v", got)
	}
	if !strings.Contains(metricsText(t, reg), `postmortemd_postmortems_unreadable_total{view="insights_api"} 1`) {
		t.Error("the unreadable postmortem is not counted")
	}
	resp, body := s.get(t, "/insights")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "copy-of-a.md") || !strings.Contains(body, "Incidents: 4") {
		t.Fatalf("/insights with a copied file: %d", resp.StatusCode)
	}
	// A Japanese reader reads the problem in Japanese, the files' names as they are.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/insights", nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Accept-Language", "ja")
	if resp, ja := do(t, req); resp.StatusCode != http.StatusOK || !strings.Contains(ja, "除外: ファイル a.md, copy-of-a.md が同じ ID を持っています") ||
		strings.Contains(ja, "left out") || strings.Contains(ja, "all have this id") {
		t.Errorf("the Japanese page's problem: %d\n%s", resp.StatusCode, ja)
	}
}

// plotTickText is what a drawing may write: tick labels, numbers and months ("2026-11").
var plotTickText = regexp.MustCompile(`^[0-9.\-−]*$`)

// svgTexts returns the text of every <text> element of an SVG drawing.
func svgTexts(t *testing.T, svg []byte) []string {
	t.Helper()
	var out []string
	d := xml.NewDecoder(bytes.NewReader(svg))
	in := false
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return out
			}
			t.Fatalf("SVG: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "text" {
				in = true
				out = append(out, "")
			}
		case xml.EndElement:
			if tok.Name.Local == "text" {
				in = false
			}
		case xml.CharData:
			if in {
				out[len(out)-1] += string(tok)
			}
		}
	}
}

var svgImage = regexp.MustCompile(`<img src="data:image/svg(?:\+|&#43;)xml;base64,([^"]+)" alt="([^"]+)"`)

func TestInsightsPage(t *testing.T) {
	files := writePostmortems(t, insightPostmortems()...)
	s, _ := newLibraryService(t, files, web.Options{Insights: web.InsightsOptions{Now: func() time.Time { return insightsNow }}})
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/insights?service=checkout", nil)
	req.Header.Set("Accept", "text/html")
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /insights: %d %s", resp.StatusCode, body)
	}
	imgs := svgImage.FindAllStringSubmatch(body, -1)
	if len(imgs) != 3 {
		t.Fatalf("%d plots, want 3 (incidents, time to resolve, detect and acknowledge)", len(imgs))
	}
	for _, m := range imgs {
		svg, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		var root struct {
			XMLName xml.Name
		}
		if err := xml.Unmarshal(svg, &root); err != nil || root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" {
			t.Fatalf("plot %q is not SVG: %v %v", m[2], root.XMLName, err)
		}
		if strings.Contains(string(svg), "http://") && !strings.Contains(string(svg), "xmlns") || strings.Contains(string(svg), "<script") ||
			regexp.MustCompile(`(href|src)="https?:`).Match(svg) {
			t.Fatalf("plot %q loads something from outside", m[2])
		}
		// The drawing holds numbers and months only: its words are the page's, in the reader's
		// language and the browser's fonts.
		for _, txt := range svgTexts(t, svg) {
			if !plotTickText.MatchString(txt) {
				t.Errorf("plot %q draws the words %q", m[2], txt)
			}
		}
	}
	for _, want := range []string{
		`<th scope="row">2026-10</th><td>1</td><td>1m0s (1)</td><td>4m0s (1)</td><td>1h0m0s (1)</td>`,
		`<th scope="row">2026-11</th><td>2</td><td>5m15s (2)</td><td>2m0s (1)</td><td>30m0s (1)</td>`,
		`value="checkout"`,
		`href="/api/v1/insights?service=checkout"`,
		`<dd data-figure="waived">1</dd>`,
		`30m0s (impact_started`, // nothing: c's start is the timeline's
	} {
		if want == `30m0s (impact_started` {
			if strings.Contains(body, want) {
				t.Errorf("c's start is the timeline's, not people's")
			}
			continue
		}
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if !strings.Contains(body, "30m0s (started → impact_ended)") {
		t.Error("a figure does not say where its ends came from")
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("no CSP on the page")
	}

	// At Accept-Language: ja the headings, captions and durations are Japanese.
	req.Header.Set("Accept-Language", "ja")
	if resp, ja := do(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /insights in Japanese: %d", resp.StatusCode)
	} else {
		for _, want := range []string{"<h1>インサイト</h1>", `<h2 id="h-durations">所要時間</h2>`, `<th scope="col">検知までの時間</th>`,
			`<th scope="row">2026-11</th><td>2</td><td>5分15秒（2）</td><td>2分（1）</td><td>30分（1）</td>`,
			"30分（started → impact_ended）", `<figcaption>月ごとのインシデント数</figcaption>`,
			`<p class="plot-axis">縦軸: 分</p>`, `<p class="plot-axis">縦軸: インシデント数</p>`, `aria-label="凡例"`,
			`<span class="plot-line-0" aria-hidden="true"></span>中央値</li>`, `<span class="plot-line-1" aria-hidden="true"></span>90 パーセンタイル</li>`,
			`<span class="plot-line-1" aria-hidden="true"></span>応答までの時間（中央値）</li>`, `<h2 id="h-reviews">振り返り会とアクションアイテム</h2>`} {
			if !strings.Contains(ja, want) {
				t.Errorf("the Japanese page lacks %q", want)
			}
		}
		for _, m := range svgImage.FindAllStringSubmatch(ja, -1) {
			svg, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			for _, txt := range svgTexts(t, svg) {
				if !plotTickText.MatchString(txt) {
					t.Errorf("the Japanese page's plot %q draws the words %q", m[2], txt)
				}
			}
		}
		for _, reject := range []string{"<h1>Insights</h1>", "Durations", "Time to detect", "Reviews waived", "Incidents per month", "5m15s",
			"Vertical axis", "minutes", "median", "percentile", "Legend"} {
			if strings.Contains(ja, reject) {
				t.Errorf("the Japanese page has %q", reject)
			}
		}
	}

	// An empty selection is a page that says so, without plots.
	resp, body = s.get(t, "/insights?service=nothing")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "No postmortems match.") || strings.Contains(body, "<img") {
		t.Fatalf("empty insights: %d", resp.StatusCode)
	}
}

// The plots show in a real browser under the page's Content-Security-Policy, with no JavaScript;
// the reading list reads well on a phone.
func TestBrowserInsightsPage(t *testing.T) {
	browser := testenv.StartChromium(t)
	files := writePostmortems(t, insightPostmortems()...)
	s, _ := newLibraryService(t, files, web.Options{Insights: web.InsightsOptions{Now: func() time.Time { return insightsNow }}})
	tab := newTab(t, browser)
	run(t, tab, chromedp.Navigate(s.URL+"/insights"))
	waitFor(t, tab, `document.readyState === 'complete'`)
	waitFor(t, tab, `Array.from(document.images).every(i => i.complete)`)
	sizes := eval[[][]int](t, tab, `Array.from(document.querySelectorAll('figure.plot img')).map(i => [i.naturalWidth, i.naturalHeight])`)
	if len(sizes) != 3 {
		t.Fatalf("%d plots in the browser, want 3", len(sizes))
	}
	for i, sz := range sizes {
		if sz[0] < 100 || sz[1] < 50 {
			t.Errorf("plot %d did not load: natural size %v", i, sz)
		}
	}
	if txt := eval[string](t, tab, `document.querySelector('table.insights-months').textContent`); !strings.Contains(txt, "2026-11") {
		t.Errorf("the months table shows %q", txt)
	}

	// A Japanese reader: every word around and inside the plots is Japanese, and the legend's
	// strokes are drawn (the CSS is the page's own, allowed by its policy).
	ja := newTab(t, browser)
	navigateInJapanese(t, ja, s.URL+"/insights")
	waitFor(t, ja, `document.readyState === 'complete'`)
	waitFor(t, ja, `Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)`)
	words := eval[[]string](t, ja, `Array.from(document.querySelectorAll('figure.plot')).map(f => f.innerText + ' ' + f.querySelector('img').alt)`)
	if len(words) != 3 {
		t.Fatalf("%d Japanese plots, want 3", len(words))
	}
	latin := regexp.MustCompile(`[A-Za-z]{2,}`)
	for _, w := range words {
		if !strings.Contains(w, "縦軸") {
			t.Errorf("a Japanese plot has no axis label: %q", w)
		}
		// Months and "p90"-like tokens aside, no English word is left.
		if l := latin.FindAllString(w, -1); len(l) > 0 {
			t.Errorf("a Japanese plot's words have English %q: %q", l, w)
		}
	}
	if got := eval[string](t, ja, `getComputedStyle(document.querySelector('figure.plot .plot-line-1')).borderTopStyle`); got != "dashed" {
		t.Errorf("the legend's second stroke is %q, want dashed", got)
	}

	// The reading list on a phone: readable without sideways scrolling, the summary rendered.
	lib := writePostmortems(t, libraryPostmortems()...)
	ls, _ := newLibraryService(t, lib, web.Options{})
	phone := newTab(t, browser)
	run(t, phone, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(ls.URL+"/library"))
	waitFor(t, phone, `document.readyState === 'complete'`)
	for what, cond := range map[string]string{
		"no sideways scrolling":      `document.documentElement.scrollWidth <= document.documentElement.clientWidth`,
		"three recommended":          `document.querySelectorAll('ol.library > li').length === 3`,
		"the summary's Markdown":     `document.querySelector('[data-postmortem="20261120-checkout-1"] .synopsis strong').textContent === 'row locks'`,
		"why, in Japanese":           `document.querySelector('[data-postmortem="20261125-search-2"] .why').textContent.includes('アラートの閾値を見直した好例')`,
		"the feed for a feed reader": `document.querySelector('link[rel=alternate][type="application/atom+xml"]').getAttribute('href') === '/library.atom'`,
	} {
		if !eval[bool](t, phone, cond) {
			t.Errorf("/library lacks %s: %s", what, cond)
		}
	}
}

// manyPostmortems are n postmortems over two years, a third recommended with a summary.
func manyPostmortems(n int) []pm {
	out := make([]pm, n)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	stamp := func(t time.Time) string { return t.Format(time.RFC3339) }
	for i := range out {
		start := t0.Add(time.Duration(i) * 53 * time.Hour)
		out[i] = pm{id: "pm-" + itoa(i), title: "Incident " + itoa(i), status: []string{"draft", "reviewed", "published"}[i%3],
			services: []string{[]string{"checkout", "search", "login"}[i%3]}, severity: []string{"critical", "warning"}[i%2],
			recommended: i%3 == 0, reason: "Reason " + itoa(i), synopsis: "What happened in **incident " + itoa(i) + "**.",
			started: stamp(start), detected: stamp(start.Add(time.Duration(i%17+1) * time.Minute)),
			acknowledged: stamp(start.Add(time.Duration(i%17+3) * time.Minute)), resolved: stamp(start.Add(time.Duration(i%91+10) * time.Minute))}
	}
	return out
}

// BenchmarkInsightsAPI measures GET /api/v1/insights over 500 postmortems once their figures are
// cached (the files unchanged since the last request).
func BenchmarkInsightsAPI(b *testing.B) {
	files := writePostmortems(b, manyPostmortems(500)...)
	s, _ := newLibraryService(b, files, web.Options{})
	b.ResetTimer()
	for range b.N {
		resp, err := http.Get(s.URL + "/api/v1/insights")
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatal(err, resp.StatusCode)
		}
		resp.Body.Close()
	}
}

// BenchmarkLibraryFeed measures GET /postmortems.atom (100 entries of 500 postmortems) with the
// summaries cached.
func BenchmarkLibraryFeed(b *testing.B) {
	files := writePostmortems(b, manyPostmortems(500)...)
	s, _ := newLibraryService(b, files, web.Options{})
	b.ResetTimer()
	for range b.N {
		resp, err := http.Get(s.URL + "/postmortems.atom")
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatal(err, resp.StatusCode)
		}
		resp.Body.Close()
	}
}
