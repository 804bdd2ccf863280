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
