// Package insights computes figures across postmortems: how many incidents, when, where and how
// bad; how long detecting, acknowledging and resolving took; whether reviews met within 24 hours;
// and how action items fare. It reads what the documents say (their front matter, their action-item
// tables), so a time a person corrected in a document corrects the figures.
//
// It is pure computation: plain functions over values, no clock of its own, no files, HTTP, Redis or
// plotting. The caller reads the documents and draws.
package insights

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/actions"
)

// The front matter keys the figures come from. The machine-owned ones are written by postmortemd from
// the timeline; impact_started and impact_ended are people's own, outside the machine-owned block.
const (
	KeyStarted       = "started"        // the first alert's startsAt (or PagerDuty's created_at)
	KeyDetected      = "detected"       // the first alert reaching postmortemd or the first page, whichever came first
	KeyAcknowledged  = "acknowledged"   // the first acknowledgement
	KeyResolved      = "resolved"       // the incident's resolution
	KeyImpactStarted = "impact_started" // people's correction of the start
	KeyImpactEnded   = "impact_ended"   // people's correction of the end
)

// Postmortem is what the figures need from one postmortem's document.
type Postmortem struct {
	ID, Title, Status  string
	Severity, Priority string
	Services           []string
	// The machine-owned times from the timeline; nil when unknown.
	Started, Detected, Acknowledged, Resolved *time.Time
	// People's corrections; nil when not set.
	ImpactStarted, ImpactEnded *time.Time
	// Review is the review meeting as the machine-owned review block says.
	Review Review
	// ActionItems are the items of section 5's table.
	ActionItems []ActionItem
	// Problems are what could not be read (a time people wrote that does not parse); the figures
	// use what could be read. Their Postmortem is left empty (it is ID).
	Problems []Problem
}

// Review is a postmortem's review meeting.
type Review struct {
	// Start is when the meeting starts, nil when none is scheduled.
	Start *time.Time
	// Waived reports that people decided not to hold the meeting.
	Waived bool
}

// ActionItem is what the figures need of one action item.
type ActionItem struct {
	Status actions.Status
	// Overdue: open, and its due date is past in the service's time zone.
	Overdue bool
	// DueEnd is the end of the due day in the service's time zone; nil without a due date.
	DueEnd *time.Time
	// DoneAt is when the item's status last became done, as its history says (an API change, or
	// when postmortemd noticed a hand edit); nil when unknown (done before postmortemd first saw it).
	DoneAt *time.Time
}

// actionItemOf reads the figures of a parsed action item; loc is the service's time zone.
func actionItemOf(it actions.Item, loc *time.Location) ActionItem {
	a := ActionItem{Status: it.Status, Overdue: it.Overdue}
	if due, ok := it.DueDate(loc); ok {
		end := due.AddDate(0, 0, 1)
		a.DueEnd = &end
	}
	if it.Status == actions.StatusDone {
		for _, h := range it.History {
			if h.Field == "status" && h.To == string(actions.StatusDone) {
				done := h.At
				a.DoneAt = &done
			}
		}
	}
	return a
}

// frontMatter is the front matter's keys the figures read, leniently: times stay text until parsed.
type frontMatter struct {
	ID            string    `yaml:"id"`
	Title         string    `yaml:"title"`
	Status        string    `yaml:"status"`
	Severity      string    `yaml:"severity"`
	Priority      string    `yaml:"priority"`
	Services      yaml.Node `yaml:"services"`
	Started       string    `yaml:"started"`
	Detected      string    `yaml:"detected"`
	Acknowledged  string    `yaml:"acknowledged"`
	Resolved      string    `yaml:"resolved"`
	ImpactStarted string    `yaml:"impact_started"`
	ImpactEnded   string    `yaml:"impact_ended"`
	Review        *struct {
		Start  string `yaml:"start"`
		Waived bool   `yaml:"waived"`
	} `yaml:"review"`
}

// ErrNoFrontMatter is returned by Read for a document without front matter.
var ErrNoFrontMatter = errors.New("no front matter")

// Read reads a postmortem's figures from its document: the front matter and the action items, whose
// overdue state and due days are taken at now in the service's time zone loc (nil: UTC). An error
// means the front matter is missing or is not YAML; a time that does not parse is a Problem, and
// the figure falls back (a correction) or is unknown (a timeline time).
func Read(content []byte, now time.Time, loc *time.Location) (Postmortem, error) {
	if loc == nil {
		loc = time.UTC
	}
	head, _, ok := drafts.SplitFrontMatter(content)
	if !ok {
		return Postmortem{}, ErrNoFrontMatter
	}
	var fm frontMatter
	if err := yaml.Unmarshal(head, &fm); err != nil {
		return Postmortem{}, fmt.Errorf("front matter: %w", err)
	}
	p := Postmortem{ID: fm.ID, Title: fm.Title, Status: fm.Status, Severity: fm.Severity, Priority: fm.Priority,
		Services: listOf(&fm.Services)}
	at := func(key, v string) *time.Time {
		t, err := parseTime(v)
		if err != nil {
			p.Problems = append(p.Problems, Problem{Problem: fmt.Sprintf("%s: %v", key, err),
				Code: "insights.bad_time", Args: map[string]string{"Key": key, "Value": v}})
		}
		return t
	}
	p.Started, p.Detected = at(KeyStarted, fm.Started), at(KeyDetected, fm.Detected)
	p.Acknowledged, p.Resolved = at(KeyAcknowledged, fm.Acknowledged), at(KeyResolved, fm.Resolved)
	p.ImpactStarted, p.ImpactEnded = at(KeyImpactStarted, fm.ImpactStarted), at(KeyImpactEnded, fm.ImpactEnded)
	if fm.Review != nil {
		p.Review = Review{Start: at("review.start", fm.Review.Start), Waived: fm.Review.Waived}
	}
	items, err := actions.Parse(p.ID, content, now, loc)
	if err != nil {
		p.Problems = append(p.Problems, Problem{Problem: fmt.Sprintf("action items: %v", err),
			Code: "insights.action_items", Args: map[string]string{"Err": err.Error()}})
	}
	for _, it := range items {
		p.ActionItems = append(p.ActionItems, actionItemOf(it, loc))
	}
	return p, nil
}

// listOf reads a list of words, or one word as a list of one.
func listOf(n *yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		if v := strings.TrimSpace(n.Value); v != "" && n.Tag != "!!null" {
			return []string{v}
		}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind == yaml.ScalarNode && strings.TrimSpace(c.Value) != "" {
				out = append(out, strings.TrimSpace(c.Value))
			}
		}
		return out
	}
	return nil
}

// timeLayouts are the ways people write a time by hand; a time without a zone is UTC, as the
// drafts write them.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05",
	"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04Z07:00"}

// parseTime reads a front matter time; nil and no error when it is not set.
func parseTime(v string) (*time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "null" || v == "~" {
		return nil, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, fmt.Errorf("want a time such as 2026-11-23T13:31:00Z, got %q", v)
}

// Filter narrows the postmortems the figures count. Zero fields match everything.
type Filter struct {
	// From and To bound the incident's start (people's impact_started if set): From <= start < To.
	// An incident with no known start is left out when either is set.
	From, To time.Time
	// Service keeps incidents of this service (case-insensitive).
	Service string
	// Severity keeps incidents of this severity or priority (case-insensitive).
	Severity string
}

func (f Filter) matches(p Postmortem, start *time.Time) bool {
	if !f.From.IsZero() || !f.To.IsZero() {
		if start == nil || (!f.From.IsZero() && start.Before(f.From)) || (!f.To.IsZero() && !start.Before(f.To)) {
			return false
		}
	}
	if f.Service != "" && !slices.ContainsFunc(p.Services, func(s string) bool { return strings.EqualFold(s, f.Service) }) {
		return false
	}
	if f.Severity != "" && !strings.EqualFold(f.Severity, p.Severity) && !strings.EqualFold(f.Severity, p.Priority) {
		return false
	}
	return true
}

// Stats summarises durations in seconds. Median and P90 are nil when Count is 0.
type Stats struct {
	// MedianSeconds is the middle value, or the mean of the two middle values.
	MedianSeconds *float64 `json:"median_seconds"`
	// P90Seconds is the nearest-rank 90th percentile: the smallest value at least 90% of the values
	// are not above (of 10 values the 9th, of 5 the 5th).
	P90Seconds *float64 `json:"p90_seconds"`
	Count      int      `json:"count"`
}

// Durations is one duration across the postmortems: overall, per month of the incident's start,
// and which front matter keys its ends came from (key -> how many figures used it).
type Durations struct {
	Stats
	ByMonth map[string]Stats `json:"by_month"`
	Sources map[string]int   `json:"sources"`
}

// Incidents counts the postmortems by month of the start ("2026-11", UTC; "unknown" without a
// start), by service (an incident of two services counts for each; "unknown" without one) and by
// severity (the severity, else the priority, else "unknown").
type Incidents struct {
	Total      int            `json:"total"`
	ByMonth    map[string]int `json:"by_month"`
	ByService  map[string]int `json:"by_service"`
	BySeverity map[string]int `json:"by_severity"`
}

// Reviews counts review meetings of resolved incidents against the 24 hours after the resolution.
type Reviews struct {
	// HeldWithin24h: the meeting started within 24 hours of the resolution, and has started.
	HeldWithin24h int `json:"held_within_24h"`
	// Late: the meeting started (or is scheduled) more than 24 hours after the resolution, or none
	// is scheduled and the 24 hours have passed.
	Late int `json:"late"`
	// Waived: people decided not to hold it.
	Waived int `json:"waived"`
	// Pending: within the 24 hours, the meeting is scheduled in time but not yet started, or not
	// yet scheduled.
	Pending int `json:"pending"`
}

// ActionItems counts the action items of the counted postmortems.
type ActionItems struct {
	Total  int `json:"total"`
	Open   int `json:"open"`
	Done   int `json:"done"`
	WontDo int `json:"wont_do"`
	// Overdue are open items past their due date (counted in Open too).
	Overdue int `json:"overdue"`
	// DoneByDueDate is how items with a due date fared against it.
	DoneByDueDate DueDateShare `json:"done_by_due_date"`
}

// DueDateShare is the share of action items done by their due date, among the items whose outcome
// against the date is known: done (with the day it was done known) or open past the date. Open
// items not yet due and won't-do items (an agreed decision) are not counted.
type DueDateShare struct {
	// Share is OnTime / (OnTime + Late), null when both are 0.
	Share *float64 `json:"share"`
	// OnTime were done by the end of their due day.
	OnTime int `json:"on_time"`
	// Late were done after it, or are open and overdue.
	Late int `json:"late"`
	// DoneDateUnknown are done items whose history does not say when (done before postmortemd first
	// saw the row): they are not in Share.
	DoneDateUnknown int `json:"done_date_unknown"`
	// NoDueDate are done or open items without a due date: they are not in Share.
	NoDueDate int `json:"no_due_date"`
}

// Figure is one duration of one postmortem, and the keys its ends came from.
type Figure struct {
	Seconds int64  `json:"seconds"`
	From    string `json:"from"`
	To      string `json:"to"`
}

// Figures are one postmortem's durations, so a reader can check what the statistics counted.
type Figures struct {
	ID                string  `json:"id"`
	Title             string  `json:"title"`
	Month             string  `json:"month"`
	TimeToDetect      *Figure `json:"time_to_detect"`
	TimeToAcknowledge *Figure `json:"time_to_acknowledge"`
	TimeToResolve     *Figure `json:"time_to_resolve"`
	// Review is held_within_24h, late, waived or pending; "" for an unresolved incident.
	Review string `json:"review"`
}

// Problem is something about one postmortem that kept a figure out, or a value that did not parse.
type Problem struct {
	Postmortem string `json:"postmortem"`
	// Problem says it in English.
	Problem string `json:"problem"`
	// Code and Args say it as a message of postmortemd's catalogues (internal/i18n), which pages
	// say in the reader's language; the Args are machine values (keys, RFC 3339 times).
	Code string            `json:"code,omitempty"`
	Args map[string]string `json:"args,omitempty"`
}

// Report is the figures across the postmortems a Filter kept.
type Report struct {
	Incidents         Incidents   `json:"incidents"`
	TimeToDetect      Durations   `json:"time_to_detect"`
	TimeToAcknowledge Durations   `json:"time_to_acknowledge"`
	TimeToResolve     Durations   `json:"time_to_resolve"`
	Reviews           Reviews     `json:"reviews"`
	ActionItems       ActionItems `json:"action_items"`
	// Postmortems are each counted postmortem's figures, newest start first.
	Postmortems []Figures `json:"postmortems"`
	Problems    []Problem `json:"problems"`
}

// unknown names a missing month, service or severity.
const unknown = "unknown"

// Month is the month a time falls in, in UTC ("2026-11").
func Month(t time.Time) string { return t.UTC().Format("2006-01") }

// Compute returns the figures of the postmortems f keeps. now decides whether a review's 24 hours
// have passed.
func Compute(pms []Postmortem, f Filter, now time.Time) Report {
	r := Report{
		Incidents:   Incidents{ByMonth: map[string]int{}, ByService: map[string]int{}, BySeverity: map[string]int{}},
		Postmortems: []Figures{},
		Problems:    []Problem{},
	}
	type sample struct {
		month string
		secs  float64
	}
	var ttd, tta, ttr []sample
	r.TimeToDetect.Sources, r.TimeToAcknowledge.Sources, r.TimeToResolve.Sources = map[string]int{}, map[string]int{}, map[string]int{}
	for _, p := range pms {
		start, startKey := p.Started, KeyStarted
		if p.ImpactStarted != nil {
			start, startKey = p.ImpactStarted, KeyImpactStarted
		}
		end, endKey := p.Resolved, KeyResolved
		if p.ImpactEnded != nil {
			end, endKey = p.ImpactEnded, KeyImpactEnded
		}
		if !f.matches(p, start) {
			continue
		}
		for _, pr := range p.Problems {
			pr.Postmortem = p.ID
			r.Problems = append(r.Problems, pr)
		}
		month := unknown
		if start != nil {
			month = Month(*start)
		}
		r.Incidents.Total++
		r.Incidents.ByMonth[month]++
		if len(p.Services) == 0 {
			r.Incidents.ByService[unknown]++
		}
		for _, s := range uniqueFold(p.Services) {
			r.Incidents.ByService[s]++
		}
		r.Incidents.BySeverity[cmp.Or(p.Severity, p.Priority, unknown)]++

		fig := Figures{ID: p.ID, Title: p.Title, Month: month}
		// span measures one duration, or says why it cannot.
		span := func(name string, from *time.Time, fromKey string, to *time.Time, toKey string, d *Durations, into *[]sample) *Figure {
			if from == nil || to == nil {
				return nil
			}
			if to.Before(*from) {
				r.Problems = append(r.Problems, Problem{Postmortem: p.ID, Problem: fmt.Sprintf("%s left out: %s (%s) is before %s (%s)",
					name, toKey, to.Format(time.RFC3339), fromKey, from.Format(time.RFC3339)),
					Code: "insights.before", Args: map[string]string{"Figure": name, "To": toKey, "ToAt": to.Format(time.RFC3339),
						"From": fromKey, "FromAt": from.Format(time.RFC3339)}})
				return nil
			}
			secs := int64(to.Sub(*from) / time.Second)
			*into = append(*into, sample{month, float64(secs)})
			d.Sources[fromKey]++
			d.Sources[toKey]++
			return &Figure{Seconds: secs, From: fromKey, To: toKey}
		}
		fig.TimeToDetect = span("time_to_detect", start, startKey, p.Detected, KeyDetected, &r.TimeToDetect, &ttd)
		fig.TimeToAcknowledge = span("time_to_acknowledge", p.Detected, KeyDetected, p.Acknowledged, KeyAcknowledged, &r.TimeToAcknowledge, &tta)
		fig.TimeToResolve = span("time_to_resolve", start, startKey, end, endKey, &r.TimeToResolve, &ttr)
		fig.Review = reviewOf(p, now)
		switch fig.Review {
		case "held_within_24h":
			r.Reviews.HeldWithin24h++
		case "late":
			r.Reviews.Late++
		case "waived":
			r.Reviews.Waived++
		case "pending":
			r.Reviews.Pending++
		}
		r.Postmortems = append(r.Postmortems, fig)
		for _, it := range p.ActionItems {
			r.ActionItems.add(it)
		}
	}
	if n := r.ActionItems.DoneByDueDate.OnTime + r.ActionItems.DoneByDueDate.Late; n > 0 {
		share := float64(r.ActionItems.DoneByDueDate.OnTime) / float64(n)
		r.ActionItems.DoneByDueDate.Share = &share
	}
	fillMonths(r.Incidents.ByMonth)
	months := slices.Sorted(maps.Keys(r.Incidents.ByMonth))
	summarise := func(d *Durations, samples []sample) {
		all := make([]float64, len(samples))
		per := map[string][]float64{}
		for i, s := range samples {
			all[i] = s.secs
			per[s.month] = append(per[s.month], s.secs)
		}
		d.Stats = Summarise(all)
		d.ByMonth = make(map[string]Stats, len(months))
		for _, m := range months {
			d.ByMonth[m] = Summarise(per[m])
		}
	}
	summarise(&r.TimeToDetect, ttd)
	summarise(&r.TimeToAcknowledge, tta)
	summarise(&r.TimeToResolve, ttr)
	slices.SortStableFunc(r.Postmortems, func(a, b Figures) int {
		return cmp.Or(strings.Compare(b.Month, a.Month), strings.Compare(b.ID, a.ID))
	})
	return r
}

// reviewOf classifies a resolved incident's review meeting; "" for an unresolved incident. The
// resolution is the incident's (resolved), or people's impact_ended when the timeline has none.
func reviewOf(p Postmortem, now time.Time) string {
	resolved := p.Resolved
	if resolved == nil {
		resolved = p.ImpactEnded
	}
	switch {
	case resolved == nil:
		return ""
	case p.Review.Waived:
		return "waived"
	}
	deadline := resolved.Add(24 * time.Hour)
	if s := p.Review.Start; s != nil {
		switch {
		case s.After(deadline):
			return "late"
		case !s.After(now):
			return "held_within_24h"
		}
		return "pending"
	}
	if now.After(deadline) {
		return "late"
	}
	return "pending"
}

// Summarise returns the median, nearest-rank 90th percentile and count of values (seconds).
func Summarise(values []float64) Stats {
	if len(values) == 0 {
		return Stats{}
	}
	v := slices.Clone(values)
	slices.Sort(v)
	n := len(v)
	median := v[n/2]
	if n%2 == 0 {
		median = (v[n/2-1] + v[n/2]) / 2
	}
	p90 := v[int(math.Ceil(0.9*float64(n)))-1]
	return Stats{MedianSeconds: &median, P90Seconds: &p90, Count: n}
}

// uniqueFold drops repeated words, case-insensitively, keeping the first spelling.
func uniqueFold(words []string) []string {
	var out []string
	for _, w := range words {
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, w) }) {
			out = append(out, w)
		}
	}
	return out
}

// fillMonths adds the months without incidents between the first and the last, so a month without
// incidents reads as 0 rather than missing.
func fillMonths(byMonth map[string]int) {
	var first, last time.Time
	for m := range byMonth {
		t, err := time.Parse("2006-01", m)
		if err != nil {
			continue // unknown
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	for t := first; !first.IsZero() && !t.After(last); t = t.AddDate(0, 1, 0) {
		if _, ok := byMonth[Month(t)]; !ok {
			byMonth[Month(t)] = 0
		}
	}
}

func (a *ActionItems) add(it ActionItem) {
	a.Total++
	d := &a.DoneByDueDate
	switch it.Status {
	case actions.StatusWontDo:
		a.WontDo++
		return
	case actions.StatusDone:
		a.Done++
		switch {
		case it.DueEnd == nil:
			d.NoDueDate++
		case it.DoneAt == nil:
			d.DoneDateUnknown++
		case it.DoneAt.Before(*it.DueEnd):
			d.OnTime++
		default:
			d.Late++
		}
		return
	}
	a.Open++
	switch {
	case it.DueEnd == nil:
		d.NoDueDate++
	case it.Overdue:
		a.Overdue++
		d.Late++
	}
}
