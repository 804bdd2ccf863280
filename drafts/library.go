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

	"github.com/postmortemd/postmortemd/internal/i18n"
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
	// Problem says why the front matter could not be read (a hand edit broke it): the postmortem is
	// still listed and served, with what could be read, so it can be fixed over HTTP.
	Problem string `json:"problem,omitempty"`
	// PendingVersions are newer drafts written beside this file because a merge was not safe (see
	// Store.Write): the new facts in them wait for a person to merge them by hand.
	PendingVersions []string `json:"pending_versions,omitempty"`
	// RecommendedReason is why people recommend the postmortem to newcomers (their front matter key
	// "recommended_reason"), "" when they gave none.
	RecommendedReason string `json:"recommended_reason"`
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
// changed since the last scan. A file whose front matter a hand edit broke is logged once per
// version and listed with its Problem.
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
	pending := map[string][]string{} // by the draft's file name
	out := make([]Summary, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if base, _, ok := strings.Cut(name, ".regenerated-"); ok && strings.HasSuffix(name, ".md") && de.Type().IsRegular() {
			pending[base+".md"] = append(pending[base+".md"], name)
			continue
		}
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
						if sum.Problem != "" && s.Logger != nil {
							s.Logger.Warn("a postmortem's front matter does not parse; it is listed with what could be read until someone fixes it",
								"component", "drafts", "file", name, "problem", sum.Problem)
						}
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
	for i := range out {
		if p := pending[out[i].File]; len(p) > 0 {
			slices.Sort(p)
			out[i].PendingVersions = p
		}
	}
	return out, nil
}

// frontMatter is what a postmortem's front matter says, leniently typed: people edit it by hand
// ("tags: checkout" for a list of one, "recommended: yes").
type frontMatter struct {
	ID             string      `yaml:"id"`
	Title          string      `yaml:"title"`
	Status         string      `yaml:"status"`
	Severity       string      `yaml:"severity"`
	Priority       string      `yaml:"priority"`
	IncidentStatus string      `yaml:"incident_status"`
	Services       lenientList `yaml:"services"`
	Tags           lenientList `yaml:"tags"`
	Recommended    lenientBool `yaml:"recommended"`
	Started        string      `yaml:"started"`
	Resolved       string      `yaml:"resolved"`
	// RecommendedReason is people's words; a bare number or date is kept as written.
	RecommendedReason string `yaml:"recommended_reason"`
}

// lenientList reads a YAML list of scalars, or one scalar as a list of one.
type lenientList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *lenientList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if v := strings.TrimSpace(n.Value); v != "" && n.Tag != "!!null" {
			*l = lenientList{v}
		}
		return nil
	case yaml.SequenceNode:
		out := make(lenientList, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a list of words", c.Line)
			}
			out = append(out, c.Value)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("line %d: want a list of words", n.Line)
}

// lenientBool reads true/false and the words people write for them (yes, no, on, off).
type lenientBool bool

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *lenientBool) UnmarshalYAML(n *yaml.Node) error {
	switch strings.ToLower(strings.TrimSpace(n.Value)) {
	case "true", "yes", "y", "on", "1":
		*b = true
	case "false", "no", "n", "off", "0", "", "~", "null":
		*b = false
	default:
		return fmt.Errorf("line %d: want true or false, got %q", n.Line, n.Value)
	}
	return nil
}

// frontMatterLine finds "line N" in a yaml.v3 error so it can be reported as a line of the file.
var frontMatterLine = regexp.MustCompile(`line (\d+)`)

// idLine finds the id in front matter that YAML cannot read, so a broken file is still listed.
var idLine = regexp.MustCompile(`(?m)^id:[ \t]*["']?([^"'\r\n#]+?)["']?[ \t]*(?:#.*)?\r?$`)

// summarize parses a postmortem's front matter. An error means the file is not a postmortem (no
// front matter, malformed markers, no id); front matter that does not parse still gives a Summary
// with the id and Problem set. Problems name the file's line.
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
		m := idLine.FindSubmatch(d.frontMatter)
		if m == nil {
			return Summary{}, fmt.Errorf("front matter %s", yamlProblem(d.frontMatter, err))
		}
		return Summary{ID: strings.TrimSpace(string(m[1])), Services: []string{}, Tags: []string{},
			Problem: "front matter " + yamlProblem(d.frontMatter, err)}, nil
	}
	sum := Summary{ID: fm.ID, Title: fm.Title, Status: fm.Status, Severity: fm.Severity, Priority: fm.Priority,
		IncidentStatus: fm.IncidentStatus, Services: nonNil(fm.Services), Tags: nonNil(fm.Tags), Recommended: bool(fm.Recommended),
		Started: parseStamp(fm.Started), Resolved: parseStamp(fm.Resolved)}
	sum.RecommendedReason = strings.TrimSpace(fm.RecommendedReason)
	return sum, nil
}

// fmFirstLine is the file line the front matter starts on (line 1 is "---").
const fmFirstLine = 2

// yamlProblem says where YAML fails in the front matter, as a line of the file. yaml.v3 often
// reports the start of the enclosing block rather than the broken line, so the line is found by
// parsing ever longer prefixes: the first prefix that fails ends at the broken line.
func yamlProblem(fm []byte, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := frontMatterLine.FindStringIndex(msg); m != nil {
		msg = strings.TrimLeft(msg[m[1]:], ": ")
	}
	lines := bytes.SplitAfter(fm, []byte("\n"))
	var prefix []byte
	for i, l := range lines {
		prefix = append(prefix, l...)
		var v any
		if yaml.Unmarshal(prefix, &v) != nil {
			return fmt.Sprintf("does not parse at line %d: %s", fmFirstLine+i, msg)
		}
	}
	return "does not parse: " + msg
}

func nonNil[S ~[]string](s S) []string {
	if s == nil {
		return []string{}
	}
	return []string(s)
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
	sortNewestFirst(out)
	return out, nil
}

// sortNewestFirst orders a listing as both stores answer it: newest incident first (by start,
// then by file time), ties by id.
func sortNewestFirst(out []Summary) {
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ta, tb := startOf(a), startOf(b); !ta.Equal(tb) {
			return ta.After(tb)
		}
		return a.ID > b.ID
	})
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

// find returns the summary of incident id's postmortem, or an error wrapping timeline.ErrNotFound,
// or timeline.ErrConflict when several files claim the id (a person copied one): which is the
// postmortem is then for a person to say, by removing the others.
func (s *Store) find(id string) (Summary, error) {
	all, err := s.scan()
	if err != nil {
		return Summary{}, err
	}
	var found []Summary
	for _, sum := range all {
		if sum.ID == id {
			found = append(found, sum)
		}
	}
	switch len(found) {
	case 0:
		return Summary{}, fmt.Errorf("postmortem %q: %w", id, timeline.ErrNotFound)
	case 1:
		return found[0], nil
	}
	files := make([]string, len(found))
	for i, f := range found {
		files[i] = f.File
	}
	slices.Sort(files)
	return Summary{}, fmt.Errorf("postmortem %q: %w: %w", id, timeline.ErrConflict,
		i18n.Refuse("reason.copies", "Files", strings.Join(files, ", ")))
}

// fileOf returns the file holding incident id's postmortem, "" when there is none. The file may
// have been renamed by a person: it is found by the id in its front matter.
func (s *Store) fileOf(id string) (string, error) {
	sum, err := s.find(id)
	switch {
	case errors.Is(err, timeline.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	}
	return sum.File, nil
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
		fresh.File, fresh.Modified, fresh.PendingVersions = sum.File, sum.Modified, sum.PendingVersions
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
		return Document{}, fmt.Errorf("postmortem %q: %w: %w", id, timeline.ErrInvalid, i18n.Refuse("reason.too_large", "Max", strconv.Itoa(maxDraftSize)))
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
	if sum.Problem != "" {
		return Summary{}, fmt.Errorf("postmortem %q: %w: %s", id, timeline.ErrInvalid, sum.Problem)
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

// SplitFrontMatter returns a postmortem's front matter (the YAML between its --- lines) and the
// Markdown after it, found as the library finds them. ok is false when content has no front matter
// or its markers do not parse; body is then all of content.
func SplitFrontMatter(content []byte) (frontMatter, body []byte, ok bool) {
	d, err := parse(content)
	if err != nil || d.frontMatter == nil {
		return nil, content, false
	}
	// The front matter starts after the first line and is followed by its closing line.
	body = content[bytes.IndexByte(content, '\n')+1+len(d.frontMatter):]
	if i := bytes.IndexByte(body, '\n'); i >= 0 {
		body = body[i+1:]
	} else {
		body = nil
	}
	return d.frontMatter, body, true
}
