package drafts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// Postmortems is where postmortem documents are kept: a directory of files (Store, the default) or
// a database every replica shares (SharedStore, --postmortems-store redis). The worker writes
// drafts through it; the HTTP side reads and edits them through it. Both implementations keep the
// same rules: one document per incident, drafted again only by merging into the machine-owned
// blocks, a merge that is not safe written beside the document, and an edit saved only over the
// version it was made on.
type Postmortems interface {
	// Get returns the postmortem of incident id, or an error wrapping timeline.ErrNotFound
	// (timeline.ErrConflict when several files claim the id, timeline.ErrUnavailable when the
	// store cannot be reached).
	Get(id string) (Document, error)
	// Save replaces the postmortem of incident id with content if its current ETag is ifMatch
	// ("*" matches any). Errors wrap timeline.ErrPrecondition (another edit won),
	// timeline.ErrInvalid (content is not a well-formed postmortem of id), timeline.ErrNotFound or
	// timeline.ErrUnavailable.
	Save(id string, content []byte, ifMatch string) (Document, error)
	// List returns the postmortems matching q, newest incident first.
	List(q Query) ([]Summary, error)
	// Write stores content, a draft freshly rendered for inc: it creates the document, merges
	// content into it, or writes content beside it when a merge is not safe (see Result). Errors
	// wrap timeline.ErrConflict, timeline.ErrInvalid or timeline.ErrUnavailable.
	Write(inc timeline.Incident, content []byte) (Result, error)
}

// Both stores are Postmortems.
var (
	_ Postmortems = (*Store)(nil)
	_ Postmortems = (*SharedStore)(nil)
)

// Records is what SharedStore needs from a database: documents by incident id, replaced only by
// compare-and-set, so that replicas which share nothing but the database never lose each other's
// writes. A version is a document's ETag. timeline/redisstore implements it on Redis.
type Records interface {
	// LoadDocument returns incident id's document and the metadata stored with it, or an error
	// wrapping timeline.ErrNotFound or timeline.ErrUnavailable.
	LoadDocument(ctx context.Context, id string) (content, meta []byte, err error)
	// StoreDocument replaces incident id's document, atomically, if its current version is
	// ifVersion ("" : only if there is none). It returns an error wrapping
	// timeline.ErrPrecondition when the version is another, or timeline.ErrUnavailable.
	StoreDocument(ctx context.Context, id, version, ifVersion string, content, meta []byte) error
	// DocumentIndex returns every document's metadata by incident id, in one read.
	DocumentIndex(ctx context.Context) (map[string][]byte, error)
	// AddBesideDocument keeps content under name beside incident id's document if the document's
	// version is still ifVersion (else timeline.ErrPrecondition). A name already taken is left as
	// it is and reported with added false.
	AddBesideDocument(ctx context.Context, id, ifVersion, name string, content []byte) (added bool, err error)
	// BesideDocuments returns the versions kept beside incident id's document, by name.
	BesideDocuments(ctx context.Context, id string) (map[string][]byte, error)
	// BesideIndex returns the names of the versions kept beside every document, by incident id.
	BesideIndex(ctx context.Context) (map[string][]string, error)
	// RemoveBesideDocument forgets the version called name beside incident id's document (a person
	// merged or dismissed it); a name not there is no error.
	RemoveBesideDocument(ctx context.Context, id, name string) error
}

// SharedStore keeps postmortems in a database every replica shares (Records), so replicas need no
// shared disk and every replica serves every postmortem. Each write is a compare-and-set on the
// document's version: the worker's merge is retried over a concurrent edit, and an edit made on a
// version another edit replaced gets timeline.ErrPrecondition, never a lost update.
//
// A document's file name (Summary.File) is the name it would have in a drafts directory
// (FileName); versions written beside it are named as the files store names them.
type SharedStore struct {
	// Records is the database. Required.
	Records Records
	// Now stamps modification times and names versions written beside a document. Default time.Now.
	Now func() time.Time
	// Timeout bounds each operation (the interface has no context). Default 5s.
	Timeout time.Duration
	// Logger, if set, gets a warning when a document's front matter does not parse.
	Logger *slog.Logger
}

// casAttempts bounds how often Write re-reads and merges again when another writer changed the
// document between its read and its write.
const casAttempts = 20

func (s *SharedStore) ctx() (context.Context, context.CancelFunc) {
	d := s.Timeout
	if d <= 0 {
		d = 5 * time.Second
	}
	return context.WithTimeout(context.Background(), d)
}

func (s *SharedStore) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// docMeta is what is stored with a document and in the index: its summary, as the front matter
// said when it was written, with its file name and modification time.
type docMeta struct {
	Summary
	ETag string `json:"etag"`
}

func (s *SharedStore) meta(id, file string, content []byte) []byte {
	sum, err := summarize(content)
	if err != nil || sum.ID == "" {
		sum = Summary{ID: id, Services: []string{}, Tags: []string{}, Problem: fmt.Sprint(err)}
	}
	sum.ID = id
	sum.File, sum.Modified = file, s.now()
	b, _ := json.Marshal(docMeta{Summary: sum, ETag: ETag(content)})
	return b
}

func readMeta(b []byte) (docMeta, error) {
	var m docMeta
	err := json.Unmarshal(b, &m)
	return m, err
}

// Write stores content, a draft freshly rendered for inc: as Store.Write does, with a
// compare-and-set in place of the directory's lock. Result.Path is the document's file name (or the
// name of the version written beside it).
func (s *SharedStore) Write(inc timeline.Incident, content []byte) (Result, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	for range casAttempts {
		res, err := s.write(ctx, inc, content)
		if errors.Is(err, timeline.ErrPrecondition) {
			continue // another replica or an edit won the race: read it again and merge again
		}
		return res, err
	}
	return Result{}, fmt.Errorf("write draft of %q: %w: the document kept changing during %d attempts", inc.ID, timeline.ErrUnavailable, casAttempts)
}

func (s *SharedStore) write(ctx context.Context, inc timeline.Incident, content []byte) (res Result, err error) {
	existing, rawMeta, err := s.Records.LoadDocument(ctx, inc.ID)
	switch {
	case errors.Is(err, timeline.ErrNotFound):
		if _, err := parseChecked(content); err != nil {
			return res, fmt.Errorf("write draft of %q: %w: regenerated draft: %w", inc.ID, timeline.ErrInvalid, err)
		}
		name := FileName(inc)
		if err := s.Records.StoreDocument(ctx, inc.ID, ETag(content), "", content, s.meta(inc.ID, name, content)); err != nil {
			return res, fmt.Errorf("write draft of %q: %w", inc.ID, err)
		}
		return Result{Path: name, Outcome: Created}, nil
	case err != nil:
		return res, fmt.Errorf("write draft of %q: %w", inc.ID, err)
	}
	name := FileName(inc)
	if m, err := readMeta(rawMeta); err == nil && m.File != "" {
		name = m.File
	}
	if id := frontMatterID(existing); id != "" && id != inc.ID {
		return res, fmt.Errorf("write draft %s: %w: the document holds the draft of incident %q", name, timeline.ErrConflict, id)
	}
	merged, conflict, err := merge(existing, content)
	if err != nil {
		return res, fmt.Errorf("write draft %s: %w: %w", name, timeline.ErrInvalid, err)
	}
	version := ETag(existing)
	if conflict == "" {
		if bytes.Equal(merged, existing) {
			return Result{Path: name, Outcome: Unchanged}, nil
		}
		if err := s.Records.StoreDocument(ctx, inc.ID, ETag(merged), version, merged, s.meta(inc.ID, name, merged)); err != nil {
			return res, fmt.Errorf("write draft %s: %w", name, err)
		}
		return Result{Path: name, Outcome: Merged}, nil
	}
	base := strings.TrimSuffix(name, ".md")
	others, err := s.Records.BesideDocuments(ctx, inc.ID)
	if err != nil {
		return res, fmt.Errorf("write draft %s: %w", name, err)
	}
	for _, o := range slices.Sorted(maps.Keys(others)) {
		if strings.HasPrefix(o, base+".regenerated-") && bytes.Equal(others[o], content) {
			return Result{Path: o, Outcome: Unchanged, Reason: conflict}, nil
		}
	}
	stamp := s.now().Format("20060102T150405Z")
	beside := base + ".regenerated-" + stamp + ".md"
	for n := 2; others[beside] != nil; n++ {
		beside = base + ".regenerated-" + stamp + "-" + strconv.Itoa(n) + ".md"
	}
	added, err := s.Records.AddBesideDocument(ctx, inc.ID, version, beside, content)
	if err != nil {
		return res, fmt.Errorf("write draft %s: %w", name, err)
	}
	if !added { // another replica took the name in the meantime: look again
		return res, fmt.Errorf("write draft %s: %w: %s was taken", name, timeline.ErrPrecondition, beside)
	}
	return Result{Path: beside, Outcome: WrittenBeside, Reason: conflict}, nil
}

// Get returns the postmortem of incident id, or an error wrapping timeline.ErrNotFound.
func (s *SharedStore) Get(id string) (Document, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.get(ctx, id)
}

func (s *SharedStore) get(ctx context.Context, id string) (Document, error) {
	content, rawMeta, err := s.Records.LoadDocument(ctx, id)
	if err != nil {
		return Document{}, fmt.Errorf("postmortem %q: %w", id, err)
	}
	m, _ := readMeta(rawMeta)
	sum := m.Summary
	if fresh, err := summarize(content); err == nil && fresh.ID == id {
		fresh.File, fresh.Modified = sum.File, sum.Modified
		sum = fresh
	}
	sum.ID = id
	beside, err := s.Records.BesideDocuments(ctx, id)
	if err != nil {
		return Document{}, fmt.Errorf("postmortem %q: %w", id, err)
	}
	sum.PendingVersions = pendingOf(beside)
	return Document{Summary: sum, Content: content, ETag: ETag(content)}, nil
}

// pendingOf lists the versions beside a document that wait for a person to merge them: drafts
// regenerated when a merge was not safe (*.regenerated-*.md, as the files store names them) and
// edits from the mirror directory that conflicted (*.edited-*.md).
func pendingOf[V any](beside map[string]V) []string {
	var out []string
	for name := range beside {
		if strings.Contains(name, ".regenerated-") || strings.Contains(name, ".edited-") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Save replaces the postmortem of incident id with content if its current ETag is ifMatch: the
// check and the write are one compare-and-set in the database, so of two edits made on the same
// version, on any replicas, exactly one is saved and the other gets timeline.ErrPrecondition.
func (s *SharedStore) Save(id string, content []byte, ifMatch string) (Document, error) {
	if len(content) > maxDraftSize {
		return Document{}, fmt.Errorf("postmortem %q: %w: %w", id, timeline.ErrInvalid, i18n.Refuse("reason.too_large", "Max", strconv.Itoa(maxDraftSize)))
	}
	sum, err := validate(id, content)
	if err != nil {
		return Document{}, err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	for range casAttempts {
		doc, err := s.save(ctx, id, sum, content, ifMatch)
		if errors.Is(err, timeline.ErrPrecondition) && ifMatch == "*" {
			continue // "any version" was asked for: another writer's change is no conflict
		}
		return doc, err
	}
	return Document{}, fmt.Errorf("save postmortem %q: %w: it kept changing during %d attempts", id, timeline.ErrUnavailable, casAttempts)
}

func (s *SharedStore) save(ctx context.Context, id string, sum Summary, content []byte, ifMatch string) (Document, error) {
	existing, rawMeta, err := s.Records.LoadDocument(ctx, id)
	if err != nil {
		return Document{}, fmt.Errorf("postmortem %q: %w", id, err)
	}
	cur := ETag(existing)
	if ifMatch != "*" && !etagMatches(ifMatch, cur) {
		return Document{}, fmt.Errorf("postmortem %q: %w: it changed since you read it (now %s); read it again and reapply your edit",
			id, timeline.ErrPrecondition, cur)
	}
	m, _ := readMeta(rawMeta)
	file := m.File
	meta := s.meta(id, file, content)
	if !bytes.Equal(existing, content) {
		if err := s.Records.StoreDocument(ctx, id, ETag(content), cur, content, meta); err != nil {
			if errors.Is(err, timeline.ErrPrecondition) {
				return Document{}, fmt.Errorf("postmortem %q: %w: it changed since you read it; read it again and reapply your edit", id, timeline.ErrPrecondition)
			}
			return Document{}, fmt.Errorf("save postmortem %q: %w", id, err)
		}
	}
	nm, _ := readMeta(meta)
	sum.File, sum.Modified = file, nm.Modified
	if beside, err := s.Records.BesideDocuments(ctx, id); err == nil {
		sum.PendingVersions = pendingOf(beside)
	}
	return Document{Summary: sum, Content: content, ETag: ETag(content)}, nil
}

// List returns the postmortems that match q, newest incident first, from the index (one read);
// a text query reads the documents that match the other filters.
func (s *SharedStore) List(q Query) ([]Summary, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	index, err := s.Records.DocumentIndex(ctx)
	if err != nil {
		return nil, fmt.Errorf("list postmortems: %w", err)
	}
	pending, err := s.Records.BesideIndex(ctx)
	if err != nil {
		return nil, fmt.Errorf("list postmortems: %w", err)
	}
	words := strings.Fields(strings.ToLower(q.Text))
	out := make([]Summary, 0, len(index))
	for id, raw := range index {
		m, err := readMeta(raw)
		if err != nil {
			// One bad record never hides the others: list it with what is known.
			m = docMeta{Summary: Summary{ID: id, Services: []string{}, Tags: []string{}, Problem: "index record does not parse: " + err.Error()}}
		}
		sum := m.Summary
		sum.ID = id
		if sum.Problem != "" && s.Logger != nil {
			s.Logger.Debug("a postmortem's front matter does not parse; it is listed with what could be read", "component", "drafts", "incident_id", id, "problem", sum.Problem)
		}
		if !q.matches(sum) {
			continue
		}
		if len(words) > 0 {
			b, _, err := s.Records.LoadDocument(ctx, id)
			if err != nil || !containsAll(bytes.ToLower(b), words) {
				continue
			}
		}
		sum.PendingVersions = pendingOf(setOf(pending[id]))
		out = append(out, sum)
	}
	sortNewestFirst(out)
	return out, nil
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Beside returns the versions kept beside incident id's postmortem (regenerated drafts a merge
// could not take, and edits from the mirror directory that conflicted), by name.
func (s *SharedStore) Beside(id string) (map[string][]byte, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.Records.BesideDocuments(ctx, id)
}

// Dismiss forgets the version called name kept beside incident id's postmortem: a person merged it
// by hand or decided against it. It is no longer listed in pending_versions.
func (s *SharedStore) Dismiss(id, name string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.Records.RemoveBesideDocument(ctx, id, name); err != nil {
		return fmt.Errorf("dismiss %s beside postmortem %q: %w", name, id, err)
	}
	return nil
}
