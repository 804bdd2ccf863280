package drafts

import (
	"errors"
	"time"
)

// Summary is one postmortem as its file's front matter describes it: what the list of postmortems
// shows and searches. Attributes people edited by hand (title, status, tags, recommended) are read
// from the file, so the list shows what people wrote.
type Summary struct {
	// ID is the incident id the draft was written for (front matter "id"); the postmortem's id in
	// the API.
	ID       string `json:"id"`
	Title    string `json:"title"`
	Status   string `json:"status"` // draft, in-review, reviewed, published
	Severity string `json:"severity,omitempty"`
	Priority string `json:"priority,omitempty"`
	// IncidentStatus is the incident's status when the draft was last written.
	IncidentStatus string     `json:"incident_status,omitempty"`
	Services       []string   `json:"services"`
	Tags           []string   `json:"tags"`
	Recommended    bool       `json:"recommended"`
	Started        *time.Time `json:"started,omitempty"`
	Resolved       *time.Time `json:"resolved,omitempty"`
	// File is the file's name in the drafts directory.
	File string `json:"file"`
	// Modified is the file's modification time.
	Modified time.Time `json:"modified"`
}

// Query narrows a listing of postmortems. Empty fields match everything.
type Query struct {
	Status   string
	Service  string
	Severity string // matches severity or priority
	Tag      string
	// Recommended, when set, keeps only postmortems marked (or not marked) recommended.
	Recommended *bool
	// Text keeps postmortems whose file contains every word of Text, case-insensitively.
	Text string
}

// Document is one postmortem's file and its version.
type Document struct {
	Summary
	// Content is the Markdown file as it is on disk.
	Content []byte
	// ETag is a strong validator of Content (a quoted hash); Save takes it back as If-Match.
	ETag string
}

// Statuses are a postmortem's statuses, in the order a review moves it through them.
var Statuses = []string{"draft", "in-review", "reviewed", "published"}

var errNotImplemented = errors.New("not implemented yet")

// List returns the postmortems in the directory that match q, newest incident first.
func (s *Store) List(q Query) ([]Summary, error) { return nil, errNotImplemented }

// Get returns the postmortem of incident id, or an error wrapping timeline.ErrNotFound.
func (s *Store) Get(id string) (Document, error) { return Document{}, errNotImplemented }

// Save replaces the postmortem of incident id with content, if its current ETag is ifMatch. It
// returns an error wrapping timeline.ErrPrecondition when the file changed since (another edit
// won), timeline.ErrInvalid when content is not a well-formed postmortem (the message names the
// front matter line), and timeline.ErrNotFound when there is no such postmortem.
func (s *Store) Save(id string, content []byte, ifMatch string) (Document, error) {
	return Document{}, errNotImplemented
}
