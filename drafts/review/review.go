package review

import (
	"context"
	"time"

	"github.com/postmortemd/postmortemd/internal/i18n"
)

// Status is where a review meeting is.
type Status string

// The statuses of a review. A cancelled meeting (the incident reopened) is scheduled again, with
// the same UID and a higher sequence, when the incident resolves again; a waived one stays waived.
const (
	StatusScheduled Status = "scheduled"
	StatusCancelled Status = "cancelled"
	StatusWaived    Status = "waived"
	// StatusUnscheduled is a review for which no slot could be found (the working days are all
	// holidays for weeks, or one facilitator's calendar is full): Reason says why, and every sweep
	// tries again.
	StatusUnscheduled Status = "unscheduled"
)

// DeliveryState is where one transport's delivery of the current sequence is.
type DeliveryState string

// The delivery states.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryFailed    DeliveryState = "failed" // failed at least once; retried at NextAttempt
)

// Review is the stored state of one incident's review meeting. There is at most one per incident;
// its UID never changes and Sequence grows with every change attendees must hear of.
type Review struct {
	IncidentID string    `json:"incident_id"`
	UID        string    `json:"uid"`
	Sequence   int       `json:"sequence"`
	Status     Status    `json:"status"`
	Title      string    `json:"title"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	TimeZone   string    `json:"time_zone"`
	// Late reports a meeting after the deadline; Reason says why the slot was chosen.
	Late   bool   `json:"late"`
	Reason string `json:"reason"`
	// ReasonCode is Reason as a message (i18n.Printer.ReviewReason says it in a reader's language);
	// nil in reviews stored before it, whose Reason is said as stored.
	ReasonCode *i18n.Message `json:"reason_code,omitempty"`
	// Why says which policy rule asked for a review.
	Why string `json:"why"`
	// ResolvedAt is the resolution the meeting was scheduled for; a later resolution moves it.
	ResolvedAt time.Time `json:"resolved_at"`
	// WaiveReason is why the meeting was waived (StatusWaived).
	WaiveReason string `json:"waive_reason,omitempty"`
	// Attendees hold addresses: never served by the API, only put into invitations.
	Attendees []Attendee `json:"attendees"`
	// Deliveries are per transport name.
	Deliveries map[string]*Delivery `json:"deliveries,omitempty"`
	CreatedAt  time.Time            `json:"created_at"`
	UpdatedAt  time.Time            `json:"updated_at"`
}

// Delivery is one transport's progress delivering a review.
type Delivery struct {
	// Sequence and Method are what was (or is being) delivered.
	Sequence    int           `json:"sequence"`
	Method      string        `json:"method"`
	State       DeliveryState `json:"state"`
	Attempts    int           `json:"attempts"`
	LastError   string        `json:"last_error,omitempty"`
	NextAttempt time.Time     `json:"next_attempt,omitzero"`
	DeliveredAt time.Time     `json:"delivered_at,omitzero"`
}

// Method is the iTIP method the current state is sent with.
func (r Review) Method() string {
	if r.Status == StatusScheduled {
		return itipRequest
	}
	return itipCancel
}

// pending reports whether transport name still has to deliver r's current sequence.
func (r Review) pending(name string) bool {
	d := r.Deliveries[name]
	return d == nil || d.Sequence != r.Sequence || d.State != DeliveryDelivered
}

// Store keeps reviews, one record per incident. timeline/redisstore satisfies it.
type Store interface {
	// UpdateReview reads the incident's record (nil when there is none), calls fn with it and
	// stores what fn returns, atomically: if another writer changed the record in between, fn is
	// called again with the new one. fn returning nil bytes (and no error) leaves the record as it
	// is. Errors from fn are returned as they are; an unreachable store gives an error wrapping
	// timeline.ErrUnavailable.
	UpdateReview(ctx context.Context, incidentID string, fn func(cur []byte) ([]byte, error)) error
	// Review returns the incident's record, or an error wrapping timeline.ErrNotFound.
	Review(ctx context.Context, incidentID string) ([]byte, error)
	// Reviews returns every record.
	Reviews(ctx context.Context) ([][]byte, error)
}

// ReasonText is why the slot was chosen (or none found), in p's language when the review stored
// it as a message, else as stored.
func (r Review) ReasonText(p i18n.Printer) string {
	if r.ReasonCode != nil && r.ReasonCode.Code != "" {
		return p.ReviewReason(*r.ReasonCode)
	}
	return r.Reason
}
