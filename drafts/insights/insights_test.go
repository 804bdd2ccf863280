package insights_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/drafts/actions"
	"github.com/postmortemd/postmortemd/drafts/insights"
)

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func f(v float64) *float64 { return &v }

func stats(median, p90 float64, n int) insights.Stats {
	return insights.Stats{MedianSeconds: f(median), P90Seconds: f(p90), Count: n}
}

// known is a set of seven postmortems whose figures are worked out by hand below.
//
//	   start (source)             detect  ack(from detect)  resolve (source)           review
//	A  10-03 10:00 started        60      300               3600 resolved              held 23h after
//	B  10-10 00:00 started        120     180               5400 impact_ended          3 days after: late
//	C  11-01 11:50 impact_started 630     90                4200 resolved              waived
//	D  11-15 08:00 started        30      -                 1200 resolved              none, 24h passed: late
//	E  11-20 20:00 started        600     60                - (unresolved)             -
//	F  12-01 09:00 started        10      120               2400 resolved              at 15:00, not yet: pending
//	G  12-01 00:10 impact_started left out (detected 00:05 is before the start)
//	                                      60                1200 resolved              none, within 24h: pending
var known = []insights.Postmortem{
	{ID: "A", Severity: "critical", Services: []string{"checkout"},
		Started: at("2026-10-03T10:00:00Z"), Detected: at("2026-10-03T10:01:00Z"), Acknowledged: at("2026-10-03T10:06:00Z"),
		Resolved: at("2026-10-03T11:00:00Z"), Review: insights.Review{Start: at("2026-10-04T10:00:00Z")}},
	{ID: "B", Severity: "critical", Services: []string{"checkout", "search"},
		Started: at("2026-10-10T00:00:00Z"), Detected: at("2026-10-10T00:02:00Z"), Acknowledged: at("2026-10-10T00:05:00Z"),
		Resolved: at("2026-10-10T02:00:00Z"), ImpactEnded: at("2026-10-10T01:30:00Z"), Review: insights.Review{Start: at("2026-10-13T10:00:00Z")}},
	{ID: "C", Severity: "warning", Services: []string{"search"},
		Started: at("2026-11-01T12:00:00Z"), ImpactStarted: at("2026-11-01T11:50:00Z"), Detected: at("2026-11-01T12:00:30Z"),
		Acknowledged: at("2026-11-01T12:02:00Z"), Resolved: at("2026-11-01T13:00:00Z"), Review: insights.Review{Waived: true}},
	{ID: "D", Priority: "P2", Services: []string{"login"},
		Started: at("2026-11-15T08:00:00Z"), Detected: at("2026-11-15T08:00:30Z"), Resolved: at("2026-11-15T08:20:00Z")},
	{ID: "E", Severity: "critical", Services: []string{"checkout"},
		Started: at("2026-11-20T20:00:00Z"), Detected: at("2026-11-20T20:10:00Z"), Acknowledged: at("2026-11-20T20:11:00Z")},
	{ID: "F", Severity: "warning", Services: []string{"search"},
		Started: at("2026-12-01T09:00:00Z"), Detected: at("2026-12-01T09:00:10Z"), Acknowledged: at("2026-12-01T09:02:10Z"),
		Resolved: at("2026-12-01T09:40:00Z"), Review: insights.Review{Start: at("2026-12-01T15:00:00Z")}},
	{ID: "G", Services: []string{"payments"},
		Started: at("2026-12-01T00:00:00Z"), ImpactStarted: at("2026-12-01T00:10:00Z"), Detected: at("2026-12-01T00:05:00Z"),
		Acknowledged: at("2026-12-01T00:06:00Z"), Resolved: at("2026-12-01T00:30:00Z")},
}

var now = *at("2026-12-01T12:00:00Z")

func TestComputeKnownSet(t *testing.T) {
	r := insights.Compute(known, insights.Filter{}, now)

	wantIncidents := insights.Incidents{Total: 7,
		ByMonth:    map[string]int{"2026-10": 2, "2026-11": 3, "2026-12": 2},
		ByService:  map[string]int{"checkout": 3, "search": 3, "login": 1, "payments": 1},
		BySeverity: map[string]int{"critical": 3, "warning": 2, "P2": 1, "unknown": 1}}
	if !reflect.DeepEqual(r.Incidents, wantIncidents) {
		t.Errorf("incidents = %+v, want %+v", r.Incidents, wantIncidents)
	}

	tests := []struct {
		name string
		got  insights.Durations
		want insights.Durations
	}{
		// 10 30 60 120 600 630: median (60+120)/2, p90 the ceil(0.9*6) = 6th value.
		{"time to detect", r.TimeToDetect, insights.Durations{Stats: stats(90, 630, 6),
			ByMonth: map[string]insights.Stats{
				"2026-10": stats(90, 120, 2),  // 60 120
				"2026-11": stats(600, 630, 3), // 30 600 630: the middle one; p90 the 3rd
				"2026-12": stats(10, 10, 1),   // G is left out
			},
			Sources: map[string]int{"started": 5, "impact_started": 1, "detected": 6}}},
		// 60 60 90 120 180 300 (D was never acknowledged).
		{"time to acknowledge", r.TimeToAcknowledge, insights.Durations{Stats: stats(105, 300, 6),
			ByMonth: map[string]insights.Stats{
				"2026-10": stats(240, 300, 2), // 180 300
				"2026-11": stats(75, 90, 2),   // 60 90
				"2026-12": stats(90, 120, 2),  // 60 120
			},
			Sources: map[string]int{"detected": 6, "acknowledged": 6}}},
		// 1200 1200 2400 3600 4200 5400 (E is unresolved).
		{"time to resolve", r.TimeToResolve, insights.Durations{Stats: stats(3000, 5400, 6),
			ByMonth: map[string]insights.Stats{
				"2026-10": stats(4500, 5400, 2), // 3600 5400
				"2026-11": stats(2700, 4200, 2), // 1200 4200
				"2026-12": stats(1800, 2400, 2), // 1200 2400
			},
			Sources: map[string]int{"started": 4, "impact_started": 2, "resolved": 5, "impact_ended": 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				g, _ := json.Marshal(tt.got)
				w, _ := json.Marshal(tt.want)
				t.Errorf("\n got %s\nwant %s", g, w)
			}
		})
	}

	if want := (insights.Reviews{HeldWithin24h: 1, Late: 2, Waived: 1, Pending: 2}); r.Reviews != want {
		t.Errorf("reviews = %+v, want %+v", r.Reviews, want)
	}
	if len(r.Problems) != 1 || r.Problems[0].Postmortem != "G" || !strings.Contains(r.Problems[0].Problem, "time_to_detect left out: detected") {
		t.Errorf("problems = %+v", r.Problems)
	}
	// Each postmortem's figures say where they came from, newest first.
	var ids []string
	for _, p := range r.Postmortems {
		ids = append(ids, p.ID)
	}
	if got := strings.Join(ids, ""); got != "GFEDCBA" {
		t.Errorf("postmortems in order %s", got)
	}
	c := r.Postmortems[4]
	if c.ID != "C" || *c.TimeToDetect != (insights.Figure{Seconds: 630, From: "impact_started", To: "detected"}) ||
		*c.TimeToResolve != (insights.Figure{Seconds: 4200, From: "impact_started", To: "resolved"}) || c.Review != "waived" {
		t.Errorf("C's figures %+v", c)
	}
	if e := r.Postmortems[2]; e.TimeToResolve != nil || e.Review != "" {
		t.Errorf("an unresolved incident has no time to resolve nor review: %+v", e)
	}
}

func TestComputeFilters(t *testing.T) {
	tests := []struct {
		name   string
		filter insights.Filter
		want   string // the counted postmortems
	}{
		{"service, any case", insights.Filter{Service: "SEARCH"}, "FCB"},
		{"severity matches the priority too", insights.Filter{Severity: "p2"}, "D"},
		{"from and to bound the start, impact_started when set", insights.Filter{From: *at("2026-11-01T11:50:00Z"), To: *at("2026-11-20T20:00:00Z")}, "DC"},
		{"to is exclusive", insights.Filter{To: *at("2026-10-10T00:00:00Z")}, "A"},
		{"all of them", insights.Filter{Service: "checkout", Severity: "critical", From: *at("2026-10-04T00:00:00Z")}, "EB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := insights.Compute(known, tt.filter, now)
			var got string
			for _, p := range r.Postmortems {
				got += p.ID
			}
			if got != tt.want || r.Incidents.Total != len(tt.want) {
				t.Errorf("counted %s (total %d), want %s", got, r.Incidents.Total, tt.want)
			}
		})
	}
}

func TestComputeEmptyAndGaps(t *testing.T) {
	if got := insights.Summarise(nil); got.MedianSeconds != nil || got.P90Seconds != nil || got.Count != 0 {
		t.Errorf("Summarise(nil) = %+v", got)
	}
	r := insights.Compute(nil, insights.Filter{}, now)
	b, _ := json.Marshal(r.TimeToResolve)
	if string(b) != `{"median_seconds":null,"p90_seconds":null,"count":0,"by_month":{},"sources":{}}` {
		t.Errorf("no postmortems: %s", b)
	}
	// A month without incidents between two with incidents reads as 0, its durations as empty.
	r = insights.Compute([]insights.Postmortem{
		{ID: "jan", Started: at("2026-01-31T23:00:00Z"), Resolved: at("2026-02-01T01:00:00Z")},
		{ID: "mar", Started: at("2026-03-01T00:00:00Z")},
		{ID: "none"},
	}, insights.Filter{}, now)
	if want := map[string]int{"2026-01": 1, "2026-02": 0, "2026-03": 1, "unknown": 1}; !reflect.DeepEqual(r.Incidents.ByMonth, want) {
		t.Errorf("by month %v, want %v", r.Incidents.ByMonth, want)
	}
	if got := r.TimeToResolve.ByMonth; !reflect.DeepEqual(got["2026-01"], stats(7200, 7200, 1)) || got["2026-02"].Count != 0 || got["2026-02"].MedianSeconds != nil {
		t.Errorf("time to resolve by month %+v", got)
	}
}

func TestSummarise(t *testing.T) {
	tests := []struct {
		values      []float64
		median, p90 float64
	}{
		{[]float64{5}, 5, 5},
		{[]float64{30, 10}, 20, 30},
		{[]float64{3, 1, 2}, 2, 3},
		// Ten values: the median is between the 5th and 6th, p90 is the 9th.
		{[]float64{100, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 5.5, 9},
		// Eleven: the 6th; p90 is the ceil(9.9) = 10th.
		{[]float64{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 6, 10},
	}
	for _, tt := range tests {
		got := insights.Summarise(tt.values)
		if !reflect.DeepEqual(got, stats(tt.median, tt.p90, len(tt.values))) {
			t.Errorf("Summarise(%v) = median %v p90 %v, want %v %v", tt.values, *got.MedianSeconds, *got.P90Seconds, tt.median, tt.p90)
		}
	}
}

func TestRead(t *testing.T) {
	b, err := os.ReadFile("../testdata/story.en.md")
	if err != nil {
		t.Fatal(err)
	}
	p, err := insights.Read(b, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := insights.Postmortem{ID: "20261123-highlatency-5eed0001", Title: "HighLatency: p99 latency above 2s", Status: "draft",
		Severity: "P1", Priority: "P1", Services: []string{"checkout"},
		Started: at("2026-11-23T13:31:41Z"), Detected: at("2026-11-23T13:31:42Z"), Acknowledged: at("2026-11-23T13:34:09Z"),
		Resolved: at("2026-11-23T14:49:30Z")}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("Read = %+v\nwant %+v", p, want)
	}

	// People's corrections sit outside the machine-owned block, written by hand.
	edited := strings.Replace(string(b), "recommended: false\n", "recommended: false\nimpact_started: 2026-11-23 13:20\nimpact_ended: yesterday\n", 1)
	edited = strings.Replace(edited, "# postmortemd:end attributes\n", "review:\n  start: 2026-11-24T01:00:00Z\n  waived: true\n# postmortemd:end attributes\n", 1)
	p, err = insights.Read([]byte(edited), now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !p.ImpactStarted.Equal(*at("2026-11-23T13:20:00Z")) || p.ImpactEnded != nil || !p.Review.Waived || !p.Review.Start.Equal(*at("2026-11-24T01:00:00Z")) {
		t.Fatalf("edited: %+v", p)
	}
	if len(p.Problems) != 1 || !strings.HasPrefix(p.Problems[0].Problem, `impact_ended: want a time such as`) || p.Problems[0].Code != "insights.bad_time" {
		t.Fatalf("problems %q", p.Problems)
	}
	if _, err := insights.Read([]byte("no front matter"), now, nil); err == nil {
		t.Fatal("a document without front matter read")
	}
	if _, err := insights.Read([]byte("---\nid: [\n---\n"), now, nil); err == nil {
		t.Fatal("front matter that is not YAML read")
	}
}

// Action items are read from section 5 as people left it, and an item marked done through the API
// carries the day it was done in its history.
func TestActionItemsFromDocuments(t *testing.T) {
	doc, err := os.ReadFile("../actions/testdata/filled.en.md")
	if err != nil {
		t.Fatal(err)
	}
	// Five items: open due 12-10 (not yet due), open due 11-20 (overdue), open with no due date,
	// won't do, and done (by hand: when is unknown).
	p, err := insights.Read(doc, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := insights.Compute([]insights.Postmortem{p}, insights.Filter{}, now)
	want := insights.ActionItems{Total: 5, Open: 3, Done: 1, WontDo: 1, Overdue: 1,
		DoneByDueDate: insights.DueDateShare{Share: f(0), OnTime: 0, Late: 1, DoneDateUnknown: 1, NoDueDate: 1}}
	if !reflect.DeepEqual(r.ActionItems, want) {
		g, _ := json.Marshal(r.ActionItems)
		t.Fatalf("action items %s", g)
	}

	// The item due 12-10 is done through the API on 12-02: on time. 1 on time, 1 late: a half.
	items, err := actions.Parse(p.ID, doc, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, it := range items {
		if it.Due == "2026-12-10" {
			id = it.ID
		}
	}
	done := actions.StatusDone
	doc, _, err = actions.Parser{}.Apply(p.ID, doc, id, actions.Patch{Status: &done}, *at("2026-12-02T09:00:00Z"), nil)
	if err != nil {
		t.Fatal(err)
	}
	later := *at("2026-12-03T00:00:00Z")
	p, err = insights.Read(doc, later, nil)
	if err != nil {
		t.Fatal(err)
	}
	r = insights.Compute([]insights.Postmortem{p}, insights.Filter{}, later)
	want = insights.ActionItems{Total: 5, Open: 2, Done: 2, WontDo: 1, Overdue: 1,
		DoneByDueDate: insights.DueDateShare{Share: f(0.5), OnTime: 1, Late: 1, DoneDateUnknown: 1, NoDueDate: 1}}
	if !reflect.DeepEqual(r.ActionItems, want) {
		g, _ := json.Marshal(r.ActionItems)
		t.Fatalf("after one is done on time: %s", g)
	}
}

func TestActionItemsDueDates(t *testing.T) {
	dueEnd := at("2026-11-20T15:00:00Z") // the end of 2026-11-20 in Tokyo
	tests := []struct {
		name string
		item insights.ActionItem
		want insights.DueDateShare
	}{
		{"done on the due day, late evening in Tokyo", insights.ActionItem{Status: actions.StatusDone, DueEnd: dueEnd, DoneAt: at("2026-11-20T14:59:59Z")},
			insights.DueDateShare{Share: f(1), OnTime: 1}},
		{"done the next day in Tokyo", insights.ActionItem{Status: actions.StatusDone, DueEnd: dueEnd, DoneAt: at("2026-11-20T15:00:00Z")},
			insights.DueDateShare{Share: f(0), Late: 1}},
		{"open, not yet due", insights.ActionItem{Status: actions.StatusOpen, DueEnd: dueEnd}, insights.DueDateShare{}},
		{"won't do is a decision, not a miss", insights.ActionItem{Status: actions.StatusWontDo, DueEnd: dueEnd}, insights.DueDateShare{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := insights.Compute([]insights.Postmortem{{ID: "x", ActionItems: []insights.ActionItem{tt.item}}}, insights.Filter{}, now)
			if !reflect.DeepEqual(r.ActionItems.DoneByDueDate, tt.want) {
				g, _ := json.Marshal(r.ActionItems.DoneByDueDate)
				t.Errorf("got %s", g)
			}
		})
	}
}
