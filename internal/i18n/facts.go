package i18n

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/postmortemd/postmortemd/timeline"
)

// attrs are the attributes the receiver stores beside a fact (receiver/alertmanager.go,
// receiver/pagerduty.go, receiver/enrich.go), as far as a sentence needs them. Pointers tell an
// attribute the receiver did not store (an event recorded before it did) from an empty one.
type attrs struct {
	// Alertmanager.
	Fingerprint     string            `json:"fingerprint"`
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations"`
	TruncatedAlerts *uint64           `json:"truncated_alerts"`
	Alerts          *int              `json:"alerts"`

	// PagerDuty.
	EventType        string       `json:"pagerduty_event_type"`
	LogEntryType     string       `json:"pagerduty_log_entry_type"`
	Number           int          `json:"incident_number"`
	Urgency          string       `json:"urgency"`
	Priority         *string      `json:"priority"`
	EscalationPolicy *string      `json:"escalation_policy"`
	Service          *string      `json:"service"`
	ConferenceURL    string       `json:"conference_url"`
	IncidentType     *string      `json:"incident_type"`
	ResponderPolicy  *string      `json:"responder_policy"`
	State            *string      `json:"state"`
	Name             *string      `json:"name"`
	Fields           []string     `json:"fields"`
	TargetRoles      []string     `json:"target_roles"`
	Assignees        *[]string    `json:"assignees"`
	Assignments      []assignment `json:"assignments"`
}

// assignment is one incident role assignment of a role_assigned event: the role, the roles of the
// person it went to and of the one who held it, or Unassigned.
type assignment struct {
	Role       string `json:"role"`
	To         string `json:"to,omitempty"`
	From       string `json:"from,omitempty"`
	Unassigned bool   `json:"unassigned,omitempty"`
}

// Facts returns each event's sentence in the printer's language; evs must be in timeline order
// (by At), because a from-to fact ("priority from P2 to P1") reads the value before it from the
// events before it. English returns the stored sentences, which are the canonical English record
// (they also carry refinements made after the event was stored). Other languages render each fact
// from its type and attributes; what people wrote (notes, status updates, manual entries) and any
// event whose type or attributes the catalogue does not know keep the stored sentence.
func (p Printer) Facts(evs []timeline.Event) []string {
	if p.Lang() == English {
		out := make([]string, len(evs))
		for i, e := range evs {
			out[i] = e.Fact
		}
		return out
	}
	return p.Render(evs)
}

// Render renders every event's sentence from its type and attributes, as Facts does for languages
// other than English, whatever the printer's language.
//
// Enrichment may refine a role after the event was stored: it rewrites the stored sentence and the
// event's role, not the attributes. The actor's role is the event's; a role inside the sentence
// (an assignee, a responder) is recovered from the stored sentence by comparing it with the
// English rendering of the attributes, which it equals but for the refined roles.
func (p Printer) Render(evs []timeline.Event) []string {
	r := renderer{p: p, last: map[string]string{}, firing: map[string]attrs{}}
	var en *renderer
	if p.Lang() != English {
		en = &renderer{p: For(English), last: map[string]string{}, firing: map[string]attrs{}}
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		var a attrs
		if len(e.Attributes) > 0 && json.Unmarshal(e.Attributes, &a) != nil {
			out[i] = e.Fact
			continue
		}
		if en != nil {
			if s, ok := en.fact(e, a); ok && s != e.Fact && e.Source == timeline.SourcePagerDuty {
				a = a.withRoles(refinedRoles(s, e.Fact, a.roles()))
			}
		}
		s, ok := r.fact(e, a)
		if !ok {
			s = e.Fact
		}
		out[i] = s
	}
	return out
}

// roles are the roles a PagerDuty fact names besides its actor, longest first.
func (a attrs) roles() []string {
	var rs []string
	add := func(r string) {
		if r != "" && !contains(rs, r) {
			rs = append(rs, r)
		}
	}
	for _, r := range a.TargetRoles {
		add(r)
	}
	if a.Assignees != nil {
		for _, r := range *a.Assignees {
			add(r)
		}
	}
	for _, as := range a.Assignments {
		add(as.To)
		add(as.From)
	}
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i]) > len(rs[j]) })
	return rs
}

// withRoles returns a with each role in refined replaced by its refinement.
func (a attrs) withRoles(refined map[string]string) attrs {
	if len(refined) == 0 {
		return a
	}
	swap := func(r string) string {
		if n, ok := refined[r]; ok {
			return n
		}
		return r
	}
	a.TargetRoles = slices.Clone(a.TargetRoles)
	for i := range a.TargetRoles {
		a.TargetRoles[i] = swap(a.TargetRoles[i])
	}
	if a.Assignees != nil {
		as := slices.Clone(*a.Assignees)
		for i := range as {
			as[i] = swap(as[i])
		}
		a.Assignees = &as
	}
	a.Assignments = slices.Clone(a.Assignments)
	for i := range a.Assignments {
		a.Assignments[i].To, a.Assignments[i].From = swap(a.Assignments[i].To), swap(a.Assignments[i].From)
	}
	return a
}

// refinedRoles finds the roles whose phrases in rendered (the English rendering of the stored
// attributes) stand replaced by other phrases in stored (the stored sentence, refined), and what
// replaced them. It returns nil unless replacing them turns rendered into stored exactly.
func refinedRoles(rendered, stored string, roles []string) map[string]string {
	out := map[string]string{}
	cur := rendered
	for _, r := range roles {
		old := timeline.Role(r).Phrase()
		if !strings.Contains(cur, old) || strings.Contains(stored, old) {
			continue
		}
		parts := strings.Split(cur, old)
		if !strings.HasPrefix(stored, parts[0]) {
			return nil
		}
		rest := stored[len(parts[0]):]
		repl := rest
		if parts[1] != "" {
			k := strings.Index(rest, parts[1])
			if k <= 0 {
				return nil
			}
			repl = rest[:k]
		}
		cur = strings.Join(parts, repl)
		out[r] = strings.TrimPrefix(repl, "the ") // Role.Phrase put it there
	}
	if cur != stored {
		return nil
	}
	return out
}

// renderer carries what earlier events told: the last value of each from-to field and each alert's
// firing attributes (a resolution stores only the fingerprint).
type renderer struct {
	p      Printer
	last   map[string]string
	firing map[string]attrs
}

// from returns the value before this event's and remembers the new one, as the store's snapshot
// does: the old value when there was one and it changed, else "".
func (r *renderer) from(name, value string) string {
	old, ok := r.last[name]
	r.last[name] = value
	if !ok || old == value {
		return ""
	}
	return old
}

// fact renders e; ok is false when the sentence must stay as stored.
func (r *renderer) fact(e timeline.Event, a attrs) (string, bool) {
	p := r.p
	actor := p.Phrase(e.Role)
	if e.Kind == timeline.KindContext || e.Source == timeline.SourceManual {
		return "", false // people's words stay as written
	}
	switch e.Source {
	case timeline.SourceAlertmanager:
		return r.alertmanager(e, a)
	case timeline.SourcePagerDuty:
	default:
		return "", false
	}
	if a.LogEntryType != "" {
		return r.logEntry(e, a, actor)
	}
	if a.EventType == "" {
		return "", false
	}
	// Incident-typed events report the incident's current values; the store compares them with
	// the last ones to say what changed.
	incident := a.Number != 0
	var fromPriority, fromPolicy, fromService, fromType, fromAssignees string
	if incident {
		if a.Priority != nil && *a.Priority != "" {
			fromPriority = r.from("priority", *a.Priority)
		}
		if a.EscalationPolicy != nil && *a.EscalationPolicy != "" {
			fromPolicy = r.from("escalation_policy", *a.EscalationPolicy)
		}
		if a.Service != nil && *a.Service != "" {
			fromService = r.from("service", *a.Service)
		}
		if a.IncidentType != nil && *a.IncidentType != "" {
			fromType = r.from("incident_type", *a.IncidentType)
		}
		switch a.EventType {
		case "incident.triggered", "incident.escalated", "incident.reassigned", "incident.reopened", "incident.unacknowledged":
			if old := r.from("assignees", strings.Join(a.TargetRoles, "\x00")); old != "" {
				fromAssignees = p.Roles(strings.Split(old, "\x00"))
			}
		}
	}
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	switch e.Type {
	case timeline.TypeIncidentTriggered:
		if !incident {
			return "", false
		}
		return p.T("fact.incident_triggered", "Number", a.Number, "Service", str(a.Service),
			"Urgency", r.value("urgency", a.Urgency), "Priority", str(a.Priority), "Policy", str(a.EscalationPolicy),
			"Assignees", p.Roles(a.TargetRoles)), true
	case timeline.TypeIncidentAcknowledged:
		return p.T("fact.incident_acknowledged", "Actor", actor), true
	case timeline.TypeIncidentUnacknowledged:
		return p.T("fact.incident_unacknowledged", "Assignees", p.Roles(a.TargetRoles)), true
	case timeline.TypeIncidentEscalated:
		return p.T("fact.incident_escalated", "Policy", str(a.EscalationPolicy), "From", fromAssignees,
			"Assignees", p.Roles(a.TargetRoles)), true
	case timeline.TypeIncidentReassigned:
		return p.T("fact.incident_reassigned", "Actor", actor, "From", fromAssignees, "Assignees", p.Roles(a.TargetRoles)), true
	case timeline.TypeIncidentDelegated:
		if !incident {
			return "", false
		}
		return p.T("fact.incident_delegated", "Actor", actor, "From", fromPolicy, "Policy", str(a.EscalationPolicy)), true
	case timeline.TypePriorityUpdated:
		if !incident {
			return "", false
		}
		pr := str(a.Priority)
		if pr == "" {
			pr = p.T("priority.none")
		}
		return p.T("fact.priority_updated", "Actor", actor, "From", fromPriority, "Priority", pr), true
	case timeline.TypeIncidentResolved:
		return p.T("fact.incident_resolved", "Actor", actor), true
	case timeline.TypeIncidentReopened:
		return p.T("fact.incident_reopened", "Actor", actor, "Assignees", p.Roles(a.TargetRoles)), true
	case timeline.TypeServiceUpdated:
		if !incident {
			return "", false
		}
		return p.T("fact.service_updated", "Actor", actor, "From", fromService, "Service", str(a.Service)), true
	case timeline.TypeIncidentTypeChanged:
		if a.IncidentType == nil {
			return "", false
		}
		return p.T("fact.incident_type_changed", "Actor", actor, "From", fromType, "Name", *a.IncidentType), true
	case timeline.TypeResponderAdded:
		if a.State == nil || a.ResponderPolicy == nil {
			return "", false
		}
		return p.T("fact.responder_added", "Policy", *a.ResponderPolicy, "Actor", actor, "State", r.value("state", *a.State)), true
	case timeline.TypeResponderReplied:
		if a.State == nil || len(a.TargetRoles) == 0 {
			return "", false
		}
		return p.T("fact.responder_replied", "State", r.value("state", *a.State), "Responder", p.Phrase(timeline.Role(a.TargetRoles[0]))), true
	case timeline.TypeRoleAssigned:
		if a.Assignments == nil {
			return "", false
		}
		var parts []string
		for _, as := range a.Assignments {
			role := p.Role(timeline.Role(as.Role))
			if as.Unassigned {
				parts = append(parts, p.T("fact.role_assigned.unassigned", "Role", role))
				continue
			}
			var to, from string
			if as.To != "" {
				to = p.Phrase(timeline.Role(as.To))
			}
			if as.From != "" {
				from = p.Phrase(timeline.Role(as.From))
			}
			parts = append(parts, p.T("fact.role_assigned.part", "Role", role, "To", to, "From", from))
		}
		return p.T("fact.role_assigned", "Parts", strings.Join(parts, p.T("fact.role_assigned.sep")), "Actor", actor), true
	case timeline.TypeConferenceBridgeUpdated:
		return p.T("fact.conference_bridge_updated", "Actor", actor, "URL", a.ConferenceURL), true
	case timeline.TypeCustomFieldsUpdated:
		if a.Fields == nil {
			return "", false
		}
		fields := slices.Clone(a.Fields)
		sort.Strings(fields)
		return p.T("fact.custom_fields_updated", "Actor", actor, "Fields", strings.Join(fields, p.T("list.comma"))), true
	}
	id := "fact." + string(e.Type)
	switch {
	case strings.HasPrefix(string(e.Type), "workflow_"):
		if a.Name == nil || !p.Has(id) {
			return "", false
		}
		return p.T(id, "Name", *a.Name), true
	case strings.HasPrefix(string(e.Type), "task_"):
		if a.Name == nil || a.Assignees == nil || !p.Has(id) {
			return "", false
		}
		as := ""
		if len(*a.Assignees) > 0 {
			as = p.Roles(*a.Assignees)
		}
		return p.T(id, "Name", *a.Name, "Actor", actor, "Assignees", as), true
	case strings.HasPrefix(string(e.Type), "action_invocation_"):
		if a.Name == nil || a.State == nil || !p.Has(id) {
			return "", false
		}
		return p.T(id, "Name", *a.Name, "State", r.value("state", *a.State)), true
	}
	return "", false
}

// value says an enumerated value a sender reported (urgency, a responder's state) in the
// printer's language, or as reported when the catalogue does not know it.
func (r *renderer) value(kind, v string) string {
	id := kind + "." + strings.ToLower(v)
	if v == "" || !r.p.Has(id) {
		return v
	}
	return r.p.T(id)
}

// alertmanager renders an Alertmanager fact.
func (r *renderer) alertmanager(e timeline.Event, a attrs) (string, bool) {
	p := r.p
	switch e.Type {
	case timeline.TypeAlertFiring:
		if a.Fingerprint == "" {
			return "", false
		}
		r.firing[a.Fingerprint] = a
		return p.T("fact.alert_firing", "Name", alertName(p, a.Labels), "Labels", labelList(a.Labels),
			"Severity", a.Labels["severity"], "Summary", alertSummary(a.Annotations)), true
	case timeline.TypeAlertResolved:
		if a.Fingerprint == "" {
			return "", false
		}
		f, ok := r.firing[a.Fingerprint]
		if !ok {
			return p.T("fact.alert_resolved_unknown", "Fingerprint", a.Fingerprint), true
		}
		return p.T("fact.alert_resolved", "Name", alertName(p, f.Labels), "Labels", labelList(f.Labels),
			"Severity", f.Labels["severity"]), true
	case timeline.TypeAlertsTruncated:
		if a.TruncatedAlerts == nil {
			return "", false
		}
		return p.T("fact.alerts_truncated", "Truncated", *a.TruncatedAlerts), true
	case timeline.TypeIncidentResolved:
		if a.Alerts == nil {
			return "", false
		}
		return p.N("fact.group_resolved", *a.Alerts), true
	}
	return "", false
}

// logEntry renders a fact recovered from PagerDuty's log entries (receiver/enrich.go).
func (r *renderer) logEntry(e timeline.Event, a attrs, actor string) (string, bool) {
	p := r.p
	var as []string
	if a.Assignees != nil {
		as = *a.Assignees
	}
	assignees := ""
	if len(as) > 0 {
		assignees = p.Roles(as)
	}
	var s string
	switch a.LogEntryType {
	case "trigger_log_entry":
		svc := ""
		if a.Service != nil {
			svc = *a.Service
		}
		s = p.T("fact.log_triggered", "Service", svc)
	case "acknowledge_log_entry":
		s = p.T("fact.incident_acknowledged", "Actor", actor)
	case "unacknowledge_log_entry":
		s = p.T("fact.incident_unacknowledged", "Assignees", assignees)
	case "escalate_log_entry":
		s = p.T("fact.incident_escalated", "Assignees", assignees)
	case "assign_log_entry":
		s = p.T("fact.incident_reassigned", "Actor", actor, "Assignees", assignees)
	case "delegate_log_entry":
		s = p.T("fact.incident_delegated_unknown", "Actor", actor)
	case "annotate_log_entry":
		return p.T("fact.log_note_missing", "Actor", actor), true
	case "resolve_log_entry":
		s = p.T("fact.incident_resolved", "Actor", actor)
	default:
		return "", false
	}
	if a.Assignees == nil && (a.LogEntryType == "unacknowledge_log_entry" || a.LogEntryType == "escalate_log_entry" ||
		a.LogEntryType == "assign_log_entry") {
		return "", false // recorded before the receiver kept the assignees' roles
	}
	if a.LogEntryType == "trigger_log_entry" && a.Service == nil {
		return "", false
	}
	return p.T("fact.recovered", "Fact", s), true
}

// identityLabels lead an alert's label list, as in the receiver's facts.
var identityLabels = []string{"service", "job", "instance"}

func alertName(p Printer, labels map[string]string) string {
	if n := labels["alertname"]; n != "" {
		return n
	}
	return p.T("fact.alert_unnamed")
}

// labelList writes an alert's labels as the receiver's facts do: identity labels first, then the
// rest by name, without alertname and severity.
func labelList(labels map[string]string) string {
	var pairs []string
	for _, n := range identityLabels {
		if v, ok := labels[n]; ok {
			pairs = append(pairs, n+"="+v)
		}
	}
	rest := make([]string, 0, len(labels))
	for n := range labels {
		if n != "alertname" && n != "severity" && !slices.Contains(identityLabels, n) {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	for _, n := range rest {
		pairs = append(pairs, n+"="+labels[n])
	}
	return strings.Join(pairs, ", ")
}

// alertSummary is the annotation the receiver quotes in a firing fact.
func alertSummary(ann map[string]string) string {
	for _, k := range []string{"summary", "message", "description"} {
		if v := strings.TrimSpace(ann[k]); v != "" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}
