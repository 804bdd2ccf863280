package review

import (
	"context"
	"errors"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

var _ drafts.Reviews = (*Scheduler)(nil)

// DraftReviews is DraftReview of every incident that has a review, by incident id, in one read of
// the store (the drafts worker asks once per sweep).
func (s *Scheduler) DraftReviews(ctx context.Context) (map[string]*drafts.Review, error) {
	all, err := s.all(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*drafts.Review, len(all))
	for id, r := range all {
		if dr := draftReview(r); dr != nil {
			out[id] = dr
		}
	}
	return out, nil
}

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
	return draftReview(r), nil
}

// draftReview is what a draft shows of r; nil for a cancelled meeting or one without a slot.
func draftReview(r Review) *drafts.Review {
	if r.Status == StatusCancelled || r.Status == StatusUnscheduled {
		return nil
	}
	return &drafts.Review{Start: r.Start, End: r.End, TimeZone: r.TimeZone, Reason: r.Reason, ReasonCode: r.ReasonCode,
		Waived: r.Status == StatusWaived, WaiveReason: r.WaiveReason, Roles: Roles(r.Attendees)}
}
