package timeline

import (
	"context"
	"time"
)

// Participant is what postmortemd knows of one person who took part in an incident. It is the only
// place a name or an address may be kept, and only so the review can invite them: it is never part
// of a timeline, an API response about incidents, or a draft.
type Participant struct {
	// ID is the sender's id for the person (a PagerDuty user id).
	ID string `json:"id"`
	// Role is how the timeline names the person.
	Role Role `json:"role"`
	// RoleRank says how the role was learnt; a role of lower rank never replaces a higher one.
	RoleRank RoleRank `json:"role_rank"`
	// Level is the escalation level the person was paged at (1 primary, 2 secondary, ...), 0 if
	// unknown.
	Level int    `json:"level,omitempty"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	// Roles are the duties the person held in the incident (assignee, acknowledger, responder, ...),
	// so the review can tell required from optional attendees.
	Duties    []string  `json:"duties,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// RoleRank orders the ways a role is learnt, best last.
type RoleRank int

// Role sources, in the order the role resolution prefers them.
const (
	RankFallback     RoleRank = 1 // "a responder"
	RankPayload      RoleRank = 2 // the assignment context in the payload
	RankOnCall       RoleRank = 3 // the escalation level from on-call data
	RankConfig       RoleRank = 4 // the configured role map
	RankIncidentRole RoleRank = 5 // an incident role assigned in the incident (incident commander)
)

// Participants keeps the who-is-who of incidents, apart from their timelines, for a limited time.
type Participants interface {
	// Participants returns what is known of the people in a sender's incident, by person id. An
	// unknown key gives an empty map, not an error; an unreachable store gives ErrUnavailable.
	Participants(ctx context.Context, key string) (map[string]Participant, error)
	// SaveParticipants merges ps into the record: a role replaces the stored one only at an equal or
	// higher rank; duties, names and addresses accumulate. It renews the record's retention.
	SaveParticipants(ctx context.Context, key string, ps []Participant) error
}
