package drafts_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

// Someone edits the draft in the browser while the drafts worker merges late facts into it: their
// edit merged onto the new version is exactly what the worker would have made of their edit.
func TestMerge3OfAnEditAndNewFactsIsTheWorkersMerge(t *testing.T) {
	s := newStory(t)
	s.deliverPD(12)
	r := mustRenderer(t, "en")
	base, err := r.Render(s.input())
	if err != nil {
		t.Fatal(err)
	}
	s.deliverPD(14) // reopened and resolved again: new facts
	regenerated, err := r.Render(s.input())
	if err != nil {
		t.Fatal(err)
	}
	theirs, ok, err := drafts.Merge(base, regenerated)
	if err != nil || !ok {
		t.Fatalf("worker's merge of the unedited draft: ok %v, %v", ok, err)
	}
	mine := handEdit(t, base)
	want, ok, err := drafts.Merge(mine, regenerated)
	if err != nil || !ok {
		t.Fatalf("worker's merge of the edit: ok %v, %v", ok, err)
	}
	got, conflicts := drafts.Merge3(base, theirs, mine)
	if conflicts != 0 || !bytes.Equal(got, want) {
		t.Fatalf("%d conflicts; merge differs from the worker's:\n%s", conflicts, firstDiff(got, want))
	}
	if p := drafts.EditProblems(theirs, got); p != nil {
		t.Errorf("the merge has problems: %+v", p)
	}
	if got, n := drafts.Merge3(base, theirs, base); n != 0 || !bytes.Equal(got, theirs) {
		t.Errorf("an unchanged edit merged onto theirs is not theirs (%d conflicts)", n)
	}
}

// Two people rewrite the same paragraph: both versions are kept, marked, and the merge cannot be
// saved until a person resolves it.
func TestMerge3MarksConflictsAndKeepsBothSides(t *testing.T) {
	base := []byte("---\nid: x\nstatus: draft\n---\n\n## Summary\n\nTBD\n\n## Actions\n\n- none\n")
	theirs := []byte("---\nid: x\nstatus: in-review\n---\n\n## Summary\n\nA migration held locks.\n\n## Actions\n\n- none\n")
	mine := []byte("---\nid: x\nstatus: draft\n---\n\n## Summary\n\nCheckout was slow for 40 minutes.\n\n## Actions\n\n- alert on lock waits\n")
	got, n := drafts.Merge3(base, theirs, mine)
	want := "---\nid: x\nstatus: in-review\n---\n\n## Summary\n\n" +
		drafts.ConflictStart + "\nCheckout was slow for 40 minutes.\n" + drafts.ConflictSep + "\nA migration held locks.\n" + drafts.ConflictEnd +
		"\n\n## Actions\n\n- alert on lock waits\n"
	if n != 1 || string(got) != want {
		t.Fatalf("%d conflicts, merged:\n%s\nwant:\n%s", n, got, want)
	}
	ps := drafts.EditProblems(theirs, got)
	if len(ps) != 3 || !ps[0].Blocking || ps[0].Line != 8 || !strings.Contains(ps[0].Message, "merge conflict") {
		t.Fatalf("problems %+v; want the three conflict lines, blocking", ps)
	}
	// Both inserted different last lines without a final line break.
	got, n = drafts.Merge3([]byte("a\n"), []byte("a\nb"), []byte("a\nc"))
	if n != 1 || string(got) != "a\n"+drafts.ConflictStart+"\nc\n"+drafts.ConflictSep+"\nb\n"+drafts.ConflictEnd+"\n" {
		t.Fatalf("%d conflicts, merged %q", n, got)
	}
}

// What the editor tells a person before saving an edit that touches the machine-owned blocks.
func TestEditProblems(t *testing.T) {
	s := newStory(t)
	s.deliverPD(12)
	draft, err := mustRenderer(t, "en").Render(s.input())
	if err != nil {
		t.Fatal(err)
	}
	d := string(draft)
	for _, tc := range []struct {
		name, old, new string
		blocking       bool
		want           string
	}{
		{"a clean edit", "_What happened, what was done, and what we learnt, for someone who was not there._", "Locks.", false, ""},
		{"an end marker deleted", "<!-- postmortemd:end facts -->\n", "", true, "breaks the lines that mark what postmortemd writes"},
		{"a begin marker changed", "<!-- postmortemd:begin observed", "<!-- postmortemd:begun observed", true, "Put the line back as it was loaded"},
		{"a whole block deleted", d[strings.Index(d, "<!-- postmortemd:begin observed") : strings.Index(d, "<!-- postmortemd:end observed -->\n")+len("<!-- postmortemd:end observed -->\n")], "", true, "block “observed” was deleted"},
		{"words inside a block", "| 13:34:09 | primary on-call (level 1) for checkout | Acknowledged", "| 13:34:09 | primary on-call (level 1) for checkout | Acknowledged late", false, "inside the machine-owned block “facts”"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(d, tc.old) {
				t.Fatalf("the draft lacks %q", tc.old)
			}
			ps := drafts.EditProblems(draft, []byte(strings.Replace(d, tc.old, tc.new, 1)))
			if tc.want == "" {
				if ps != nil {
					t.Fatalf("problems %+v, want none", ps)
				}
				return
			}
			if len(ps) != 1 || ps[0].Blocking != tc.blocking || !strings.Contains(ps[0].Message, tc.want) {
				t.Fatalf("problems %+v; want one, blocking %v, saying %q", ps, tc.blocking, tc.want)
			}
			if strings.Contains(ps[0].Message, "%!") {
				t.Fatalf("badly formatted message %q", ps[0].Message)
			}
		})
	}
}

// A note's role is whatever its writer typed: the draft quotes the note, but lists as responders
// only the roles the systems reported.
func TestRespondersAreTheRolesTheSystemsReported(t *testing.T) {
	s := newStory(t)
	s.deliverPD(12)
	in := s.input()
	last := in.Events[len(in.Events)-1]
	in.Events = append(in.Events, timeline.Event{ID: "note-1", At: last.At, Source: timeline.SourceManual,
		Type: timeline.TypeNote, Kind: timeline.KindContext, Role: "the friend who typed this role", Fact: "Rolled back."})
	out, err := mustRenderer(t, "en").Render(in)
	if err != nil {
		t.Fatal(err)
	}
	roles, _ := frontMatter(t, out)["roles"].(map[string]any)
	for _, r := range roles["responders"].([]any) {
		if r == "the friend who typed this role" {
			t.Fatalf("responders %v list a note's typed role", roles["responders"])
		}
	}
	if len(roles["responders"].([]any)) == 0 || !bytes.Contains(out, []byte("the friend who typed this role (note): Rolled back.")) {
		t.Fatal("the responders or the note are missing")
	}
}
