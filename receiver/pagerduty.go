package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty/webhookv3"
	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/timeline"
)

// PagerDutyOptions configure PagerDuty V3 webhooks.
type PagerDutyOptions struct {
	// Secrets are the signing secrets of the webhook subscriptions; a delivery must carry a valid
	// signature for one of them.
	Secrets []string
	// AllowUnsigned accepts deliveries without checking signatures (local trials only).
	AllowUnsigned bool
	// Roles maps PagerDuty ids to roles.
	Roles RoleMap
	// Participants keeps who took part, apart from the timeline; nil keeps nothing.
	Participants timeline.Participants
	// Enricher, if set, is told about each recorded event after the response (REST enrichment).
	Enricher Enricher
}

// Enricher refines what a webhook could not say, after the request has been answered: on-call
// levels for roles, full texts of trimmed notes. It must not block.
type Enricher interface {
	// Enqueue hands over one recorded PagerDuty event.
	Enqueue(job EnrichJob)
}

// EnrichJob is one recorded PagerDuty event that enrichment may refine.
type EnrichJob struct {
	IncidentID         string // postmortemd's incident
	PagerDutyIncident  string
	EventID            string // postmortemd's event id
	OccurredAt         time.Time
	EscalationPolicyID string
	ServiceName        string
	// Users are the people whose roles the event names, by PagerDuty user id.
	Users []string
	// ActorID is the PagerDuty user who caused the event ("" for automation).
	ActorID string
	// Role is the role the event was stored with; Named maps each user the fact names to the role
	// text it names them by, so a refinement can put a better role in its place (the stored fact,
	// read back, is the base: the store fills in parts of it).
	Role  timeline.Role
	Named map[string]timeline.Role
	// TrimmedNoteID is set for a note PagerDuty cut short.
	TrimmedNoteID string
}

// pdEnvelope is a V3 webhook body; a V2 body has "messages" instead.
type pdEnvelope struct {
	Event    *pdEvent        `json:"event"`
	Messages json.RawMessage `json:"messages"`
}

type pdEvent struct {
	ID           string          `json:"id"`
	EventType    string          `json:"event_type"`
	ResourceType string          `json:"resource_type"`
	OccurredAt   time.Time       `json:"occurred_at"`
	Agent        *pdRef          `json:"agent"`
	Client       *pdClient       `json:"client"`
	Data         json.RawMessage `json:"data"`
}

type pdRef struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
	HTMLURL string `json:"html_url"`
}

func (r *pdRef) summary() string {
	if r == nil {
		return ""
	}
	return r.Summary
}

type pdClient struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

type pdIncident struct {
	ID               string    `json:"id"`
	Type             string    `json:"type"`
	HTMLURL          string    `json:"html_url"`
	Number           int       `json:"number"`
	Title            string    `json:"title"`
	Status           string    `json:"status"`
	Urgency          string    `json:"urgency"`
	IncidentKey      *string   `json:"incident_key"`
	CreatedAt        time.Time `json:"created_at"`
	Service          *pdRef    `json:"service"`
	EscalationPolicy *pdRef    `json:"escalation_policy"`
	Teams            []pdRef   `json:"teams"`
	Assignees        []pdRef   `json:"assignees"`
	Priority         *pdRef    `json:"priority"`
	ConferenceBridge *struct {
		ConferenceURL string `json:"conference_url"`
	} `json:"conference_bridge"`
	IncidentType *struct {
		Name string `json:"name"`
	} `json:"incident_type"`
}

// pdSub is every non-incident data object: the fields each type uses, all optional.
type pdSub struct {
	Type             string  `json:"type"`
	Incident         *pdRef  `json:"incident"`
	ID               string  `json:"id"`
	Content          string  `json:"content"`
	Message          string  `json:"message"`
	Trimmed          bool    `json:"trimmed"`
	User             *pdRef  `json:"user"`
	EscalationPolicy *pdRef  `json:"escalation_policy"`
	State            string  `json:"state"`
	Name             string  `json:"name"`
	Summary          string  `json:"summary"`
	Status           string  `json:"status"`
	Assignees        []pdRef `json:"assignees"`
	Action           *pdRef  `json:"action"`
	IncidentWorkflow *pdRef  `json:"incident_workflow"`
	ConferenceURL    string  `json:"conference_url"`
	Assignments      []struct {
		Assignee    *pdRef `json:"assignee"`
		OldAssignee *pdRef `json:"old_assignee"`
		Role        pdRef  `json:"role"`
		Status      string `json:"status"`
	} `json:"incident_role_assignments"`
	ChangedCustomFields []struct {
		Name        string `json:"name"`
		DisplayName string `json:"display_name"`
	} `json:"changed_custom_fields"`
}

// PagerDuty handles POST /webhook/pagerduty: verify, then parse, then record.
func (h *Handler) PagerDuty(c echo.Context) error {
	const src = timeline.SourcePagerDuty
	log := h.logBySource[src]
	received := h.now()
	if err := h.refuseBrowser(c, src, log); err != nil {
		return err
	}
	if len(h.pd.Secrets) == 0 && !h.pd.AllowUnsigned {
		// Not a 4xx: PagerDuty disables a subscription after three, while a 5xx is retried, so
		// nothing is lost if the secret is configured in time.
		h.metrics.outcome(src, outcomeUnconfigured)
		log.Error("PagerDuty webhook refused: no --pagerduty-secret configured")
		return echo.NewHTTPError(http.StatusServiceUnavailable,
			"PagerDuty webhooks are not configured on this postmortemd: set --pagerduty-secret")
	}
	body, err := h.readBody(c.Request())
	if err != nil {
		return h.fail(log, src, err)
	}
	if !h.verifyPagerDuty(c.Request(), body) {
		h.metrics.outcome(src, outcomeUnauthorized)
		log.Warn("webhook rejected: missing or invalid X-PagerDuty-Signature", "remote", c.RealIP(),
			"subscription", c.Request().Header.Get("X-Webhook-Subscription"))
		return echo.NewHTTPError(http.StatusUnauthorized, "missing or invalid X-PagerDuty-Signature")
	}
	var env pdEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return h.fail(log, src, fmt.Errorf("%w: body is not a PagerDuty webhook: %s", timeline.ErrInvalid, jsonError(body, err)))
	}
	if env.Event == nil {
		if env.Messages != nil {
			// V2 webhooks are unsigned and frozen; answering 4xx would disable the extension.
			h.metrics.outcome(src, outcomeIgnored)
			log.Warn("ignored a PagerDuty V2 webhook: subscribe a V3 webhook instead")
			return c.JSON(http.StatusOK, deliveryResponse{Status: "ignored"})
		}
		return h.fail(log, src, fmt.Errorf("%w: body has no \"event\" object (PagerDuty V3 webhook)", timeline.ErrInvalid))
	}
	ev := env.Event
	log = log.With("event_type", ev.EventType, "event_id", ev.ID)
	if ev.EventType == "pagey.ping" {
		h.metrics.outcome(src, outcomeIgnored)
		log.Info("PagerDuty test ping received")
		return c.JSON(http.StatusOK, deliveryResponse{Status: "pong"})
	}
	if ev.ID == "" || ev.OccurredAt.IsZero() || ev.EventType == "" {
		return h.fail(log, src, fmt.Errorf("%w: event: id, event_type and occurred_at are required", timeline.ErrInvalid))
	}
	pe, err := h.pagerDutyEvent(c.Request().Context(), ev, received, c.Request().Header.Get("X-Webhook-Id"))
	if errors.Is(err, errUnknownEvent) {
		// New types appear over time; a 4xx would count towards disabling the subscription.
		h.metrics.outcome(src, outcomeIgnored)
		h.metrics.unknownPagerDuty.WithLabelValues(ev.EventType).Inc()
		log.Warn("ignored a PagerDuty event type postmortemd does not record")
		return c.JSON(http.StatusOK, deliveryResponse{Status: "ignored"})
	}
	if err != nil {
		return h.fail(log, src, err)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), h.storeTimeout)
	defer cancel()
	res, err := h.store.Record(ctx, pe.batch)
	if err != nil {
		return h.fail(log, src, fmt.Errorf("record pagerduty event: %w", err))
	}
	if h.pd.Participants != nil && len(pe.people) > 0 {
		if err := h.pd.Participants.SaveParticipants(ctx, pe.pdIncident, pe.people); err != nil {
			// The fact is stored; the next event of the incident records the people again.
			log.Error("participants not saved", "incident_id", res.IncidentID, "err", err)
		}
	}
	h.metrics.recorded(src, res)
	log.Info("event recorded", "incident_id", res.IncidentID, "pagerduty_incident", pe.pdIncident,
		"opened", res.Opened, "joined", res.Joined, "resolved", res.Resolved, "reopened", res.Reopened,
		"appended", res.Appended, "duplicates", res.Duplicates)
	if h.pd.Enricher != nil && res.Appended > 0 {
		pe.job.IncidentID = res.IncidentID
		h.pd.Enricher.Enqueue(pe.job)
	}
	return respond(c, deliveryResponse{Status: "ok", IncidentID: res.IncidentID,
		Opened: res.Opened, Resolved: res.Resolved, Appended: res.Appended, Duplicates: res.Duplicates})
}

// verifyPagerDuty checks the signature against every configured secret (one per subscription;
// during a rotation the header carries several signatures).
func (h *Handler) verifyPagerDuty(r *http.Request, body []byte) bool {
	if h.pd.AllowUnsigned {
		return true
	}
	for _, secret := range h.pd.Secrets {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if webhookv3.VerifySignature(r, secret) == nil {
			return true
		}
	}
	return false
}

var errUnknownEvent = errors.New("unknown event type")

// pdRecord is what one PagerDuty event turns into.
type pdRecord struct {
	batch      timeline.Batch
	people     []timeline.Participant
	pdIncident string
	job        EnrichJob
}

// pagerDutyEvent maps one event to a batch. It reads the participants record to name people by the
// roles they already hold in the incident.
func (h *Handler) pagerDutyEvent(ctx context.Context, ev *pdEvent, received time.Time, webhookID string) (*pdRecord, error) {
	at := ev.OccurredAt.UTC()
	var inc *pdIncident
	var sub pdSub
	if !knownPagerDutyType(ev.EventType) {
		return nil, errUnknownEvent // new types, and service events: nothing for a timeline
	}
	if isIncidentTyped(ev.EventType) {
		inc = &pdIncident{}
		if err := json.Unmarshal(ev.Data, inc); err != nil {
			return nil, fmt.Errorf("%w: data: %s", timeline.ErrInvalid, jsonError(ev.Data, err))
		}
	} else if err := json.Unmarshal(ev.Data, &sub); err != nil {
		return nil, fmt.Errorf("%w: data: %s", timeline.ErrInvalid, jsonError(ev.Data, err))
	}
	var pdID string
	switch {
	case inc != nil:
		pdID = inc.ID
	case sub.Incident != nil:
		pdID = sub.Incident.ID
	default: // role assignments carry the incident inside each assignment
		pdID = roleAssignmentIncident(ev.Data)
	}
	if pdID == "" {
		return nil, fmt.Errorf("%w: data: no incident id", timeline.ErrInvalid)
	}

	var known map[string]timeline.Participant
	if h.pd.Participants != nil {
		var err error
		if known, err = h.pd.Participants.Participants(ctx, pdID); err != nil {
			return nil, fmt.Errorf("read participants: %w", err)
		}
	}
	book := newRoleBook(known, h.pd.Roles, at)
	if inc != nil {
		for _, t := range inc.Teams {
			book.teams = append(book.teams, t.ID)
		}
		role, rank := policyRole(inc.EscalationPolicy, book.teams, h.pd.Roles)
		// Escalation levels as the payloads reveal them: a trigger pages level 1, each escalation
		// the next level. On-call data (enrichment) outranks this inference.
		level := 0
		switch ev.EventType {
		case "incident.triggered":
			level = 1
		case "incident.escalated":
			level = book.maxLevel() + 1
		}
		for i := range inc.Assignees {
			a := &inc.Assignees[i]
			switch {
			case level > 0 && book.level(a.ID) == 0 && rank < timeline.RankConfig:
				book.learnLevel(a, levelRole(level, inc.Service.summary()), timeline.RankPayload, "assignee", level)
			case book.level(a.ID) > 0 && rank < timeline.RankConfig:
				book.learn(a, "", rank, "assignee") // the level says more than the policy
			default:
				book.learn(a, role, rank, "assignee")
			}
		}
	}

	f := pdFacts{book: book, ev: ev, inc: inc, sub: &sub, extra: map[string]any{}}
	fact, typ, kind, status, snaps, duty := f.describe()
	if typ == "" {
		return nil, errUnknownEvent
	}
	if isUser(ev.Agent) {
		book.learn(ev.Agent, "", timeline.RankFallback, duty)
	}
	actor := book.actor(ev.Agent, ev.Client)
	fact = strings.ReplaceAll(fact, "{{actor}}", actor.Phrase())
	if kind == timeline.KindContext {
		fact = book.scrub(fact)
	}
	attrs := map[string]any{"pagerduty_event_type": ev.EventType, "pagerduty_incident_id": pdID}
	if inc != nil {
		attrs["incident_number"] = inc.Number
		attrs["html_url"] = inc.HTMLURL
		attrs["urgency"] = inc.Urgency
		if inc.Priority != nil {
			attrs["priority"] = inc.Priority.Summary
		}
		if inc.EscalationPolicy != nil {
			attrs["escalation_policy"] = inc.EscalationPolicy.Summary
		}
		if inc.Service != nil {
			attrs["service"] = inc.Service.Summary
		}
		if inc.IncidentType != nil && inc.IncidentType.Name != "" {
			attrs["incident_type"] = inc.IncidentType.Name
		}
		if inc.ConferenceBridge != nil && inc.ConferenceBridge.ConferenceURL != "" {
			attrs["conference_url"] = inc.ConferenceBridge.ConferenceURL
		}
	}
	if sub.Trimmed {
		attrs["trimmed"] = true
	}
	if sub.ConferenceURL != "" {
		attrs["conference_url"] = sub.ConferenceURL
	}
	if roles := f.targetRoles(); len(roles) > 0 {
		attrs["target_roles"] = roles // the roles the step was aimed at, never names (drafts lists them)
	}
	for k, v := range f.sentenceAttrs() {
		attrs[k] = v
	}
	event := timeline.Event{
		ID: timeline.EventID(timeline.SourcePagerDuty, ev.ID), At: at, RecordedAt: received.UTC(),
		Source: timeline.SourcePagerDuty, Type: typ, Kind: kind, Role: actor, Fact: fact,
		Attributes: mustJSON(attrs),
	}
	b := timeline.Batch{
		Source:      timeline.SourcePagerDuty,
		Group:       pdID,
		OpenAlways:  true,
		DeliveryKey: webhookID,
		Events:      []timeline.KeyedEvent{{DedupeKey: "pd:" + ev.ID, AltKeys: logEntryKeys(ev.EventType, at), Event: event}},
		Snapshot:    snaps,
		Open: timeline.Incident{
			ID:        h.newID(at, "pagerduty"),
			Title:     "PagerDuty incident " + pdID,
			StartedAt: at,
			Sources:   map[string]string{timeline.SourceKeyPagerDutyIncidentID: pdID},
		},
	}
	job := EnrichJob{PagerDutyIncident: pdID, EventID: event.ID, OccurredAt: at, Role: actor,
		Named: map[string]timeline.Role{}}
	if isUser(ev.Agent) {
		job.ActorID = ev.Agent.ID
	}
	if inc != nil {
		title := book.scrub(inc.Title)
		if title == "" {
			title = fmt.Sprintf("PagerDuty incident #%d", inc.Number)
		}
		b.Open.ID = h.newID(at, title)
		b.Open.Title = truncate(title, 200)
		if !inc.CreatedAt.IsZero() {
			b.Open.StartedAt = inc.CreatedAt.UTC()
		}
		if inc.Service != nil && inc.Service.Summary != "" {
			b.Open.Services = []string{inc.Service.Summary}
			job.ServiceName = inc.Service.Summary
		}
		if inc.HTMLURL != "" {
			b.Open.Sources[timeline.SourceKeyPagerDutyIncidentHTML] = inc.HTMLURL
		}
		sev := inc.Urgency
		if inc.Priority != nil && inc.Priority.Summary != "" {
			sev = inc.Priority.Summary
		}
		b.Open.Severity, b.SeverityRank = sev, severityRank(sev)
		if inc.IncidentKey != nil && *inc.IncidentKey != "" {
			b.Links = []string{dedupLink(*inc.IncidentKey)}
		}
		if inc.EscalationPolicy != nil {
			job.EscalationPolicyID = inc.EscalationPolicy.ID
		}
	}
	if status != "" {
		b.Status = &timeline.StatusChange{To: status, At: at}
	}
	if sub.Trimmed && ev.EventType == "incident.annotated" {
		job.TrimmedNoteID = sub.ID
	}
	people := book.participants()
	for _, p := range people {
		job.Users = append(job.Users, p.ID)
		job.Named[p.ID] = book.role(&pdRef{ID: p.ID})
	}
	return &pdRecord{batch: b, people: people, pdIncident: pdID, job: job}, nil
}

// logEntryTypes maps webhook event types to the PagerDuty log entry types that record the same
// change, so a log-entry backfill (enrichment) and a webhook delivery are one fact.
var logEntryTypes = map[string]string{
	"incident.triggered":      "trigger_log_entry",
	"incident.acknowledged":   "acknowledge_log_entry",
	"incident.unacknowledged": "unacknowledge_log_entry",
	"incident.escalated":      "escalate_log_entry",
	"incident.reassigned":     "assign_log_entry",
	"incident.delegated":      "delegate_log_entry",
	"incident.annotated":      "annotate_log_entry",
	"incident.resolved":       "resolve_log_entry",
}

// LogEntryKey is the dedupe key a PagerDuty log entry of type logType at time at shares with the
// webhook event for the same change (log entries have second precision).
func LogEntryKey(logType string, at time.Time) string {
	return "pdlog:" + logType + ":" + at.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func logEntryKeys(eventType string, at time.Time) []string {
	if t, ok := logEntryTypes[eventType]; ok {
		return []string{LogEntryKey(t, at)}
	}
	return nil
}

func roleAssignmentIncident(data json.RawMessage) string {
	var d struct {
		Assignments []struct {
			Incident *pdRef `json:"incident"`
		} `json:"incident_role_assignments"`
	}
	if json.Unmarshal(data, &d) == nil {
		for _, a := range d.Assignments {
			if a.Incident != nil && a.Incident.ID != "" {
				return a.Incident.ID
			}
		}
	}
	return ""
}

func knownPagerDutyType(t string) bool {
	if isIncidentTyped(t) {
		return true
	}
	switch t {
	case "incident.responder.added", "incident.responder.replied", "incident.role.assigned",
		"incident.annotated", "incident.status_update_published", "incident.conference_bridge.updated",
		"incident.custom_field_values.updated", "incident.workflow.started", "incident.workflow.completed",
		"incident.task.created", "incident.task.updated", "incident.task.completed",
		"incident.action_invocation.created", "incident.action_invocation.updated",
		"incident.action_invocation.terminated":
		return true
	}
	return false
}

func isIncidentTyped(t string) bool {
	switch t {
	case "incident.triggered", "incident.acknowledged", "incident.unacknowledged", "incident.escalated",
		"incident.reassigned", "incident.delegated", "incident.priority_updated", "incident.resolved",
		"incident.reopened", "incident.service_updated", "incident.incident_type.changed":
		return true
	}
	return false
}

// pdFacts words one event.
type pdFacts struct {
	book *roleBook
	ev   *pdEvent
	inc  *pdIncident
	sub  *pdSub
	// extra collects sentence values describe knows only while it words the event (see
	// sentenceAttrs).
	extra map[string]any
}

// describe returns the event's sentence ("{{actor}}" stands for the actor's role), type, kind, the
// status it moves the incident to, the values it reports for from-to facts, and the duty it shows
// the actor performing.
func (f pdFacts) describe() (fact string, typ timeline.Type, kind timeline.Kind, status timeline.Status,
	snaps []timeline.SnapshotField, duty string) {
	kind = timeline.KindFact
	at := f.ev.OccurredAt
	snap := func(name, value string) {
		if value != "" {
			snaps = append(snaps, timeline.SnapshotField{Name: name, Value: value, At: at})
		}
	}
	inc := f.inc
	if inc != nil {
		status = pdStatus(inc.Status)
		snap("priority", inc.Priority.summary())
		snap("escalation_policy", inc.EscalationPolicy.summary())
		snap("service", inc.Service.summary())
		if inc.IncidentType != nil {
			snap("incident_type", inc.IncidentType.Name)
		}
		snap("assignees", f.assigneeRoles())
	}
	from := timeline.FromPlaceholder
	switch f.ev.EventType {
	case "incident.triggered":
		typ, duty = timeline.TypeIncidentTriggered, "trigger"
		fact = fmt.Sprintf("PagerDuty incident #%d triggered on service %s (urgency %s%s), paged via the %s policy to %s",
			inc.Number, inc.Service.summary(), inc.Urgency, priorityText(inc), inc.EscalationPolicy.summary(), f.assigneeRoles())
	case "incident.acknowledged":
		typ, duty = timeline.TypeIncidentAcknowledged, "acknowledger"
		fact = "Acknowledged by {{actor}}"
	case "incident.unacknowledged":
		typ = timeline.TypeIncidentUnacknowledged
		fact = "Acknowledgement lapsed; the incident is triggered again and assigned to " + f.assigneeRoles()
	case "incident.escalated":
		typ, duty = timeline.TypeIncidentEscalated, "escalator"
		fact = "Escalated within the " + inc.EscalationPolicy.summary() + " policy" + from("assignees") + " to " + f.assigneeRoles()
	case "incident.reassigned":
		typ, duty = timeline.TypeIncidentReassigned, "reassigner"
		fact = "Reassigned by {{actor}}" + from("assignees") + " to " + f.assigneeRoles()
	case "incident.delegated":
		typ, duty = timeline.TypeIncidentDelegated, "delegator"
		fact = "Moved by {{actor}}" + from("escalation_policy") + " to the " + inc.EscalationPolicy.summary() + " escalation policy"
	case "incident.priority_updated":
		typ, duty = timeline.TypePriorityUpdated, "priority setter"
		p := inc.Priority.summary()
		if p == "" {
			p = "none"
		}
		fact = "Priority changed by {{actor}}" + from("priority") + " to " + p
	case "incident.resolved":
		typ, duty = timeline.TypeIncidentResolved, "resolver"
		fact = "Resolved in PagerDuty by {{actor}}"
	case "incident.reopened":
		typ, duty = timeline.TypeIncidentReopened, "reopener"
		fact = "Reopened by {{actor}} and assigned to " + f.assigneeRoles()
	case "incident.service_updated":
		typ = timeline.TypeServiceUpdated
		fact = "Moved by {{actor}}" + from("service") + " to service " + inc.Service.summary()
	case "incident.incident_type.changed":
		typ = timeline.TypeIncidentTypeChanged
		name := ""
		if inc.IncidentType != nil {
			name = inc.IncidentType.Name
		}
		fact = "Incident type changed by {{actor}}" + from("incident_type") + " to " + name
	case "incident.responder.added":
		typ, duty = timeline.TypeResponderAdded, "responder requester"
		role, rank := responderRole(f.sub.EscalationPolicy, f.book.roles)
		f.book.learn(f.sub.User, role, rank, "requested responder")
		fact = fmt.Sprintf("Responder requested via the %s policy by {{actor}} (%s)",
			f.sub.EscalationPolicy.summary(), orDefault(f.sub.State, "pending"))
	case "incident.responder.replied":
		typ, duty = timeline.TypeResponderReplied, "responder"
		role, rank := responderRole(f.sub.EscalationPolicy, f.book.roles)
		f.book.learn(f.sub.User, role, rank, "responder")
		fact = fmt.Sprintf("Responder request %s by %s", orDefault(f.sub.State, "answered"), f.book.role(f.sub.User).Phrase())
	case "incident.role.assigned":
		typ, duty = timeline.TypeRoleAssigned, "role assigner"
		var parts []string
		assignments := []map[string]any{}
		for _, a := range f.sub.Assignments {
			role := strings.ToLower(a.Role.Summary)
			as := map[string]any{"role": role}
			assignments = append(assignments, as)
			if a.Status != "" && a.Status != "active" {
				as["unassigned"] = true
				parts = append(parts, "Incident role "+role+" unassigned")
				continue
			}
			s := "Incident role " + role + " assigned"
			if a.Assignee != nil {
				held := f.book.role(a.Assignee) // the part they held until now
				as["to"] = string(held)
				s += " to " + held.Phrase()
				f.book.learn(a.Assignee, timeline.Role(role), timeline.RankIncidentRole, role)
			}
			if a.OldAssignee != nil {
				held := f.book.role(a.OldAssignee)
				as["from"] = string(held)
				s += ", taking it over from " + held.Phrase()
			}
			parts = append(parts, s)
		}
		f.extra["assignments"] = assignments
		fact = strings.Join(parts, "; ") + " by {{actor}}"
	case "incident.annotated":
		typ, kind, duty = timeline.TypeNote, timeline.KindContext, "note author"
		fact = f.sub.Content
	case "incident.status_update_published":
		typ, kind, duty = timeline.TypeStatusUpdate, timeline.KindContext, "status update author"
		fact = f.sub.Message
	case "incident.conference_bridge.updated":
		typ = timeline.TypeConferenceBridgeUpdated
		fact = "Conference bridge set by {{actor}}"
		if f.sub.ConferenceURL != "" {
			fact += ": " + f.sub.ConferenceURL
		}
	case "incident.custom_field_values.updated":
		typ = timeline.TypeCustomFieldsUpdated
		var names []string
		for _, c := range f.sub.ChangedCustomFields {
			names = append(names, orDefault(c.DisplayName, c.Name))
		}
		sort.Strings(names)
		fact = "Custom fields updated by {{actor}}: " + strings.Join(names, ", ")
	case "incident.workflow.started", "incident.workflow.completed":
		typ = timeline.Type("workflow_" + strings.TrimPrefix(f.ev.EventType, "incident.workflow."))
		fact = fmt.Sprintf("Incident workflow %q %s", orDefault(f.sub.IncidentWorkflow.summary(), f.sub.Summary),
			strings.TrimPrefix(f.ev.EventType, "incident.workflow."))
	case "incident.task.created", "incident.task.updated", "incident.task.completed":
		typ = timeline.Type("task_" + strings.TrimPrefix(f.ev.EventType, "incident.task."))
		var roles []string
		for i := range f.sub.Assignees {
			f.book.learn(&f.sub.Assignees[i], "", timeline.RankFallback, "task assignee")
			roles = append(roles, f.book.role(&f.sub.Assignees[i]).Phrase())
		}
		fact = fmt.Sprintf("Task %q %s by {{actor}}", f.book.scrub(orDefault(f.sub.Name, f.sub.Summary)),
			strings.TrimPrefix(f.ev.EventType, "incident.task."))
		if len(roles) > 0 {
			fact += ", assigned to " + strings.Join(roles, " and ")
		}
	case "incident.action_invocation.created", "incident.action_invocation.updated", "incident.action_invocation.terminated":
		typ = timeline.Type("action_invocation_" + strings.TrimPrefix(f.ev.EventType, "incident.action_invocation."))
		fact = fmt.Sprintf("Automation action %q %s (state %s)", f.sub.Action.summary(),
			strings.TrimPrefix(f.ev.EventType, "incident.action_invocation."), orDefault(f.sub.State, "unknown"))
	default:
		return "", "", "", "", nil, ""
	}
	return truncate(fact, 4000), typ, kind, status, snaps, duty
}

// targetRoles are the roles an event pages, hands over to, requests or assigns: the assignees of a
// trigger, escalation, reassignment or reopen, the requested responder, the incident roles assigned.
func (f pdFacts) targetRoles() []string {
	var roles []string
	add := func(r timeline.Role) {
		if r != "" && !contains(roles, string(r)) {
			roles = append(roles, string(r))
		}
	}
	switch f.ev.EventType {
	case "incident.triggered", "incident.escalated", "incident.reassigned", "incident.reopened", "incident.unacknowledged":
		if f.inc != nil {
			for i := range f.inc.Assignees {
				add(f.book.role(&f.inc.Assignees[i]))
			}
		}
	case "incident.responder.added", "incident.responder.replied":
		if f.sub.User != nil {
			add(f.book.role(f.sub.User))
		}
	case "incident.role.assigned":
		for _, a := range f.sub.Assignments {
			if a.Assignee != nil && (a.Status == "" || a.Status == "active") {
				add(timeline.Role(strings.ToLower(a.Role.Summary)))
			}
		}
	}
	return roles
}

// sentenceAttrs are the values of the event's sentence that the other attributes lack, so the
// sentence can be rendered in another language from the attributes (internal/i18n): short names
// and states, and roles (never names).
func (f pdFacts) sentenceAttrs() map[string]any {
	m := f.extra
	switch f.ev.EventType {
	case "incident.incident_type.changed":
		name := ""
		if f.inc != nil && f.inc.IncidentType != nil {
			name = f.inc.IncidentType.Name
		}
		m["incident_type"] = name
	case "incident.responder.added":
		m["responder_policy"] = f.sub.EscalationPolicy.summary()
		m["state"] = orDefault(f.sub.State, "pending")
	case "incident.responder.replied":
		m["state"] = orDefault(f.sub.State, "answered")
	case "incident.custom_field_values.updated":
		names := []string{}
		for _, c := range f.sub.ChangedCustomFields {
			names = append(names, orDefault(c.DisplayName, c.Name))
		}
		m["fields"] = names
	case "incident.workflow.started", "incident.workflow.completed":
		m["name"] = orDefault(f.sub.IncidentWorkflow.summary(), f.sub.Summary)
	case "incident.task.created", "incident.task.updated", "incident.task.completed":
		m["name"] = f.book.scrub(orDefault(f.sub.Name, f.sub.Summary))
		roles := []string{}
		for i := range f.sub.Assignees {
			if r := string(f.book.role(&f.sub.Assignees[i])); !contains(roles, r) {
				roles = append(roles, r)
			}
		}
		m["assignees"] = roles
	case "incident.action_invocation.created", "incident.action_invocation.updated", "incident.action_invocation.terminated":
		m["name"] = f.sub.Action.summary()
		m["state"] = orDefault(f.sub.State, "unknown")
	}
	return m
}

// assigneeRoles names the incident's assignees by role, e.g. "the on-call responder via the
// Checkout On-Call policy and the incident commander".
func (f pdFacts) assigneeRoles() string {
	if f.inc == nil || len(f.inc.Assignees) == 0 {
		return "nobody"
	}
	var roles []string
	for i := range f.inc.Assignees {
		r := f.book.role(&f.inc.Assignees[i]).Phrase()
		if !contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if len(f.inc.Assignees) > len(roles) {
		return strings.Join(roles, " and ") + " (" + strconv.Itoa(len(f.inc.Assignees)) + " people)"
	}
	return strings.Join(roles, " and ")
}

func priorityText(inc *pdIncident) string {
	if p := inc.Priority.summary(); p != "" {
		return ", priority " + p
	}
	return ""
}

func pdStatus(s string) timeline.Status {
	switch s {
	case "triggered":
		return timeline.StatusOpen
	case "acknowledged":
		return timeline.StatusAcknowledged
	case "resolved":
		return timeline.StatusResolved
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
