package drafts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/postmortemd/postmortemd/timeline"
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
	Severity string // matches severity or priority, case-insensitively
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

// maxDraftSize bounds a postmortem file the library reads or saves.
const maxDraftSize = 4 << 20

// ETag returns the strong validator of a postmortem's content.
func ETag(content []byte) string {
	sum := sha256.Sum256(content)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// libraryEntry is one file's parsed front matter, kept while the file's size and time are unchanged.
type libraryEntry struct {
	size    int64
	mod     time.Time
	summary Summary
	ok      bool // false: the file is not a postmortem (no front matter id)
}

// library caches the front matter of the directory's files between listings.
type library struct {
	mu      sync.Mutex
	entries map[string]libraryEntry // by file name
}

// isDraftFile reports whether name is a postmortem file of the directory: not a version written
// beside one, a temporary file or a hidden file.
func isDraftFile(name string) bool {
	return strings.HasSuffix(name, ".md") && !strings.HasPrefix(name, ".") && !strings.Contains(name, ".regenerated-")
}

// scan reads the front matter of every postmortem in the directory, re-reading only files that
// changed since the last scan.
func (s *Store) scan() ([]Summary, error) {
	des, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list postmortems: %w", err)
	}
	s.lib.mu.Lock()
	defer s.lib.mu.Unlock()
	if s.lib.entries == nil {
		s.lib.entries = map[string]libraryEntry{}
	}
	seen := make(map[string]bool, len(des))
	out := make([]Summary, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !isDraftFile(name) {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		seen[name] = true
		e, ok := s.lib.entries[name]
		if !ok || e.size != info.Size() || !e.mod.Equal(info.ModTime()) {
			e = libraryEntry{size: info.Size(), mod: info.ModTime()}
			if info.Size() <= maxDraftSize {
				if b, err := os.ReadFile(filepath.Join(s.Dir, name)); err == nil {
					if sum, err := summarize(b); err == nil && sum.ID != "" {
						sum.File, sum.Modified = name, info.ModTime().UTC()
						e.summary, e.ok = sum, true
					}
				}
			}
			s.lib.entries[name] = e
		}
		if e.ok {
			out = append(out, e.summary)
		}
	}
	for name := range s.lib.entries {
		if !seen[name] {
			delete(s.lib.entries, name)
		}
	}
	return out, nil
}

// frontMatter is what a postmortem's front matter says, leniently typed: people edit it by hand.
type frontMatter struct {
	ID             string   `yaml:"id"`
	Title          string   `yaml:"title"`
	Status         string   `yaml:"status"`
	Severity       string   `yaml:"severity"`
	Priority       string   `yaml:"priority"`
	IncidentStatus string   `yaml:"incident_status"`
	Services       []string `yaml:"services"`
	Tags           []string `yaml:"tags"`
	Recommended    bool     `yaml:"recommended"`
	Started        string   `yaml:"started"`
	Resolved       string   `yaml:"resolved"`
}

// frontMatterLine finds "line N" in a yaml.v3 error so it can be reported as a line of the file.
var frontMatterLine = regexp.MustCompile(`line (\d+)`)

// summarize parses a postmortem's front matter. Errors name the file's line.
func summarize(b []byte) (Summary, error) {
	d, err := parse(b)
	if err != nil {
		return Summary{}, err
	}
	if d.frontMatter == nil {
		return Summary{}, errors.New("no front matter (the postmortem must start with a --- line)")
	}
	var fm frontMatter
	if err := yaml.Unmarshal(d.frontMatter, &fm); err != nil {
		// The front matter starts on the file's line 2; yaml.v3 counts from the front matter.
		msg := frontMatterLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
			n, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
			return "line " + strconv.Itoa(n+1)
		})
		return Summary{}, fmt.Errorf("front matter does not parse: %s", strings.TrimPrefix(msg, "yaml: "))
	}
	sum := Summary{ID: fm.ID, Title: fm.Title, Status: fm.Status, Severity: fm.Severity, Priority: fm.Priority,
		IncidentStatus: fm.IncidentStatus, Services: nonNil(fm.Services), Tags: nonNil(fm.Tags), Recommended: fm.Recommended,
		Started: parseStamp(fm.Started), Resolved: parseStamp(fm.Resolved)}
	return sum, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func parseStamp(s string) *time.Time {
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(s)); err == nil {
		t = t.UTC()
		return &t
	}
	return nil
}

// List returns the postmortems in the directory that match q, newest incident first (by start,
// then by file time).
func (s *Store) List(q Query) ([]Summary, error) {
	all, err := s.scan()
	if err != nil {
		return nil, err
	}
	words := strings.Fields(strings.ToLower(q.Text))
	out := all[:0]
	for _, sum := range all {
		if !q.matches(sum) {
			continue
		}
		if len(words) > 0 {
			b, err := os.ReadFile(filepath.Join(s.Dir, sum.File))
			if err != nil || !containsAll(bytes.ToLower(b), words) {
				continue
			}
		}
		out = append(out, sum)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ta, tb := startOf(a), startOf(b); !ta.Equal(tb) {
			return ta.After(tb)
		}
		return a.ID > b.ID
	})
	return out, nil
}

func startOf(s Summary) time.Time {
	if s.Started != nil {
		return *s.Started
	}
	return s.Modified
}

func (q Query) matches(s Summary) bool {
	switch {
	case q.Status != "" && !strings.EqualFold(q.Status, s.Status):
		return false
	case q.Service != "" && !slices.ContainsFunc(s.Services, func(v string) bool { return strings.EqualFold(v, q.Service) }):
		return false
	case q.Severity != "" && !strings.EqualFold(q.Severity, s.Severity) && !strings.EqualFold(q.Severity, s.Priority):
		return false
	case q.Tag != "" && !slices.ContainsFunc(s.Tags, func(v string) bool { return strings.EqualFold(v, q.Tag) }):
		return false
	case q.Recommended != nil && *q.Recommended != s.Recommended:
		return false
	}
	return true
}

func containsAll(b []byte, words []string) bool {
	for _, w := range words {
		if !bytes.Contains(b, []byte(w)) {
			return false
		}
	}
	return true
}

// find returns the summary of incident id's postmortem, or an error wrapping timeline.ErrNotFound.
func (s *Store) find(id string) (Summary, error) {
	all, err := s.scan()
	if err != nil {
		return Summary{}, err
	}
	for _, sum := range all {
		if sum.ID == id {
			return sum, nil
		}
	}
	return Summary{}, fmt.Errorf("postmortem %q: %w", id, timeline.ErrNotFound)
}

// Get returns the postmortem of incident id, or an error wrapping timeline.ErrNotFound.
func (s *Store) Get(id string) (Document, error) {
	sum, err := s.find(id)
	if err != nil {
		return Document{}, err
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, sum.File))
	if errors.Is(err, fs.ErrNotExist) {
		return Document{}, fmt.Errorf("postmortem %q: %w", id, timeline.ErrNotFound)
	}
	if err != nil {
		return Document{}, fmt.Errorf("read postmortem %q: %w", id, err)
	}
	if fresh, err := summarize(b); err == nil && fresh.ID == id {
		fresh.File, fresh.Modified = sum.File, sum.Modified
		sum = fresh // the file may have changed since the scan
	}
	return Document{Summary: sum, Content: b, ETag: ETag(b)}, nil
}

// Save replaces the postmortem of incident id with content, if its current ETag is ifMatch ("*"
// matches any version). The check and the write happen under the directory's lock, so an edit and
// the worker's merge of new facts never lose each other's changes.
//
// It returns an error wrapping timeline.ErrPrecondition when the file changed since ifMatch was
// read (another edit won), timeline.ErrInvalid when content is not a well-formed postmortem (the
// message names the line), and timeline.ErrNotFound when there is no such postmortem.
func (s *Store) Save(id string, content []byte, ifMatch string) (Document, error) {
	if len(content) > maxDraftSize {
		return Document{}, fmt.Errorf("postmortem %q: %w: larger than %d bytes", id, timeline.ErrInvalid, maxDraftSize)
	}
	sum, err := validate(id, content)
	if err != nil {
		return Document{}, err
	}
	unlock, err := lockDir(s.Dir)
	if err != nil {
		return Document{}, fmt.Errorf("save postmortem: lock %s: %w", s.Dir, err)
	}
	defer unlock()
	cur, err := s.find(id)
	if err != nil {
		return Document{}, err
	}
	path := filepath.Join(s.Dir, cur.File)
	existing, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Document{}, fmt.Errorf("postmortem %q: %w", id, timeline.ErrNotFound)
	}
	if err != nil {
		return Document{}, fmt.Errorf("save postmortem %q: %w", id, err)
	}
	if ifMatch != "*" && !etagMatches(ifMatch, ETag(existing)) {
		return Document{}, fmt.Errorf("postmortem %q: %w: it changed since you read it (now %s); read it again and reapply your edit",
			id, timeline.ErrPrecondition, ETag(existing))
	}
	if !bytes.Equal(existing, content) {
		if err := writeAtomic(path, content); err != nil {
			return Document{}, err
		}
	}
	sum.File = cur.File
	if info, err := os.Stat(path); err == nil {
		sum.Modified = info.ModTime().UTC()
	}
	return Document{Summary: sum, Content: content, ETag: ETag(content)}, nil
}

// etagMatches compares an If-Match list with the current ETag (strong comparison).
func etagMatches(header, current string) bool {
	for _, t := range strings.Split(header, ",") {
		if strings.TrimSpace(t) == current {
			return true
		}
	}
	return false
}

// validate checks an edited postmortem before it replaces the file: well-formed markers, front
// matter that parses, the same incident id, and a known status.
func validate(id string, content []byte) (Summary, error) {
	sum, err := summarize(content)
	if err != nil {
		return Summary{}, fmt.Errorf("postmortem %q: %w: %w", id, timeline.ErrInvalid, err)
	}
	if sum.ID != id {
		return Summary{}, fmt.Errorf("postmortem %q: %w: front matter id is %q; the id cannot change", id, timeline.ErrInvalid, sum.ID)
	}
	if !slices.Contains(Statuses, sum.Status) {
		return Summary{}, fmt.Errorf("postmortem %q: %w: front matter status %q: want one of %s", id, timeline.ErrInvalid,
			sum.Status, strings.Join(Statuses, ", "))
	}
	return sum, nil
}
