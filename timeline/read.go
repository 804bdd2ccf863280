package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
)

// Entry is a stored event in its encoded form. The read path serves Entry.JSON as it is, so a long
// timeline is not decoded and encoded again on every request.
type Entry struct {
	// Cursor is the store's arrival-order position of the event (a client resumes after it).
	Cursor string
	// At is the event's time in Unix nanoseconds, for ordering.
	At int64
	// JSON is the event encoded as the API shows it.
	JSON []byte
}

// ID reads the event's id without decoding the rest: the encoder writes it first.
func (e Entry) ID() string {
	const prefix = `{"id":"`
	if bytes.HasPrefix(e.JSON, []byte(prefix)) {
		if end := bytes.IndexByte(e.JSON[len(prefix):], '"'); end >= 0 {
			return string(e.JSON[len(prefix) : len(prefix)+end])
		}
	}
	var ev struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(e.JSON, &ev)
	return ev.ID
}

// SortEntries orders entries by the time they happened, and entries at the same instant by arrival.
func SortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].At < es[j].At })
}

// ListOptions narrows an incident listing.
type ListOptions struct {
	// Status is "" for every incident, StatusOpen for every unresolved one (open or acknowledged),
	// or one exact status otherwise.
	Status Status
	// Limit caps the number returned (newest first); Offset skips that many first.
	Limit  int
	Offset int
}

// Reader is what the read side needs from a store.
type Reader interface {
	// Incident returns one incident, or an error wrapping ErrNotFound.
	Incident(ctx context.Context, id string) (Incident, error)
	// Incidents lists incidents newest first.
	Incidents(ctx context.Context, o ListOptions) ([]Incident, error)
	// Entries returns an incident's events in arrival order, or an error wrapping ErrNotFound.
	Entries(ctx context.Context, id string) ([]Entry, error)
}

// SortedReader is what a store offers when it keeps timelines ordered for reading: the read API
// serves a long timeline from it without copying or sorting it on every request.
type SortedReader interface {
	// SortedEntries returns an incident's events ordered as SortEntries orders them, or an error
	// wrapping ErrNotFound. The slice may be shared with the store and other readers: callers must
	// not modify it.
	SortedEntries(ctx context.Context, id string) ([]Entry, error)
}

// Events is an incident's timeline ready to be written: its events in the order SortEntries gives,
// each as the JSON the API shows. A store that keeps events compressed hands a timeline out this way
// so that writing a response does not need a decoded copy of the whole timeline first.
type Events interface {
	// Len is the number of events.
	Len() int
	// Size is the length of event i's JSON (what AppendJSON appends).
	Size(i int) int
	// ID is event i's id.
	ID(i int) string
	// Index is the position of the first event whose id is id, -1 when there is none.
	Index(id string) int
	// AppendJSON appends event i's JSON to dst. It fails only when a stored event cannot be decoded.
	AppendJSON(dst []byte, i int) ([]byte, error)
	// Close tells the store the events are written; they must not be used after. The store may
	// then keep what it read for later reads.
	Close()
}

// EventsReader is what a store offers when it can hand out a timeline without decoding it whole.
type EventsReader interface {
	// SortedEvents reads an incident's events, ordered as SortEntries orders them, or returns an
	// error wrapping ErrNotFound. Everything is read from the store before it returns, so a store
	// failure is an error here and never a timeline cut short while it is written. The caller must
	// Close the result.
	SortedEvents(ctx context.Context, id string) (Events, error)
}

// EntryEvents is entries (already ordered) as Events.
type EntryEvents []Entry

// Len is the number of entries.
func (es EntryEvents) Len() int { return len(es) }

// Size is the length of entry i's JSON.
func (es EntryEvents) Size(i int) int { return len(es[i].JSON) }

// ID is entry i's event id.
func (es EntryEvents) ID(i int) string { return es[i].ID() }

// Index is the position of the first entry whose event id is id, -1 when there is none.
func (es EntryEvents) Index(id string) int {
	for i, e := range es {
		if e.ID() == id {
			return i
		}
	}
	return -1
}

// AppendJSON appends entry i's JSON to dst.
func (es EntryEvents) AppendJSON(dst []byte, i int) ([]byte, error) {
	return append(dst, es[i].JSON...), nil
}

// Close does nothing: the entries stay as they are.
func (EntryEvents) Close() {}
