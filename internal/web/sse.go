package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// The live event stream: GET /api/v1/incidents/{id}/events as Server-Sent Events.
//
// Every client watching an incident shares one poll of the store (the store's read cache makes a
// poll fetch only what was appended). Each client keeps its own position, the cursor of the last
// event it was sent, so a client that resumes with Last-Event-ID gets every later event exactly
// once, whichever poll it joins.

const (
	defaultPollInterval = time.Second
	defaultHeartbeat    = 15 * time.Second
	defaultRetry        = 2 * time.Second
)

// streamHub runs one poll per watched incident.
type streamHub struct {
	s        *Server
	interval time.Duration
	shutdown <-chan struct{}

	mu    sync.Mutex
	feeds map[string]*feed
}

func newStreamHub(s *Server, o PageOptions) *streamHub {
	h := &streamHub{s: s, interval: o.PollInterval, shutdown: o.Shutdown, feeds: map[string]*feed{}}
	if h.interval <= 0 {
		h.interval = defaultPollInterval
	}
	return h
}

// feed is the latest state of one watched incident.
type feed struct {
	id   string
	subs int // guarded by streamHub.mu
	stop chan struct{}

	mu      sync.Mutex
	snap    feedSnapshot
	changed chan struct{} // closed, and replaced, when snap changes
}

type feedSnapshot struct {
	ok      bool
	inc     timeline.Incident
	entries []timeline.Entry // arrival order
}

// join subscribes to an incident's feed, starting its poll if nobody watched it yet.
func (h *streamHub) join(id string) *feed {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.feeds[id]
	if !ok {
		f = &feed{id: id, stop: make(chan struct{}), changed: make(chan struct{})}
		h.feeds[id] = f
		go h.poll(f)
	}
	f.subs++
	return f
}

// leave ends a subscription; the last one out stops the poll.
func (h *streamHub) leave(f *feed) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f.subs--; f.subs == 0 {
		delete(h.feeds, f.id)
		close(f.stop)
	}
}

// watched returns how many incidents are being polled.
func (h *streamHub) watched() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.feeds)
}

func (h *streamHub) poll(f *feed) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-h.shutdown:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.s.storeTimeout)
		inc, err := h.s.store.Incident(ctx, f.id)
		var es []timeline.Entry
		if err == nil {
			es, err = h.s.store.Entries(ctx, f.id)
		}
		cancel()
		if err != nil {
			// The stream stays open: the next poll may succeed, and the client keeps its position.
			h.s.log.Debug("event stream: poll failed", "incident_id", f.id, "err", err)
			continue
		}
		f.publish(feedSnapshot{ok: true, inc: inc, entries: es})
	}
}

// publish replaces the snapshot and wakes the subscribers, if anything they see changed.
func (f *feed) publish(s feedSnapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.snap
	if old.ok && len(old.entries) == len(s.entries) && lastCursor(old.entries) == lastCursor(s.entries) &&
		!statusChanged(old.inc, s.inc) && old.inc.UpdatedAt.Equal(s.inc.UpdatedAt) {
		return
	}
	f.snap = s
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *feed) latest() (feedSnapshot, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap, f.changed
}

func lastCursor(es []timeline.Entry) string {
	if len(es) == 0 {
		return ""
	}
	return es[len(es)-1].Cursor
}

// streamStatus is the data of a "status" message: the incident's lifecycle state.
type streamStatus struct {
	Status     timeline.Status `json:"status"`
	ResolvedAt *time.Time      `json:"resolved_at"`
	EventCount int64           `json:"event_count"`
}

// sseWriter writes Server-Sent Events and pushes each write out at once.
type sseWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	buf  bytes.Buffer
	idle time.Duration
}

func (w *sseWriter) event(id, typ string, data []byte) {
	if id != "" {
		w.buf.WriteString("id: " + id + "\n")
	}
	w.buf.WriteString("event: " + typ + "\ndata: ")
	if bytes.ContainsAny(data, "\r\n") { // one data line; the JSON encoder never writes raw newlines
		var c bytes.Buffer
		if json.Compact(&c, data) == nil {
			data = c.Bytes()
		} else {
			data = bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r"), nil), []byte("\n"), nil)
		}
	}
	w.buf.Write(data)
	w.buf.WriteString("\n\n")
}

func (w *sseWriter) comment(text string) { w.buf.WriteString(": " + text + "\n\n") }

// flush sends what was written; an error means the client is gone.
func (w *sseWriter) flush() error {
	if w.buf.Len() == 0 {
		return nil
	}
	// Keep the server's WriteTimeout from cutting a healthy stream; a dead client still times out.
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.idle))
	_, err := w.w.Write(w.buf.Bytes())
	w.buf.Reset()
	if err != nil {
		return err
	}
	return w.rc.Flush()
}

// entryKind reads an event's kind ("fact" or "context") for the SSE event type.
func entryKind(e timeline.Entry) string {
	var k struct {
		Kind timeline.Kind `json:"kind"`
	}
	if json.Unmarshal(e.JSON, &k) == nil && k.Kind == timeline.KindContext {
		return string(timeline.KindContext)
	}
	return string(timeline.KindFact)
}

// events is GET /api/v1/incidents/{id}/events: each event appended to the timeline from now on, or
// strictly after the cursor in the Last-Event-ID header (or ?last_event_id=, which the page uses on
// its first connection), in arrival order, with id = the event's cursor and event = its kind; a
// "status" message whenever the incident's status, resolved time or event count changes (and one at
// the start); a comment as a
// heartbeat.
func (p *pages) events(c echo.Context) error {
	select {
	case p.streams <- struct{}{}:
		defer func() { <-p.streams }()
	default:
		p.s.log.Warn("event stream refused: too many open", "max", cap(p.streams))
		return echo.NewHTTPError(http.StatusServiceUnavailable, "too many live event streams are open; retry later")
	}
	id := c.Param("id")
	last := c.Request().Header.Get("Last-Event-ID")
	if last == "" {
		last = c.QueryParam("last_event_id")
	}
	if last != "" && !validCursor(last) {
		return fmt.Errorf("last_event_id: %w: want an event id from this stream (like 1732300000000-0), got %q", timeline.ErrInvalid, last)
	}
	ctx, cancel := p.s.storeCtx(c)
	inc, err := p.s.store.Incident(ctx, id)
	var entries []timeline.Entry
	if err == nil {
		entries, err = p.s.store.Entries(ctx, id)
	}
	cancel()
	if err != nil {
		return err
	}
	if last == "" {
		last = "0-0"
		for _, e := range entries {
			if cursorAfter(e.Cursor, last) {
				last = e.Cursor
			}
		}
	}
	heartbeat := p.o.Heartbeat
	if heartbeat <= 0 {
		heartbeat = defaultHeartbeat
	}
	retry := p.o.Retry
	if retry <= 0 {
		retry = defaultRetry
	}

	f := p.hub.join(id)
	defer p.hub.leave(f)

	resp := c.Response()
	h := resp.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	resp.WriteHeader(http.StatusOK)
	w := &sseWriter{w: resp, rc: http.NewResponseController(resp), idle: heartbeat + 30*time.Second}
	// A stream outlives the server's timeouts: the write deadline moves with every write (flush), and
	// the read deadline is cleared, since a stream reads nothing more; a dead client fails a write.
	_ = w.rc.SetReadDeadline(time.Time{})
	w.buf.WriteString("retry: " + strconv.FormatInt(retry.Milliseconds(), 10) + "\n\n")

	sent := inc
	w.status(sent)
	pr := i18n.For(p.lang(c.Request()))
	send := func(es []timeline.Entry) {
		// Entries are in arrival order; those after the client's position are at the end.
		i := len(es)
		for i > 0 && cursorAfter(es[i-1].Cursor, last) {
			i--
		}
		if i == len(es) {
			return
		}
		words := streamWords(pr, es)
		for k, e := range es[i:] {
			data := e.JSON
			if words != nil {
				data = withWords(data, words[i+k])
			}
			w.event(e.Cursor, entryKind(e), data)
			last = e.Cursor
		}
	}
	send(entries)

	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	done := c.Request().Context().Done()
	for {
		snap, changed := f.latest()
		if snap.ok {
			send(snap.entries)
			// A snapshot older than what this client was sent must not move its status back.
			if statusChanged(sent, snap.inc) && !snap.inc.UpdatedAt.Before(sent.UpdatedAt) {
				sent = snap.inc
				w.status(sent)
			}
		}
		if err := w.flush(); err != nil {
			return nil // the client is gone
		}
		select {
		case <-changed:
		case <-tick.C:
			w.comment("heartbeat")
		case <-done:
			return nil
		case <-p.o.Shutdown:
			return nil
		}
	}
}

// streamWords renders es's facts and roles in p's language (nil for English), in es's order:
// facts read what came before them in timeline order, so es is rendered sorted by time.
func streamWords(p i18n.Printer, es []timeline.Entry) []readerWord {
	if p.Lang() == i18n.English {
		return nil
	}
	idx := make([]int, len(es))
	sorted := make([]timeline.Entry, len(es))
	copy(sorted, es)
	timeline.SortEntries(sorted)
	pos := make(map[string]int, len(sorted))
	for i, e := range sorted {
		pos[e.Cursor] = i
	}
	for i, e := range es {
		idx[i] = pos[e.Cursor]
	}
	words := readerWords(p, sorted)
	out := make([]readerWord, len(es))
	for i := range es {
		out[i] = words[idx[i]]
	}
	return out
}

// withWords adds the reader's words to an event's JSON as "text" and "role_text" (the stored
// "fact" and "role" stay as the API serves them); the page shows them when present.
func withWords(event []byte, w readerWord) []byte {
	event = bytes.TrimRight(event, " \t\r\n")
	if len(event) < 2 || event[len(event)-1] != '}' {
		return event
	}
	extra, err := json.Marshal(struct {
		Text     string `json:"text"`
		RoleText string `json:"role_text"`
	}{w.fact, w.role})
	if err != nil {
		return event
	}
	out := make([]byte, 0, len(event)+len(extra))
	out = append(out, event[:len(event)-1]...)
	if len(bytes.TrimSpace(event[1:len(event)-1])) > 0 {
		out = append(out, ',')
	}
	return append(out, extra[1:]...)
}

func (w *sseWriter) status(inc timeline.Incident) {
	b, _ := json.Marshal(streamStatus{Status: inc.Status, ResolvedAt: inc.ResolvedAt, EventCount: inc.EventCount})
	w.event("", "status", b)
}

// statusChanged reports whether a "status" message would say something new: the status, the
// resolved time (a reopened incident clears it; a late resolve moves it) or the event count.
func statusChanged(sent, now timeline.Incident) bool {
	if sent.Status != now.Status || sent.EventCount != now.EventCount {
		return true
	}
	if (sent.ResolvedAt == nil) != (now.ResolvedAt == nil) {
		return true
	}
	return sent.ResolvedAt != nil && !sent.ResolvedAt.Equal(*now.ResolvedAt)
}
