package drafts

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// Limits on untrusted text, so one huge label or note cannot make a draft unreadable. Facts are
// already bounded by the receiver; these bound what the draft adds from attributes.
const (
	maxValue      = 256  // a label value, a summary, a role, a name
	maxLongText   = 2000 // a description
	maxFact       = 4000 // a fact or a note
	maxAlerts     = 20   // alerts listed in the summary
	maxGenerators = 10   // generator URLs listed as sources and tools
)

// Data is what a draft template receives. Every untrusted string is a Text or a Link, which print
// escaped; everything else is postmortemd's own wording or a time.
type Data struct {
	ID, Title, Severity, Priority Text
	// IncidentStatus is the timeline's status of the incident (open, acknowledged, resolved);
	// StatusText says it in the draft's language.
	IncidentStatus string
	StatusText     string
	Services       Texts
	Labels         []Label
	// Sources are the systems that reported the incident, with links where they have one.
	Sources []Source
	// Started is the incident's start (the earliest alert's startsAt or PagerDuty's created_at);
	// Detected the earlier of the first alert's arrival at postmortemd (alert_firing's recorded_at)
	// and PagerDuty's incident_triggered; Acknowledged the first incident_acknowledged; Resolved the
	// incident's resolved_at. Detected is never before Started nor after Resolved: when the alert
	// reached postmortemd only after the resolution (an outage, retries), its arrival says nothing
	// about detection, and Detected is the trigger if there is one before the resolution, else the
	// alert's own start (DetectedLate is then true).
	Started, Detected, Acknowledged, Resolved Stamp
	// DetectedLate reports that postmortemd received the first alert only after the resolution, so
	// Detected falls back as described above.
	DetectedLate bool
	// TimeToDetect, TimeToAcknowledge and TimeToResolve are measured from Started.
	TimeToDetect, TimeToAcknowledge, TimeToResolve Span
	// Systems and Responders are the roles on the timeline, monitoring systems and automation apart
	// from people's duties, in order of first appearance.
	Systems, Responders Texts
	// Alerts are the alerts that fired (at most 20; MoreAlerts counts the rest).
	Alerts     []Alert
	MoreAlerts int
	// PagerDutyNumber is PagerDuty's incident number, "" if PagerDuty did not report it.
	PagerDutyNumber string
	// Facts are what systems reported; Context is what people wrote (notes, status updates).
	Facts, Context []Line
	// Decisions are the decision points the timeline shows: the steps people took (acknowledge,
	// escalate, reassign, delegate, priority, responder, role, resolve, reopen), the alerts stopping
	// (recovered: Alertmanager reported the group resolved) and what people wrote at the time (note).
	Decisions []Decision
	// Tools are the software and tools the timeline shows were used.
	Tools []Tool
	// Review is the scheduled review meeting, nil until one is scheduled.
	Review *ReviewData
	// Empty reports a timeline without events.
	Empty bool
}

// Label is one of the incident's common labels.
type Label struct{ Name, Value Text }

// Source is a system that reported the incident: Kind is alertmanager, pagerduty or generator.
type Source struct {
	Kind string
	Name Text
	ID   Text
	Link Link
}

// Alert is one alert that fired, from its alert_firing fact.
type Alert struct {
	Name, Severity, Summary, Description Text
	// Labels are the alert's other labels, "service=checkout, instance=inst-1".
	Labels    Text
	Starts    Stamp
	Generator Link
	Runbook   Link
}

// Line is one event of the walkthrough. When is the UTC time of day, with the date in front on the
// first line and whenever the date changes.
type Line struct {
	When string
	At   Stamp
	Role Text
	Fact Text
	// Type is the event type (alert_firing, note, ...); Source its sender.
	Type   string
	Source string
}

// Decision is a decision point as the timeline shows it. Action is one of decisionActions' values,
// "recovered" or "note"; Step reports a step a person took (not a note, not the alerts stopping).
type Decision struct {
	When   string
	At     Stamp
	Action string
	Step   bool
	Role   Text
	Fact   Text
}

// Tool is software the timeline shows was used: Kind is runbook, dashboard, generator, conference,
// integration or automation.
type Tool struct {
	Kind string
	Name Text
	Link Link
}

// ReviewData is the scheduled review as a template sees it.
type ReviewData struct {
	Start, End Stamp
	TimeZone   Text
	Reason     Text
	// Local is the start and end in TimeZone ("2026-11-24 10:00–11:00 JST"), "" when the zone is
	// unknown here.
	Local string
	// Waived reports a meeting people decided not to hold; WaiveReason says why.
	Waived      bool
	WaiveReason Text
	// Roles are the invited attendees' roles.
	Roles Texts
}

// Stamp is a point in time, shown in UTC, written as the draft's language writes dates.
type Stamp struct {
	t time.Time
	p i18n.Printer
}

// Set reports whether the time is known.
func (s Stamp) Set() bool { return !s.t.IsZero() }

// RFC3339 returns the time as UTC RFC 3339 with seconds, "" when unknown.
func (s Stamp) RFC3339() string {
	if !s.Set() {
		return ""
	}
	return s.t.UTC().Format(time.RFC3339)
}

// YAML returns the time as an unquoted UTC RFC 3339 timestamp, or null.
func (s Stamp) YAML() string {
	if !s.Set() {
		return "null"
	}
	return s.RFC3339()
}

// DateTime returns "2006-01-02 15:04:05" in UTC, "" when unknown.
func (s Stamp) DateTime() string {
	if !s.Set() {
		return ""
	}
	return s.p.DateTime(s.t.UTC())
}

// Date returns the UTC date, "" when unknown.
func (s Stamp) Date() string {
	if !s.Set() {
		return ""
	}
	return s.p.Date(s.t.UTC())
}

// Clock returns the UTC time of day, "15:04:05", "" when unknown.
func (s Stamp) Clock() string {
	if !s.Set() {
		return ""
	}
	return s.p.Clock(s.t.UTC())
}

// Span is a duration between two timeline points, rounded to seconds.
type Span struct {
	d   time.Duration
	set bool
	p   i18n.Printer
}

func span(p i18n.Printer, from, to time.Time) Span {
	if from.IsZero() || to.IsZero() {
		return Span{}
	}
	return Span{d: to.Sub(from).Round(time.Second), set: true, p: p}
}

// Set reports whether both ends are known.
func (s Span) Set() bool { return s.set }

// String returns the duration in the draft's language ("1h17m49s", "1時間17分49秒"), "" when
// unknown.
func (s Span) String() string {
	if !s.set {
		return ""
	}
	return s.p.Duration(s.d)
}

// Seconds returns the duration in whole seconds.
func (s Span) Seconds() int64 { return int64(s.d / time.Second) }

// YAML returns the duration as a quoted string, or null.
func (s Span) YAML() string {
	if !s.set {
		return "null"
	}
	return `"` + s.d.String() + `"`
}

// decisionActions maps the event types that are decision points to their action names.
var decisionActions = map[timeline.Type]string{
	timeline.TypeIncidentAcknowledged: "acknowledge",
	timeline.TypeIncidentEscalated:    "escalate",
	timeline.TypeIncidentReassigned:   "reassign",
	timeline.TypeIncidentDelegated:    "delegate",
	timeline.TypePriorityUpdated:      "priority",
	timeline.TypeResponderAdded:       "responder",
	timeline.TypeRoleAssigned:         "role",
	timeline.TypeIncidentResolved:     "resolve",
	timeline.TypeIncidentReopened:     "reopen",
}

// alertAttrs and pdAttrs are the attributes the receiver stores (receiver/alertmanager.go
// amAttributes, receiver/pagerduty.go); unknown or malformed attributes are ignored.
type alertAttrs struct {
	Fingerprint  string            `json:"fingerprint"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"starts_at"`
	GeneratorURL string            `json:"generator_url"`
}

// maxNoteInTable bounds a note quoted in the decision table; the context section shows it whole.
const maxNoteInTable = 300

type pdAttrs struct {
	IncidentID     string `json:"pagerduty_incident_id"`
	IncidentNumber int    `json:"incident_number"`
	HTMLURL        string `json:"html_url"`
	Priority       string `json:"priority"`
	ConferenceURL  string `json:"conference_url"`
	// TargetRoles are the roles a step paged, handed over to, requested or assigned (roles, never
	// names).
	TargetRoles []string `json:"target_roles"`
}

// newData builds what templates see from the incident and its events, in p's language: facts
// rendered from their types and attributes (stored sentences in English), roles, dates and
// durations.
func newData(in Input, p i18n.Printer) *Data {
	inc := in.Incident
	evs := slices.Clone(in.Events)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	facts := p.Facts(evs)
	stamp := func(t time.Time) Stamp { return Stamp{t: t, p: p} }
	role := func(r timeline.Role) Text { return Text(truncate(p.Role(r), maxValue)) }
	d := &Data{
		ID: Text(inc.ID), Title: Text(truncate(inc.Title, maxValue)), Severity: Text(truncate(inc.Severity, maxValue)),
		IncidentStatus: string(inc.Status), Started: stamp(inc.StartedAt), Empty: len(evs) == 0,
	}
	if !inc.Status.Valid() {
		d.IncidentStatus = ""
	} else {
		d.StatusText = p.T("status." + string(inc.Status))
	}
	if inc.ResolvedAt != nil {
		d.Resolved = stamp(*inc.ResolvedAt)
	}
	services := map[string]bool{}
	addService := func(s string) {
		if s = truncate(s, maxValue); s != "" && !services[s] {
			services[s] = true
			d.Services = append(d.Services, Text(s))
		}
	}
	for _, s := range inc.Services {
		addService(s)
	}
	for _, k := range sortedKeys(inc.Labels) {
		d.Labels = append(d.Labels, Label{Name: Text(truncate(k, maxValue)), Value: Text(truncate(inc.Labels[k], maxValue))})
	}
	if am := inc.Sources[timeline.SourceKeyAlertmanagerReceiver]; am != "" || inc.Sources[timeline.SourceKeyAlertmanagerGroupKey] != "" {
		name := p.T("draft.source.alertmanager", "Receiver", truncate(am, maxValue))
		d.Sources = append(d.Sources, Source{Kind: "alertmanager", Name: Text(name),
			ID:   Text(truncate(inc.Sources[timeline.SourceKeyAlertmanagerGroupKey], maxValue)),
			Link: newLink("", inc.Sources[timeline.SourceKeyAlertmanagerExternal])})
	}

	var (
		tools      = map[string]bool{}
		roles      = map[timeline.Role]bool{}
		pd         pdAttrs
		lastDate   string
		received   time.Time // the first alert's arrival at postmortemd
		alertStart time.Time // the earliest alert_firing's At (the alert's startsAt)
		triggered  time.Time // the first incident_triggered
		gens       = map[string]bool{}
		usedAM     bool
		usedPD     bool
		usedManual bool
	)
	addTool := func(kind, name string, l Link) {
		key := kind + "\x00" + l.raw + "\x00" + name
		if l.raw == "" && name == "" || tools[key] {
			return
		}
		tools[key] = true
		d.Tools = append(d.Tools, Tool{Kind: kind, Name: Text(truncate(name, maxValue)), Link: l})
	}
	addRole := func(r timeline.Role, system bool) {
		if r = timeline.Role(truncate(string(r), maxValue)); r == "" || roles[r] {
			return
		}
		roles[r] = true
		if system {
			d.Systems = append(d.Systems, role(r))
		} else {
			d.Responders = append(d.Responders, role(r))
		}
	}
	for i, e := range evs {
		when := p.Clock(e.At.UTC())
		if date := p.Date(e.At.UTC()); date != lastDate {
			when, lastDate = date+" "+when, date
		}
		line := Line{When: when, At: stamp(e.At), Role: role(e.Role),
			Fact: Text(truncate(facts[i], maxFact)), Type: string(e.Type), Source: string(e.Source)}
		if e.Kind == timeline.KindContext {
			d.Context = append(d.Context, line)
		} else {
			d.Facts = append(d.Facts, line)
		}
		// Only the roles the systems reported: a note's role is whatever its writer typed, and the
		// pages do not list it either.
		if e.Kind != timeline.KindContext {
			addRole(e.Role, systemRole(e))
		}
		switch e.Source {
		case timeline.SourceAlertmanager:
			usedAM = true
		case timeline.SourcePagerDuty:
			usedPD = true
		case timeline.SourceManual:
			usedManual = true
		}
		switch a, ok := decisionActions[e.Type]; {
		case ok && e.Source != timeline.SourceAlertmanager:
			d.Decisions = append(d.Decisions, Decision{When: when, At: line.At, Action: a, Step: true, Role: line.Role, Fact: line.Fact})
		case e.Type == timeline.TypeIncidentResolved: // Alertmanager: every alert of the group stopped firing
			d.Decisions = append(d.Decisions, Decision{When: when, At: line.At, Action: "recovered", Role: line.Role, Fact: line.Fact})
		case e.Type == timeline.TypeNote && e.Kind == timeline.KindContext && e.Source != timeline.SourceAlertmanager:
			d.Decisions = append(d.Decisions, Decision{When: when, At: line.At, Action: "note", Role: line.Role,
				Fact: Text(truncate(facts[i], maxNoteInTable))})
		}
		switch e.Type {
		case timeline.TypeAlertFiring:
			if !e.RecordedAt.IsZero() && (received.IsZero() || e.RecordedAt.Before(received)) {
				received = e.RecordedAt
			}
			if alertStart.IsZero() || e.At.Before(alertStart) {
				alertStart = e.At
			}
			var a alertAttrs
			_ = json.Unmarshal(e.Attributes, &a)
			addService(a.Labels["service"])
			al := alertOf(a, e, p)
			if len(d.Alerts) < maxAlerts {
				d.Alerts = append(d.Alerts, al)
			} else {
				d.MoreAlerts++
			}
			if al.Runbook.raw != "" {
				addTool("runbook", "", al.Runbook)
			}
			for _, k := range sortedKeys(a.Annotations) {
				lk := strings.ToLower(k)
				if strings.Contains(lk, "dashboard") || strings.Contains(lk, "grafana") {
					addTool("dashboard", k, newLink("", a.Annotations[k]))
				}
			}
			if g := a.GeneratorURL; g != "" && !gens[g] && len(gens) < maxGenerators {
				gens[g] = true
				addTool("generator", p.T("draft.tool.alert", "Name", string(al.Name)), al.Generator)
				d.Sources = append(d.Sources, Source{Kind: "generator", Name: Text(p.T("draft.source.generator", "Name", string(al.Name))), Link: al.Generator})
			}
		case timeline.TypeIncidentTriggered:
			if triggered.IsZero() {
				triggered = e.At
			}
		case timeline.TypeIncidentAcknowledged:
			if !d.Acknowledged.Set() {
				d.Acknowledged = line.At
			}
		}
		if strings.HasPrefix(string(e.Type), "workflow_") || strings.HasPrefix(string(e.Type), "action_invocation_") {
			addTool("automation", facts[i], Link{})
		}
		if e.Source == timeline.SourcePagerDuty {
			var p pdAttrs
			_ = json.Unmarshal(e.Attributes, &p)
			if p.Priority != "" {
				pd.Priority = p.Priority
			}
			if p.IncidentNumber != 0 {
				pd.IncidentNumber = p.IncidentNumber
			}
			if p.HTMLURL != "" {
				pd.HTMLURL = p.HTMLURL
			}
			if p.IncidentID != "" {
				pd.IncidentID = p.IncidentID
			}
			if p.ConferenceURL != "" {
				addTool("conference", "", newLink("", p.ConferenceURL))
			}
			for _, r := range p.TargetRoles {
				addRole(timeline.Role(r), false)
			}
		}
	}
	d.Priority = Text(truncate(pd.Priority, maxValue))
	if pd.IncidentNumber != 0 {
		d.PagerDutyNumber = strconv.Itoa(pd.IncidentNumber)
	}
	pdID := firstNonEmpty(inc.Sources[timeline.SourceKeyPagerDutyIncidentID], pd.IncidentID)
	pdURL := firstNonEmpty(inc.Sources[timeline.SourceKeyPagerDutyIncidentHTML], pd.HTMLURL)
	if pdID != "" || pdURL != "" {
		label := p.T("draft.source.pagerduty", "Number", d.PagerDutyNumber)
		d.Sources = append(d.Sources, Source{Kind: "pagerduty", Name: Text(label), ID: Text(truncate(pdID, maxValue)),
			Link: newLink(label, pdURL)})
	}
	if usedAM {
		addTool("integration", p.T("draft.tool.alertmanager"), Link{})
	}
	if usedPD {
		addTool("integration", p.T("draft.tool.pagerduty"), Link{})
	}
	if usedManual {
		addTool("integration", p.T("draft.tool.manual"), Link{})
	}
	d.Detected = stamp(detectedAt(inc.StartedAt, d.Resolved.t, received, triggered, alertStart, &d.DetectedLate))
	d.TimeToDetect = span(p, inc.StartedAt, d.Detected.t)
	d.TimeToAcknowledge = span(p, inc.StartedAt, d.Acknowledged.t)
	d.TimeToResolve = span(p, inc.StartedAt, d.Resolved.t)
	if r := in.Review; r != nil {
		reason := r.Reason
		if r.ReasonCode != nil && r.ReasonCode.Code != "" {
			reason = p.ReviewReason(*r.ReasonCode)
		}
		d.Review = &ReviewData{Start: stamp(r.Start), End: stamp(r.End), TimeZone: Text(truncate(r.TimeZone, maxValue)),
			Reason: Text(truncate(reason, maxLongText)), Waived: r.Waived, WaiveReason: Text(truncate(r.WaiveReason, maxLongText))}
		for _, role := range r.Roles {
			d.Review.Roles = append(d.Review.Roles, Text(truncate(p.Role(timeline.Role(role)), maxValue)))
		}
		if loc, err := time.LoadLocation(r.TimeZone); err == nil && r.TimeZone != "" && !r.Start.IsZero() {
			d.Review.Local = p.Date(r.Start.In(loc)) + " " + r.Start.In(loc).Format("15:04") + "–" + r.End.In(loc).Format("15:04 MST")
		}
	}
	return d
}

// detectedAt is the detection time (see Data.Detected): the earlier of the alert's arrival and the
// trigger; when that is after the resolution, the trigger if it came before it, else the alert's
// start; and never before started nor after resolved (either may be unknown, zero). late reports
// an arrival after the resolution.
func detectedAt(started, resolved, received, triggered, alertStart time.Time, late *bool) time.Time {
	earliest := func(ts ...time.Time) time.Time {
		var m time.Time
		for _, t := range ts {
			if !t.IsZero() && (m.IsZero() || t.Before(m)) {
				m = t
			}
		}
		return m
	}
	d := earliest(received, triggered)
	if !resolved.IsZero() && d.After(resolved) {
		*late = !received.IsZero() && received.After(resolved)
		d = earliest(alertStart)
		if !triggered.IsZero() && !triggered.After(resolved) {
			d = triggered
		}
	}
	if d.IsZero() {
		return d
	}
	if !started.IsZero() && d.Before(started) {
		d = started
	}
	if !resolved.IsZero() && d.After(resolved) {
		d = resolved
	}
	return d
}

// systemRole reports a monitoring system or automation rather than a person's duty: everything
// Alertmanager sends, and PagerDuty's non-human actors (receiver/roles.go).
func systemRole(e timeline.Event) bool {
	r := string(e.Role)
	return e.Source == timeline.SourceAlertmanager || r == "PagerDuty automation" ||
		strings.HasPrefix(r, "monitoring integration")
}

// identityLabels lead an alert's label list, as in the receiver's facts.
var identityLabels = []string{"service", "job", "instance"}

func alertOf(a alertAttrs, e timeline.Event, p i18n.Printer) Alert {
	name := a.Labels["alertname"]
	if name == "" {
		name = p.T("fact.alert_unnamed")
	}
	var pairs []string
	for _, n := range identityLabels {
		if v, ok := a.Labels[n]; ok {
			pairs = append(pairs, n+"="+v)
		}
	}
	for _, n := range sortedKeys(a.Labels) {
		if n != "alertname" && n != "severity" && !slices.Contains(identityLabels, n) {
			pairs = append(pairs, n+"="+a.Labels[n])
		}
	}
	starts := a.StartsAt
	if starts.IsZero() {
		starts = e.At
	}
	runbook := firstNonEmpty(a.Annotations["runbook_url"], a.Annotations["runbook"])
	return Alert{
		Name:        Text(truncate(name, maxValue)),
		Severity:    Text(truncate(a.Labels["severity"], maxValue)),
		Summary:     Text(truncate(firstNonEmpty(a.Annotations["summary"], a.Annotations["message"]), maxValue)),
		Description: Text(truncate(a.Annotations["description"], maxLongText)),
		Labels:      Text(truncate(strings.Join(pairs, ", "), maxValue)),
		Starts:      Stamp{t: starts, p: p},
		Generator:   newLink("", a.GeneratorURL),
		Runbook:     newLink("", runbook),
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
