package drafts_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

// library writes the story's draft (the incident resolved, then resolved again) into a directory.
func library(t *testing.T) (*drafts.Store, timeline.Incident, [][]byte) {
	t.Helper()
	inc, vs := versions(t)
	store := &drafts.Store{Dir: t.TempDir()}
	if _, err := store.Write(inc, vs[0]); err != nil {
		t.Fatal(err)
	}
	return store, inc, vs
}

func ids(sums []drafts.Summary) string {
	var out []string
	for _, s := range sums {
		out = append(out, s.ID)
	}
	return strings.Join(out, " ")
}

// The list is read from the files' front matter, so what people changed by hand is what is shown
// and searched; versions written beside a draft and other files are not postmortems.
func TestListReadsWhatPeopleWrote(t *testing.T) {
	store, inc, vs := library(t)
	doc, err := store.Get(inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	edited := handEdit(t, doc.Content) // status in-review, recommended, tags, a new title
	if _, err := store.Save(inc.ID, edited, doc.ETag); err != nil {
		t.Fatal(err)
	}
	// A second, older postmortem, as a person would keep it: hand-written front matter.
	older := "---\nid: \"20250101-db-failover-0000beef\"\ntitle: \"Database failover\"\nstatus: published\nseverity: critical\n" +
		"services: [orders-db]\ntags: [database]\nrecommended: false\nstarted: 2025-01-01T10:00:00Z\n---\n\nThe primary failed over after a quorum loss.\n"
	for name, content := range map[string]string{
		"2025-01-01-db-failover-0000beef.md": older,
		"notes.md":                           "# not a postmortem\n",
		drafts.FileName(inc)[:len(drafts.FileName(inc))-3] + ".regenerated-20261123T150000Z.md": string(vs[1]),
		".tmp-half-written.md": "---\nid: x\n",
	} {
		if err := os.WriteFile(filepath.Join(store.Dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	yes, no := true, false
	for _, tc := range []struct {
		name string
		q    drafts.Query
		want string
	}{
		{"all, newest incident first", drafts.Query{}, inc.ID + " 20250101-db-failover-0000beef"},
		{"status edited by hand", drafts.Query{Status: "in-review"}, inc.ID},
		{"status", drafts.Query{Status: "published"}, "20250101-db-failover-0000beef"},
		{"service", drafts.Query{Service: "checkout"}, inc.ID},
		{"severity or priority", drafts.Query{Severity: "p1"}, inc.ID},
		{"tag added by hand", drafts.Query{Tag: "schema-migration"}, inc.ID},
		{"recommended", drafts.Query{Recommended: &yes}, inc.ID},
		{"not recommended", drafts.Query{Recommended: &no}, "20250101-db-failover-0000beef"},
		{"text in a person's words", drafts.Query{Text: "ROW locks"}, inc.ID},
		{"every word must match", drafts.Query{Text: "quorum zebra"}, ""},
		{"text", drafts.Query{Text: "Quorum primary"}, "20250101-db-failover-0000beef"},
		{"no match", drafts.Query{Service: "nothing"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.List(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tc.want {
				t.Fatalf("List(%+v) = [%s], want [%s]", tc.q, ids(got), tc.want)
			}
		})
	}
	got, _ := store.List(drafts.Query{Status: "in-review"})
	if s := got[0]; s.Title != "Checkout slow: a schema migration held row locks" || !s.Recommended ||
		s.File != drafts.FileName(inc) || s.Started == nil || !s.Started.Equal(inc.StartedAt.Truncate(time.Second)) {
		t.Fatalf("summary %+v", s)
	}
}

func TestGetAndSave(t *testing.T) {
	eachStore(t, testGetAndSave)
}

func testGetAndSave(t *testing.T, store, replica drafts.Postmortems) {
	inc, _ := libraryIn(t, store)
	doc, err := store.Get(inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if doc.ETag != drafts.ETag(doc.Content) || !strings.HasPrefix(doc.ETag, `"`) {
		t.Fatalf("ETag %s", doc.ETag)
	}
	if _, err := store.Get("no-such-incident"); !errors.Is(err, timeline.ErrNotFound) {
		t.Fatalf("Get unknown: %v, want ErrNotFound", err)
	}
	edited := handEdit(t, doc.Content)
	saved, err := store.Save(inc.ID, edited, doc.ETag)
	if err != nil {
		t.Fatal(err)
	}
	if saved.ETag == doc.ETag || saved.Status != "in-review" {
		t.Fatalf("saved %+v", saved.Summary)
	}
	if got, err := replica.Get(inc.ID); err != nil || string(got.Content) != string(edited) || got.ETag != saved.ETag ||
		got.File != drafts.FileName(inc) || got.Status != "in-review" {
		t.Fatalf("another replica reads %+v %v, not the edit", got.Summary, err)
	}
	if fs, ok := store.(*drafts.Store); ok {
		if b := mustRead(t, filepath.Join(fs.Dir, drafts.FileName(inc))); string(b) != string(edited) {
			t.Fatal("the file is not the edit")
		}
	}
	if _, err := replica.Save(inc.ID, edited, doc.ETag); !errors.Is(err, timeline.ErrPrecondition) {
		t.Fatalf("save with a stale ETag: %v, want ErrPrecondition", err)
	}

	bad := func(from, to string) []byte { return []byte(strings.Replace(string(edited), from, to, 1)) }
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"front matter that no longer parses names the file's line",
			bad("status: in-review", "status: [in-review"), "line "},
		{"id changed", bad(`id: "`+inc.ID+`"`, `id: "another"`), "the id cannot change"},
		{"unknown status", bad("status: in-review", "status: finished"), `status "finished"`},
		{"no front matter", []byte("# just text\n"), "no front matter"},
		{"broken marker", bad("<!-- postmortemd:end observed -->", "<!-- postmortemd:end observed"), "marker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Save(inc.ID, tc.content, saved.ETag)
			if !errors.Is(err, timeline.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Save: %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
	// The YAML error's line is the file's line: the broken line is where the message says.
	broken := bad("status: in-review", "status: in-review: yes")
	_, err = store.Save(inc.ID, broken, saved.ETag)
	for i, l := range strings.Split(string(broken), "\n") {
		if strings.HasPrefix(l, "status: in-review: yes") && (err == nil || !strings.Contains(err.Error(), "line "+itoa(i+1)+":")) {
			t.Fatalf("%v does not name line %d, the broken one", err, i+1)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Two people save edits made on the same version at once: one wins, the other is told the file
// changed, and nothing is lost silently.
func TestConcurrentSavesOneWins(t *testing.T) {
	eachStore(t, testConcurrentSavesOneWins)
}

func testConcurrentSavesOneWins(t *testing.T, store, replica drafts.Postmortems) {
	inc, _ := libraryIn(t, store)
	doc, err := store.Get(inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			edit := strings.Replace(string(doc.Content), "tags: []", "tags: [editor-"+itoa(i)+"]", 1)
			on := store // half of the people edit on another replica
			if i%2 == 1 {
				on = replica
			}
			_, errs[i] = on.Save(inc.ID, []byte(edit), doc.ETag)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, timeline.ErrPrecondition):
			t.Fatalf("save: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d saves won, want exactly 1", won)
	}
	after, err := replica.Get(inc.ID)
	if err != nil || len(after.Tags) != 1 || !strings.HasPrefix(after.Tags[0], "editor-") {
		t.Fatalf("after the race: tags %v %v, want the one winner's", after.Tags, err)
	}
}

// An edit saved through the library, then the incident reopens and resolves again: the worker's
// merge keeps the edit byte for byte outside the machine-owned blocks.
func TestSavedEditSurvivesRedrafting(t *testing.T) {
	eachStore(t, testSavedEditSurvivesRedrafting)
}

func testSavedEditSurvivesRedrafting(t *testing.T, store, replica drafts.Postmortems) {
	inc, vs := libraryIn(t, store)
	doc, _ := store.Get(inc.ID)
	edited := handEdit(t, doc.Content)
	if _, err := store.Save(inc.ID, edited, doc.ETag); err != nil {
		t.Fatal(err)
	}
	res, err := replica.Write(inc, vs[1])
	if err != nil || res.Outcome != drafts.Merged {
		t.Fatalf("redraft: %+v %v, want merged", res, err)
	}
	if again, err := store.Write(inc, vs[1]); err != nil || again.Outcome != drafts.Unchanged {
		t.Fatalf("redraft on another replica: %+v %v, want unchanged", again, err)
	}
	after, err := store.Get(inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := split(edited)
	ha, _ := split(after.Content)
	if hb != ha {
		t.Fatal("the person's text changed when the incident was drafted again")
	}
	if after.Title != "Checkout slow: a schema migration held row locks" || after.Status != "in-review" {
		t.Fatalf("after redraft %+v", after.Summary)
	}
}

// People edit the files by hand: a loose edit ("tags: checkout", "recommended: yes") is read as
// meant, and front matter that no longer parses keeps the postmortem listed and served, with the
// problem and its line, so it can be fixed.
func TestHandEditedFrontMatter(t *testing.T) {
	store, inc, _ := library(t)
	path := filepath.Join(store.Dir, drafts.FileName(inc))
	orig := mustRead(t, path)
	edit := func(from, to string) {
		t.Helper()
		b := strings.Replace(string(orig), from, to, 1)
		if b == string(orig) {
			t.Fatalf("no %q in the draft", from)
		}
		if err := os.WriteFile(path, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("tags: []\nrecommended: false", "tags: checkout\nrecommended: yes")
	got, err := store.List(drafts.Query{Tag: "checkout"})
	if err != nil || len(got) != 1 || !got[0].Recommended || got[0].Problem != "" {
		t.Fatalf("loose edit: %+v %v", got, err)
	}

	edit("tags: []\nrecommended: false", "tags:\n  - a\n - b\nrecommended: false")
	lines := strings.Split(strings.Replace(string(orig), "tags: []\nrecommended: false", "tags:\n  - a\n - b\nrecommended: false", 1), "\n")
	broken := 0
	for i, l := range lines {
		if l == " - b" {
			broken = i + 1
		}
	}
	got, err = store.List(drafts.Query{})
	if err != nil || len(got) != 1 || got[0].ID != inc.ID {
		t.Fatalf("broken front matter: the postmortem is not listed: %+v %v", got, err)
	}
	if want := "line " + itoa(broken) + ":"; !strings.Contains(got[0].Problem, want) {
		t.Fatalf("problem %q does not name %s (the broken line)", got[0].Problem, want)
	}
	doc, err := store.Get(inc.ID)
	if err != nil || doc.Problem == "" {
		t.Fatalf("Get: %+v %v", doc.Summary, err)
	}
	// Fixing it over the API works; saving it broken does not.
	if _, err := store.Save(inc.ID, doc.Content, doc.ETag); !errors.Is(err, timeline.ErrInvalid) {
		t.Fatalf("saving broken front matter: %v, want ErrInvalid", err)
	}
	if _, err := store.Save(inc.ID, orig, doc.ETag); err != nil {
		t.Fatalf("saving the fix: %v", err)
	}
}

// A person renames the draft file: the next redraft merges into the renamed file instead of
// starting a blank second draft; a copy with the same id is reported, not silently preferred.
func TestRenamedDraftIsFoundByItsID(t *testing.T) {
	store, inc, vs := library(t)
	doc, _ := store.Get(inc.ID)
	edited := handEdit(t, doc.Content)
	renamed := filepath.Join(store.Dir, "checkout-schema-migration.md")
	if err := os.WriteFile(renamed, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(store.Dir, drafts.FileName(inc))); err != nil {
		t.Fatal(err)
	}
	res, err := store.Write(inc, vs[1])
	if err != nil || res.Outcome != drafts.Merged || res.Path != renamed {
		t.Fatalf("redraft: %+v %v, want merged into %s", res, err, renamed)
	}
	if _, err := os.Stat(filepath.Join(store.Dir, drafts.FileName(inc))); err == nil {
		t.Fatal("a second draft was written under the original name")
	}
	if err := os.WriteFile(filepath.Join(store.Dir, "copy.md"), edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(inc.ID); !errors.Is(err, timeline.ErrConflict) || !strings.Contains(err.Error(), "copy.md") {
		t.Fatalf("Get with two files claiming the id: %v, want ErrConflict naming them", err)
	}
}

// A version written beside the draft (an unsafe merge) is shown on the postmortem until a person
// merges it.
func TestPendingVersionsAreListed(t *testing.T) {
	eachStore(t, testPendingVersionsAreListed)
}

func testPendingVersionsAreListed(t *testing.T, store, replica drafts.Postmortems) {
	inc, vs := libraryIn(t, store)
	doc, err := store.Get(inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A person writes inside a machine-owned block: the next redraft cannot merge.
	b := []byte(strings.Replace(string(doc.Content), "| Severity / priority |", "| Severity (my words) |", 1))
	if _, err := store.Save(inc.ID, b, doc.ETag); err != nil {
		t.Fatal(err)
	}
	res, err := store.Write(inc, vs[1])
	if err != nil || res.Outcome != drafts.WrittenBeside || res.Reason == "" {
		t.Fatalf("%+v %v", res, err)
	}
	name := filepath.Base(res.Path)
	if want := strings.TrimSuffix(drafts.FileName(inc), ".md") + ".regenerated-"; !strings.HasPrefix(name, want) {
		t.Fatalf("written beside as %s, want %s...", name, want)
	}
	// Another replica (or a retry) with the same version: no second copy; the document is untouched.
	if again, err := replica.Write(inc, vs[1]); err != nil || again.Outcome != drafts.Unchanged || filepath.Base(again.Path) != name {
		t.Fatalf("second write: %+v %v, want unchanged at %s", again, err, name)
	}
	doc, err = replica.Get(inc.ID)
	if err != nil || len(doc.PendingVersions) != 1 || doc.PendingVersions[0] != name {
		t.Fatalf("pending versions %v (%v), want [%s]", doc.PendingVersions, err, name)
	}
	if string(doc.Content) != string(b) {
		t.Fatal("the person's document was changed by an unsafe merge")
	}
	list, err := replica.List(drafts.Query{})
	if err != nil || len(list) != 1 || strings.Join(list[0].PendingVersions, " ") != name {
		t.Fatalf("listed %+v %v, want one postmortem with pending version %s", list, err, name)
	}
}
