package timeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Batch is what one delivery from a sender says about one correlation group. A store applies a
// batch atomically, and applying the same batch any number of times, from any number of replicas,
// has the effect of applying it once.
//
// The lifecycle rules a store implements:
//
//   - A group has at most one open incident. A batch opens one only when the group has none and at
//     least one of its occurrences starts firing for the first time; a late or duplicated "firing"
//     of an occurrence that is already known (firing or resolved) never opens or reopens anything.
//   - An occurrence is identified by its Key and moves firing -> resolved once. Resolved is
//     terminal: a later "firing" for the same Key is a duplicate. A resolution whose Key was never
//     seen resolves the group's active occurrence with the same Alias, if any (senders that re-post
//     a resolved alert without its start time change the Key but not the Alias).
//   - Extra events (Batch.Events) are appended to the group's open incident once per DedupeKey.
//   - When Resolve is set and the group has an open incident after the batch, the incident
//     resolves at ResolvedAt and the group has no open incident any more; the next first-time
//     firing occurrence opens a new incident.
//   - A batch that brings only resolutions while the group has no open incident adds them to the
//     group's last incident (moving its ResolvedAt later if need be) rather than opening another:
//     these are alerts a truncated notification left out. With no last incident, a batch with
//     Resolve set opens an incident and resolves it at once (postmortemd started mid-incident).
//   - One outage seen by two senders is one incident: a group with no open incident that would open
//     one first joins the unresolved incident that one of its Links points at (PagerDuty's
//     incident_key is Alertmanager's dedup key). Links then point at the incident the batch opened
//     or joined.
//   - With OpenAlways, any news opens an incident (every PagerDuty event belongs to an incident).
//   - Status changes apply in the sources' time order (Status.At, ResolvedAt): an older word on the
//     status never overrides a newer one, whatever order deliveries arrive in. Leaving resolved
//     reopens the incident; nothing recorded is undone.
//   - A DeliveryKey seen before makes the whole batch a duplicate.
type Batch struct {
	Source Source
	// Group identifies the correlation group across deliveries (Alertmanager's groupKey, a PagerDuty
	// incident id).
	Group string
	// Open is the incident to create when the batch opens one. Its ID must be unique; Status,
	// ResolvedAt and the counters are set by the store.
	Open Incident
	// SeverityRank orders Open.Severity against the incident's current severity: a higher rank
	// replaces a lower one, so an incident shows the worst severity seen.
	SeverityRank int
	// OpenAlways opens an incident for any news, not only for a first-time firing occurrence.
	OpenAlways bool
	// Links are keys another source knows the same outage by.
	Links []string
	// DeliveryKey identifies the delivery itself (PagerDuty's X-Webhook-Id), if the sender has one.
	DeliveryKey string
	// Snapshot records the group's latest known values (priority, escalation policy, ...). A new
	// event whose JSON contains the placeholder "{{from:NAME}}" gets " from OLD" in its place when
	// this batch is the newest word on NAME and the value changed, and "" otherwise.
	Snapshot []SnapshotField
	// Status, if set, changes the incident's status (PagerDuty's acknowledge, resolve, reopen).
	Status *StatusChange
	// Occurrences are the alert occurrences the delivery reports, in delivery order.
	Occurrences []Occurrence
	// Events are further facts about the group's incident, each kept once per DedupeKey.
	Events []KeyedEvent
	// Resolve asks to resolve the group's open incident at ResolvedAt once the batch is applied.
	Resolve    bool
	ResolvedAt time.Time
	// Resolution is the event recorded when Resolve resolves an incident.
	Resolution Event
}

// OccurrenceState is where one alert occurrence is.
type OccurrenceState string

// The states of an occurrence.
const (
	OccurrenceFiring   OccurrenceState = "firing"
	OccurrenceResolved OccurrenceState = "resolved"
)

// Occurrence is one alert occurrence's state as a delivery reports it, with the fact to record if
// this is news.
type Occurrence struct {
	// Key identifies the occurrence (Alertmanager: fingerprint and startsAt).
	Key string
	// Alias identifies the alert across its occurrences (Alertmanager: fingerprint).
	Alias string
	State OccurrenceState
	Event Event
}

// SnapshotField is one value the sender reported as of At.
type SnapshotField struct {
	Name  string
	Value string
	At    time.Time
}

// StatusChange moves an incident to a status as of At, by the source's clock.
type StatusChange struct {
	To Status
	At time.Time
}

// FromPlaceholder is the text a fact carries where the store puts " from <old value>" (see
// Batch.Snapshot).
func FromPlaceholder(name string) string { return "{{from:" + name + "}}" }

// KeyedEvent is an event with the key that makes appending it idempotent.
type KeyedEvent struct {
	DedupeKey string
	// AltKeys are further names of the same fact (e.g. a PagerDuty log entry's type and second, shared
	// by the webhook event and the log entry a backfill finds): the event is appended only if none
	// of its keys was seen, and then all of them are.
	AltKeys []string
	Event   Event
}

// Refinement makes an event's provisional role (and the sentence naming it) precise once
// enrichment knows more; applying the same refinement again changes nothing.
type Refinement struct {
	IncidentID string
	EventID    string
	Role       Role
	Fact       string
}

// Refiner stores refinements.
type Refiner interface {
	// Refine records r; reads of the timeline show the refined role and fact. It returns an error
	// wrapping ErrNotFound for an unknown incident and ErrUnavailable when the store is unreachable.
	Refine(ctx context.Context, r Refinement) error
}

// Result says what applying a batch changed.
type Result struct {
	// IncidentID is the group's incident the batch applied to, or "" when it changed nothing and the
	// group has no open incident.
	IncidentID string
	Opened     bool
	Resolved   bool
	// Reopened reports a resolved incident made unresolved again; Joined, a group that joined
	// another source's incident through a link.
	Reopened bool
	Joined   bool
	// Appended counts events stored; Duplicates counts events already stored before.
	Appended   int
	Duplicates int
}

// Recorder applies batches. It is what a sender's receiver needs from a store.
type Recorder interface {
	// Record applies b atomically and idempotently. It returns an error wrapping ErrUnavailable when
	// the store cannot be reached, so the sender can be asked to retry.
	Record(ctx context.Context, b Batch) (Result, error)
}

// EventID derives a stable event id from the source and the event's identity, so the same fact gets
// the same id on every replica and every retry.
func EventID(source Source, identity string) string {
	sum := sha256.Sum256([]byte(string(source) + "\x00" + identity))
	return hex.EncodeToString(sum[:10])
}
