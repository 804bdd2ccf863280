package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/timeline"
)

const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// incidentList is GET /api/v1/incidents.
type incidentList struct {
	Incidents []timeline.Incident `json:"incidents"`
}

func (s *Server) listIncidents(c echo.Context) error {
	o := timeline.ListOptions{Status: timeline.Status(c.QueryParam("status"))}
	if o.Status != "" && !o.Status.Valid() {
		return fmt.Errorf("status: %w: want open, acknowledged or resolved, got %q", timeline.ErrInvalid, o.Status)
	}
	var err error
	if o.Limit, err = intParam(c, "limit", defaultListLimit, 1, maxListLimit); err != nil {
		return err
	}
	if o.Offset, err = intParam(c, "offset", 0, 0, 1<<30); err != nil {
		return err
	}
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	incs, err := s.store.Incidents(ctx, o)
	if err != nil {
		return fmt.Errorf("list incidents: %w", err)
	}
	return c.JSON(http.StatusOK, incidentList{Incidents: incs})
}

func (s *Server) getIncident(c echo.Context) error {
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	inc, err := s.store.Incident(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, inc)
}

// getTimeline serves {"incident": …, "events": […]} with events ordered by when they happened. The
// stored event JSON is copied into the response as it is: a 10,000-event timeline is not decoded and
// encoded again. ?limit=N returns a page; ?after=<event id> continues after that event, and
// "next_after" names the event to continue from while more remain.
func (s *Server) getTimeline(c echo.Context) error {
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	id := c.Param("id")
	limit, err := intParam(c, "limit", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		return err
	}
	entries, err := s.store.Entries(ctx, id)
	if err != nil {
		return err
	}
	timeline.SortEntries(entries)
	if after := c.QueryParam("after"); after != "" {
		i := indexOfEvent(entries, after)
		if i < 0 {
			return fmt.Errorf("after: %w: no event %q on this timeline", timeline.ErrInvalid, after)
		}
		entries = entries[i+1:]
	}
	next := ""
	if limit > 0 && len(entries) > limit {
		entries = entries[:limit]
		next = entries[limit-1].ID()
	}
	incJSON, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	size := len(incJSON) + 64
	for _, e := range entries {
		size += len(e.JSON) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	buf.WriteString(`{"incident":`)
	buf.Write(incJSON)
	buf.WriteString(`,"events":[`)
	for i, e := range entries {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(e.JSON)
	}
	buf.WriteByte(']')
	if next != "" {
		buf.WriteString(`,"next_after":`)
		nb, _ := json.Marshal(next)
		buf.Write(nb)
	}
	buf.WriteString("}\n")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, buf.Bytes())
}

func indexOfEvent(entries []timeline.Entry, id string) int {
	for i, e := range entries {
		if e.ID() == id {
			return i
		}
	}
	return -1
}

func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: %w: want a whole number from %d to %d, got %q", name, timeline.ErrInvalid, lo, hi, v)
	}
	return n, nil
}
