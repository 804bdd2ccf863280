package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/drafts/lint"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// ReviewInfo is a review meeting as the API shows it: when, where it stands and how many are
// invited, never who (addresses go only into the invitations sent to the attendees).
type ReviewInfo struct {
	IncidentID string    `json:"incident_id"`
	UID        string    `json:"uid"`
	Sequence   int       `json:"sequence"`
	Status     string    `json:"status"` // scheduled, cancelled or waived
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	TimeZone   string    `json:"time_zone"`
	// ResolvedAt is the resolution the meeting was scheduled for; zero if unknown.
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Late reports a meeting past the deadline; Reason says why this slot.
	Late   bool   `json:"late"`
	Reason string `json:"reason"`
	// ReasonCode is Reason as a message (code and arguments, see i18n.ReviewSlotReason): pages say
	// it in the reader's language. Nil for a review stored before it.
	ReasonCode    *i18n.Message `json:"reason_code,omitempty"`
	WaiveReason   string        `json:"waive_reason,omitempty"`
	AttendeeCount int           `json:"attendee_count"`
	RequiredCount int           `json:"required_count"`
	Roles         []string      `json:"roles"`
	// Delivery is each transport's progress (caldav, email).
	Delivery map[string]ReviewDelivery `json:"delivery"`
}

// ReviewDelivery is one transport's progress delivering the current version of the invitation.
type ReviewDelivery struct {
	Sequence    int        `json:"sequence"`
	Method      string     `json:"method"`
	State       string     `json:"state"` // pending, delivered or failed (retried at next_attempt)
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error,omitempty"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// Reviews is what the review routes need from the review scheduler (drafts/review, adapted in
// cmd/postmortemd).
type Reviews interface {
	// ReviewInfo returns an incident's review, or an error wrapping timeline.ErrNotFound.
	ReviewInfo(ctx context.Context, incidentID string) (ReviewInfo, error)
	// ReviewCalendar returns the incident's meeting as an iCalendar object without attendee
	// addresses, or an error wrapping timeline.ErrNotFound.
	ReviewCalendar(ctx context.Context, incidentID string) ([]byte, error)
	// Calendar returns the subscribable feed of every review meeting, without addresses.
	Calendar(ctx context.Context) ([]byte, error)
	// Waive waives the incident's meeting; errors wrap timeline.ErrInvalid (no reason) or
	// timeline.ErrNotFound (no review).
	Waive(ctx context.Context, incidentID, reason string) (ReviewInfo, error)
}

// ReviewOptions configures the review meeting endpoints (issue #5).
type ReviewOptions struct {
	// Reviews is the scheduler; nil leaves the review routes out.
	Reviews Reviews
	// WaiveMiddleware, if set, wraps the waive route in addition to the write access check every
	// write gets (NoteOptions.WriteToken).
	WaiveMiddleware []echo.MiddlewareFunc
	// Location is where review meetings are held, a room or a call link (--review-location); the
	// review page shows it.
	Location string
}

// calendarType is the media type of the .ics responses.
const calendarType = "text/calendar; charset=utf-8"

// reviewRoutes registers the review meeting endpoints (issue #5):
//
//	GET  /api/v1/incidents/:id/review         the meeting as JSON (times, status, counts)
//	POST /api/v1/incidents/:id/review/waive   {"reason": "..."}: waive it (a write)
//	GET  /incidents/:id/review.ics            the meeting as iCalendar
//	GET  /calendar.ics                        every meeting: subscribe once
func (s *Server) reviewRoutes(e *echo.Echo, api *echo.Group) {
	if s.opts.Review.Reviews == nil {
		return
	}
	api.GET("/incidents/:id/review", s.getReview)
	mw := append([]echo.MiddlewareFunc{s.requireWrite}, s.opts.Review.WaiveMiddleware...)
	api.POST("/incidents/:id/review/waive", s.waiveReview, mw...)
	e.GET("/incidents/:id/review.ics", s.getReviewICS)
	e.GET("/calendar.ics", s.getCalendar)
}

// ReviewLink is the path of an incident's review meeting (.ics) for the incident page to link, or
// "" when the review routes are off.
func (s *Server) ReviewLink(incidentID string) string {
	if s.opts.Review.Reviews == nil {
		return ""
	}
	return "/incidents/" + url.PathEscape(incidentID) + "/review.ics"
}

func (s *Server) getReview(c echo.Context) error {
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	info, err := s.opts.Review.Reviews.ReviewInfo(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, info)
}

// maxWaiveBody bounds a waive request's body.
const maxWaiveBody = 16 << 10

func (s *Server) waiveReview(c echo.Context) error {
	var body struct {
		Reason string `json:"reason"`
	}
	// The reason is at most a few kilobytes: a larger body is refused before it is read whole.
	c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, maxWaiveBody)
	if err := c.Bind(&body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return bodyError("waive", mbe)
		}
		return fmt.Errorf("waive: %w: want a JSON body {\"reason\": \"...\"}", timeline.ErrInvalid)
	}
	body.Reason = strings.TrimSpace(body.Reason)
	if body.Reason == "" {
		return fmt.Errorf("waive: %w: a reason is required", timeline.ErrInvalid)
	}
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	// The reason reaches the draft and the feed: people in it become roles, as in notes.
	id := c.Param("id")
	people, _, err := s.peopleOf(ctx, id) // not found: Waive answers 404 below
	if err != nil {
		return err
	}
	reason, replaced := lint.ReplaceNames(body.Reason, people)
	info, err := s.opts.Review.Reviews.Waive(ctx, id, reason)
	if replaced > 0 {
		s.log.Info("names in a waive reason replaced by roles", "incident_id", id, "names_replaced", replaced)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, info)
}

func (s *Server) getReviewICS(c echo.Context) error {
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	b, err := s.opts.Review.Reviews.ReviewCalendar(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `inline; filename="review.ics"`)
	return c.Blob(http.StatusOK, calendarType, b)
}

func (s *Server) getCalendar(c echo.Context) error {
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	b, err := s.opts.Review.Reviews.Calendar(ctx)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, calendarType, b)
}

// reasonText is why the meeting's slot was chosen, in p's language when the review keeps it as a
// message, else as stored.
func (info ReviewInfo) reasonText(p i18n.Printer) string {
	if info.ReasonCode != nil && info.ReasonCode.Code != "" {
		return p.ReviewReason(*info.ReasonCode)
	}
	return info.Reason
}
