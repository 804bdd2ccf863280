// Package timeline owns postmortemd's domain: incidents, the fact-only events on their timelines, the
// roles that stand in for people, and the lifecycle rules that decide when an incident opens and
// resolves.
//
// It is plain types and pure logic on the standard library only: it must not import storage, HTTP or
// any sender's wire format. Adapters (timeline/redisstore) and edges (receiver, internal/web) depend
// on it, never the other way round.
package timeline

import (
	"encoding/json"
	"strings"
	"time"
)

// Status is where an incident is in its lifecycle.
type Status string

// The statuses an incident moves through. An incident that resolves and later fires again is a new
// incident (see Batch), except when a sender reopens it explicitly.
const (
	StatusOpen         Status = "open"
	StatusAcknowledged Status = "acknowledged"
	StatusResolved     Status = "resolved"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusOpen, StatusAcknowledged, StatusResolved:
		return true
	}
	return false
}

// Source names the system an event came from.
type Source string

// The sources postmortemd records. Manual is a person adding context through the API.
const (
	SourceAlertmanager Source = "alertmanager"
	SourcePagerDuty    Source = "pagerduty"
	SourceManual       Source = "manual"
)

// Kind separates what systems reported (facts) from what people said about it (context), so a
// timeline reader and the draft postmortem never mix the two.
type Kind string

// The two kinds of event.
const (
	KindFact    Kind = "fact"
	KindContext Kind = "context"
)

// Type says what an event records.
type Type string

// Event types recorded from Alertmanager.
const (
	TypeAlertFiring      Type = "alert_firing"
	TypeAlertResolved    Type = "alert_resolved"
	TypeAlertsTruncated  Type = "alerts_truncated"
	TypeIncidentResolved Type = "incident_resolved"
)

// Event types recorded from PagerDuty.
const (
	TypeIncidentTriggered       Type = "incident_triggered"
	TypeIncidentAcknowledged    Type = "incident_acknowledged"
	TypeIncidentUnacknowledged  Type = "incident_unacknowledged"
	TypeIncidentEscalated       Type = "incident_escalated"
	TypeIncidentReassigned      Type = "incident_reassigned"
	TypeIncidentDelegated       Type = "incident_delegated"
	TypePriorityUpdated         Type = "priority_updated"
	TypeIncidentReopened        Type = "incident_reopened"
	TypeServiceUpdated          Type = "service_updated"
	TypeIncidentTypeChanged     Type = "incident_type_changed"
	TypeResponderAdded          Type = "responder_added"
	TypeResponderReplied        Type = "responder_replied"
	TypeRoleAssigned            Type = "role_assigned"
	TypeNote                    Type = "note"
	TypeStatusUpdate            Type = "status_update"
	TypeConferenceBridgeUpdated Type = "conference_bridge_updated"
	TypeCustomFieldsUpdated     Type = "custom_fields_updated"
)

// Role is how a timeline names an actor: a monitoring system or a duty ("primary on-call for
// checkout-api"), never a person's name or address.
type Role string

// Event is one entry on an incident's timeline.
//
// At is when it happened by the source's clock; RecordedAt is when postmortemd received it. The
// timeline is ordered by At, so late deliveries land where they belong.
type Event struct {
	ID         string          `json:"id"`
	At         time.Time       `json:"at"`
	RecordedAt time.Time       `json:"recorded_at"`
	Source     Source          `json:"source"`
	Type       Type            `json:"type"`
	Kind       Kind            `json:"kind"`
	Role       Role            `json:"role"`
	Fact       string          `json:"fact"`
	Attributes json.RawMessage `json:"attributes,omitempty"`
	// room, when set by AttributesBuffer, is the memory in front of Attributes, in the same array,
	// that JSONInPlace writes the rest of the event's JSON into.
	room []byte
}

// Incident is one occurrence of an outage as postmortemd tracks it.
type Incident struct {
	ID         string            `json:"id"`
	Title      string            `json:"title"`
	Status     Status            `json:"status"`
	Severity   string            `json:"severity"`
	StartedAt  time.Time         `json:"started_at"`
	ResolvedAt *time.Time        `json:"resolved_at"`
	Services   []string          `json:"services"`
	Labels     map[string]string `json:"labels"`
	Sources    map[string]string `json:"sources"`
	// SettlesAt is when a resolved incident counts as resolved for the postmortem and review steps:
	// a grace window after postmortemd learnt of the resolution, because a resolution note or a
	// reopen often follows within seconds. Nil while the incident is not resolved.
	SettlesAt *time.Time `json:"settles_at"`
	// EventCount is the number of events on the timeline.
	EventCount int64 `json:"event_count"`
	// CreatedAt and UpdatedAt are postmortemd's own clock: when the incident was opened here and
	// when its record last changed.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Settled reports whether the incident counts as resolved for the postmortem and review steps at now.
func (i Incident) Settled(now time.Time) bool {
	return i.Status == StatusResolved && i.SettlesAt != nil && !now.Before(*i.SettlesAt)
}

// Source keys used in Incident.Sources.
const (
	SourceKeyAlertmanagerGroupKey  = "alertmanager.group_key"
	SourceKeyAlertmanagerReceiver  = "alertmanager.receiver"
	SourceKeyAlertmanagerExternal  = "alertmanager.external_url"
	SourceKeyPagerDutyIncidentID   = "pagerduty.incident_id"
	SourceKeyPagerDutyIncidentHTML = "pagerduty.html_url"
)

// Slug keeps lowercase ASCII letters and digits of s, joining runs of anything else with one
// hyphen, at most max bytes: the readable part of incident ids and draft file names.
func Slug(s string, max int) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && sb.Len() > 0 {
				if sb.Len()+2 > max {
					break
				}
				sb.WriteByte('-')
			}
			dash = false
			sb.WriteRune(r)
			if sb.Len() >= max {
				break
			}
		} else {
			dash = true
		}
	}
	return sb.String()
}
