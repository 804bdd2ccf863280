package review

import (
	"context"
	"errors"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

var _ drafts.Reviews = (*Scheduler)(nil)

// DraftReview is the incident's review as the draft shows it: the slot and why, the waiver and its
// reason, the attendees' roles; never their names or addresses. It returns nil for an incident
// without a review or with a cancelled one (the incident reopened; the draft waits for the next
// resolution).
func (s *Scheduler) DraftReview(ctx context.Context, incidentID string) (*drafts.Review, error) {
	r, err := s.Review(ctx, incidentID)
	if errors.Is(err, timeline.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if r.Status == StatusCancelled {
		return nil, nil
	}
	return &drafts.Review{Start: r.Start, End: r.End, TimeZone: r.TimeZone, Reason: r.Reason,
		Waived: r.Status == StatusWaived, WaiveReason: r.WaiveReason, Roles: Roles(r.Attendees)}, nil
}
