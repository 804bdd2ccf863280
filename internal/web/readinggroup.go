package web

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/drafts/readinggroup"
)

// ReadingGroup is what GET /api/v1/reading-group reads; *readinggroup.Group satisfies it.
type ReadingGroup interface {
	// Next returns the session in progress or the next one; ok is false when the recurrence
	// has ended. Errors wrap timeline.ErrUnavailable when the session store does not answer.
	Next(ctx context.Context) (s readinggroup.Session, ok bool, err error)
}

// ReadingGroupOptions configure GET /api/v1/reading-group. Without Group (no reading_group block
// in the configuration) the route answers 404 with a message saying how to configure one.
type ReadingGroupOptions struct {
	Group  ReadingGroup
	Config readinggroup.Config
}

// readingGroupResponse is the reading group's JSON.
type readingGroupResponse struct {
	RRule      string `json:"rrule"`
	TimeZone   string `json:"time_zone"`
	PerSession int    `json:"per_session"`
	// NextSession is the session in progress or the next one; null once the recurrence ended.
	NextSession *readinggroup.Session `json:"next_session"`
}

func (s *Server) readingGroupRoutes(api *echo.Group) {
	api.GET("/reading-group", s.getReadingGroup)
}

func (s *Server) getReadingGroup(c echo.Context) error {
	o := s.opts.ReadingGroup
	if o.Group == nil {
		return echo.NewHTTPError(http.StatusNotFound, "no reading group is configured: add a reading_group block (rrule, start, time_zone, invite, per_session) to the configuration file")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.storeTimeout)
	defer cancel()
	next, ok, err := o.Group.Next(ctx)
	if err != nil {
		return err
	}
	resp := readingGroupResponse{RRule: o.Config.RRule, TimeZone: next.TimeZone, PerSession: o.Config.PerSession}
	if resp.PerSession == 0 {
		resp.PerSession = readinggroup.DefaultPerSession
	}
	if resp.TimeZone == "" {
		resp.TimeZone = o.Config.TimeZone
	}
	if ok {
		resp.NextSession = &next
	}
	return c.JSON(http.StatusOK, resp)
}
