package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// incidentList is GET /api/v1/incidents.
type incidentList struct {
	Incidents []incidentView `json:"incidents"`
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
	links := s.postmortemLinks()
	out := incidentList{Incidents: make([]incidentView, len(incs))}
	for i, inc := range incs {
		out.Incidents[i] = incidentView{Incident: inc, Postmortem: links[inc.ID]}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getIncident(c echo.Context) error {
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	inc, err := s.store.Incident(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, incidentView{Incident: inc, Postmortem: s.postmortemLink(inc.ID)})
}

// incidentView is an incident as GET /api/v1/incidents/{id} shows it: the record plus links to
// what was made from it.
type incidentView struct {
	timeline.Incident
	// Postmortem links the incident's postmortem once it is written; absent before.
	Postmortem *postmortemLink `json:"postmortem,omitempty"`
}

// postmortemLink says where an incident's postmortem is.
type postmortemLink struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	URL     string `json:"url"`
	HTMLURL string `json:"html_url"`
}

// postmortemLinks returns the links of every written postmortem by incident id, for a listing (one
// read of the drafts directory); nil when there is none or it cannot be read.
func (s *Server) postmortemLinks() map[string]*postmortemLink {
	lib := s.opts.Postmortems.Library
	if lib == nil {
		return nil
	}
	all, err := lib.List(drafts.Query{})
	if err != nil {
		s.log.Warn("cannot read the drafts directory to link postmortems", "err", err)
		return nil
	}
	out := make(map[string]*postmortemLink, len(all))
	for _, sum := range all {
		it := postmortemItemOf(sum)
		out[sum.ID] = &postmortemLink{ID: sum.ID, Status: sum.Status, URL: it.URL, HTMLURL: it.HTMLURL}
	}
	return out
}

// postmortemLink returns the link to incident id's postmortem, nil when none is written (or the
// drafts directory cannot be read: the incident is still worth serving).
func (s *Server) postmortemLink(id string) *postmortemLink {
	lib := s.opts.Postmortems.Library
	if lib == nil {
		return nil
	}
	doc, err := lib.Get(id)
	if err != nil {
		if !errors.Is(err, timeline.ErrNotFound) {
			s.log.Warn("cannot read the drafts directory to link the postmortem", "incident_id", id, "err", err)
		}
		return nil
	}
	it := postmortemItemOf(doc.Summary)
	return &postmortemLink{ID: doc.ID, Status: doc.Status, URL: it.URL, HTMLURL: it.HTMLURL}
}

// getTimeline serves {"incident": …, "events": […]} with events ordered by when they happened. The
// stored event JSON is copied into the response as it is: a 10,000-event timeline is not decoded and
// encoded again. ?limit=N returns a page; ?after=<event id> continues after that event, and
// "next_after" names the event to continue from while more remain.
//
// Everything is read before the status is sent, so a store failure is a whole error response and
// never a 200 cut short. The body is written through a small buffer with its length announced: a
// long timeline is not assembled in a second copy (on the first read after a restart, fresh memory
// costs more than the copy), and a client that loses the connection half-way sees a short body, not
// a complete-looking one.
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
	events, err := s.sortedEvents(ctx, id)
	if err != nil {
		return err
	}
	defer events.Close()
	lo, hi := 0, events.Len()
	if after := c.QueryParam("after"); after != "" {
		i := events.Index(after)
		if i < 0 {
			return fmt.Errorf("after: %w: no event %q on this timeline", timeline.ErrInvalid, after)
		}
		lo = i + 1
	}
	var next []byte
	if limit > 0 && hi-lo > limit {
		hi = lo + limit
		if next, err = json.Marshal(events.ID(hi - 1)); err != nil {
			return err
		}
	}
	incJSON, err := json.Marshal(incidentView{Incident: inc, Postmortem: s.postmortemLink(inc.ID)})
	if err != nil {
		return err
	}
	const (
		head  = `{"incident":`
		evs   = `,"events":[`
		after = `,"next_after":`
		tail  = "}\n"
	)
	size := len(head) + len(incJSON) + len(evs) + len("]") + len(tail)
	for i := lo; i < hi; i++ {
		size += events.Size(i)
		if i > lo {
			size++
		}
	}
	if next != nil {
		size += len(after) + len(next)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, strconv.Itoa(size))
	c.Response().WriteHeader(http.StatusOK)
	w := responseWriters.Get().(*bufio.Writer)
	w.Reset(c.Response())
	defer func() {
		w.Reset(nil) // do not keep the response alive in the pool
		responseWriters.Put(w)
	}()
	w.WriteString(head)
	w.Write(incJSON)
	w.WriteString(evs)
	for i := lo; i < hi; i++ {
		if i > lo {
			w.WriteByte(',')
		}
		// Each event is appended (decoded, when the store keeps it compressed) straight into the
		// writer's free space: flushed first when it does not fit, so only an event larger than
		// the buffer gets memory of its own.
		if events.Size(i) > w.Available() {
			if err := w.Flush(); err != nil {
				break
			}
		}
		b, err := events.AppendJSON(w.AvailableBuffer(), i)
		if err != nil {
			// The status is sent: the client sees a body shorter than its length.
			s.log.Error("cannot write a timeline event", "incident_id", id, "err", err)
			return nil
		}
		if _, err := w.Write(b); err != nil {
			break
		}
	}
	w.WriteByte(']')
	if next != nil {
		w.WriteString(after)
		w.Write(next)
	}
	w.WriteString(tail)
	if err := w.Flush(); err != nil {
		// The status is sent: the client went away or stalled. Nothing is left to tell it.
		s.log.Debug("timeline response cut short", "incident_id", id, "err", err)
	}
	return nil
}

// responseWriters buffer long responses on their way to the connection: 64 KiB per write keeps the
// system calls few without holding a response's worth of memory.
var responseWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// sortedEvents returns an incident's events in the order the timeline shows them: from the store
// as it keeps them when it can hand them out without decoding them whole, shared with the store
// when it keeps them sorted, sorted here otherwise.
func (s *Server) sortedEvents(ctx context.Context, id string) (timeline.Events, error) {
	if er, ok := s.store.(timeline.EventsReader); ok {
		return er.SortedEvents(ctx, id)
	}
	if sr, ok := s.store.(timeline.SortedReader); ok {
		es, err := sr.SortedEntries(ctx, id)
		return timeline.EntryEvents(es), err
	}
	entries, err := s.store.Entries(ctx, id)
	if err != nil {
		return nil, err
	}
	timeline.SortEntries(entries)
	return timeline.EntryEvents(entries), nil
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
