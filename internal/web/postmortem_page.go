package web

// The postmortem page's header: the front matter in words a person reads (no YAML, no null), and
// the other front matter fields in a table below it.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// postmortemHeader is what the top of a postmortem page says about it.
type postmortemHeader struct {
	Title, Status, IncidentStatus string
	Severity, Priority            string
	Services, Tags                []string
	Recommended                   bool
	Times                         []headerTime
	Systems, Responders           []string
	Review                        *headerReview
	Sources                       []sourceLink
	Labels                        []string
}

// headerTime is one moment of the incident, and how long after the start it came.
type headerTime struct {
	// LabelID is the label's message id ("ui.detected").
	LabelID string
	At      time.Time
	// AfterID is the message that says how long after the start ("time to detect 1s"), with the
	// duration After as written in the front matter; "" for the start.
	AfterID, After string
}

type headerReview struct {
	Start, End time.Time
	TimeZone   string
	Waived     bool
}

// headerKeys are the front matter keys the header shows; the table below lists the others.
var headerKeys = []string{"id", "title", "status", "incident_status", "severity", "priority", "services", "tags",
	"recommended", "started", "detected", "acknowledged", "resolved", "time_to_detect", "time_to_acknowledge",
	"time_to_resolve", "roles", "review", "sources", "labels"}

// newPostmortemHeader reads the header from a front matter mapping; values of a shape a hand edit
// made unexpected are left out, never shown raw.
func newPostmortemHeader(m map[string]any) postmortemHeader {
	h := postmortemHeader{Title: str(m["title"]), Status: str(m["status"]), IncidentStatus: str(m["incident_status"]),
		Severity: str(m["severity"]), Priority: str(m["priority"]), Services: strs(m["services"]), Tags: strs(m["tags"])}
	h.Recommended, _ = m["recommended"].(bool)
	for _, t := range []struct{ key, label, after string }{
		{"started", "ui.started", ""},
		{"detected", "ui.detected", "time_to_detect"},
		{"acknowledged", "ui.acknowledged", "time_to_acknowledge"},
		{"resolved", "ui.resolved", "time_to_resolve"},
	} {
		at, ok := timeOf(m[t.key])
		if !ok {
			continue
		}
		ht := headerTime{LabelID: t.label, At: at}
		if d := str(m[t.after]); d != "" {
			ht.AfterID, ht.After = "ui."+t.after, d
		}
		h.Times = append(h.Times, ht)
	}
	if roles, ok := m["roles"].(map[string]any); ok {
		h.Systems, h.Responders = strs(roles["systems"]), strs(roles["responders"])
	}
	if rv, ok := m["review"].(map[string]any); ok {
		start, ok1 := timeOf(rv["start"])
		end, _ := timeOf(rv["end"])
		if ok1 {
			h.Review = &headerReview{Start: start, End: end, TimeZone: str(rv["time_zone"])}
			h.Review.Waived, _ = rv["waived"].(bool)
		}
	}
	if srcs, ok := m["sources"].([]any); ok {
		for _, s := range srcs {
			sm, ok := s.(map[string]any)
			if !ok {
				continue
			}
			if u := webURL(str(sm["url"])); u != "" && str(sm["name"]) != "" {
				h.Sources = append(h.Sources, sourceLink{Name: str(sm["name"]), URL: u})
			}
		}
	}
	if labels, ok := m["labels"].(map[string]any); ok {
		for k, v := range labels {
			if s := str(v); s != "" {
				h.Labels = append(h.Labels, k+"="+s)
			}
		}
		slices.Sort(h.Labels)
	}
	return h
}

// str is a scalar as text; "" for null, lists and mappings.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int, int64, uint64, float64:
		return fmt.Sprint(x)
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return ""
}

// strs is a list of scalars (or one scalar) as text, empty entries dropped.
func strs(v any) []string {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s := str(e); s != "" {
				out = append(out, s)
			}
		}
		return out
	case string:
		if x != "" {
			return []string{x}
		}
	}
	return nil
}

func timeOf(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		t, err := time.Parse(time.RFC3339, x)
		return t, err == nil
	}
	return time.Time{}, false
}

// frontMatterMap decodes a front matter mapping, nil if it is not one.
func frontMatterMap(head []byte) map[string]any {
	var m map[string]any
	if yaml.Unmarshal(head, &m) != nil {
		return nil
	}
	return m
}

// otherFields are the front matter fields the header does not show, as key/value lines; values
// that are not text (a mapping someone added) are shown as one line of text, never as YAML blocks.
func otherFields(fields []frontMatterField) []frontMatterField {
	out := make([]frontMatterField, 0, len(fields))
	for _, f := range fields {
		v := strings.TrimSpace(f.Value)
		if slices.Contains(headerKeys, f.Key) || v == "" || v == "null" {
			continue
		}
		out = append(out, frontMatterField{Key: f.Key, Value: strings.Join(strings.Split(v, "\n"), "; ")})
	}
	return out
}
