package actions

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

func ptr[T any](v T) *T { return &v }

func findItem(tb testing.TB, items []Item, action string) Item {
	tb.Helper()
	for _, it := range items {
		if it.Action == action {
			return it
		}
	}
	tb.Fatalf("no item %q in %+v", action, items)
	return Item{}
}

func TestApplyValidates(t *testing.T) {
	doc := mustRead(t, "filled.en.md")
	id := findItem(t, mustParse(t, Parser{}, doc), "Alert on checkout p99 latency above 2 s for 5 minutes").ID
	for _, tc := range []struct {
		name  string
		patch Patch
		field string
	}{
		{"moving due needs a reason", Patch{Due: ptr("2026-12-20")}, "reason:"},
		{"won't do needs a reason", Patch{Status: ptr(StatusWontDo)}, "reason:"},
		{"bad status", Patch{Status: ptr(Status("later"))}, "status:"},
		{"bad due", Patch{Due: ptr("20 December"), Reason: ptr("x")}, "due:"},
		{"empty owner", Patch{Owner: ptr(" ")}, "owner:"},
		{"unknown address as owner", Patch{Owner: ptr("someone@example.org")}, "owner:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parser{People: people}.Apply("pm-1", doc, id, tc.patch, now, tokyo)
			if !errors.Is(err, timeline.ErrInvalid) || !strings.HasPrefix(err.Error(), tc.field) {
				t.Errorf("err = %v, want ErrInvalid starting with %q", err, tc.field)
			}
		})
	}
	if _, _, err := (Parser{}).Apply("pm-1", doc, "000000000000", Patch{Status: ptr(StatusDone)}, now, tokyo); !errors.Is(err, timeline.ErrNotFound) {
		t.Errorf("unknown id: err = %v, want ErrNotFound", err)
	}
}

// The history is kept in the document across a renegotiation through the API, a due date changed
// by hand, and a re-merge of the draft by the drafts store.
func TestHistoryAcrossAPIHandEditAndReMerge(t *testing.T) {
	r, err := drafts.NewRenderer("en", "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 13, 31, 0, 0, time.UTC)
	resolved := start.Add(time.Hour)
	inc := timeline.Incident{ID: "20261123-queue-1", Title: "Queue backlog", Status: timeline.StatusResolved,
		StartedAt: start, ResolvedAt: &resolved, Services: []string{"checkout"}}
	first, err := r.Render(drafts.Input{Incident: inc, Now: resolved})
	if err != nil {
		t.Fatal(err)
	}
	store := &drafts.Store{Dir: t.TempDir()}
	if _, err := store.Write(inc, first); err != nil {
		t.Fatal(err)
	}
	// People fill in the table.
	doc, err := store.Get(inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	filled := strings.Replace(string(doc.Content), "| _To detect sooner: …_ | _role_ | _YYYY-MM-DD_ | _short / long_ | open | |",
		"| Alert on queue depth | database on-call | 2026-12-01 | short | open | |", 1)
	if doc, err = store.Save(inc.ID, []byte(filled), doc.ETag); err != nil {
		t.Fatal(err)
	}
	parsed, _ := Parser{}.Parse(inc.ID, doc.Content, now, tokyo)
	id := parsed[0].ID

	// 1. Renegotiated through the API.
	at1 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	out, it, err := Parser{}.Apply(inc.ID, doc.Content, id, Patch{Due: ptr("2026-12-15"), Reason: ptr("waiting for the vendor's fix")}, at1, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if it.ID != id || it.Due != "2026-12-15" || len(it.History) != 1 {
		t.Fatalf("after PATCH: %+v", it)
	}
	if doc, err = store.Save(inc.ID, out, doc.ETag); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc.Content), "**Renegotiated**") ||
		!strings.Contains(string(doc.Content), "- 2026-12-02T10:00:00Z · due 2026-12-01 → 2026-12-15 · waiting for the vendor's fix · Alert on queue depth") {
		t.Fatalf("the document does not show the renegotiation:\n%s", section5(doc.Content))
	}

	// 2. Someone moves the date by hand in the file; the sweep records it.
	hand := strings.Replace(string(doc.Content), "| database on-call | 2026-12-15 |", "| database on-call | 2026-12-22 |", 1)
	at2 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	handItems, _ := Parser{}.Parse(inc.ID, []byte(hand), at2, tokyo)
	pending := findItem(t, handItems, "Alert on queue depth")
	if n := len(pending.History); n != 2 || pending.History[1].Reason != ReasonChangedInDocument {
		t.Errorf("before the sweep records it, the hand change shows as pending: %+v", pending.History)
	}
	recorded, changed := Parser{}.Record(inc.ID, []byte(hand), at2)
	if !changed {
		t.Fatal("Record did not record the hand change")
	}
	if doc, err = store.Save(inc.ID, recorded, doc.ETag); err != nil {
		t.Fatal(err)
	}

	// 3. The incident's draft is merged again (a review was scheduled).
	again, err := r.Render(drafts.Input{Incident: inc, Now: resolved, Review: &drafts.Review{Start: at2, End: at2.Add(time.Hour), TimeZone: "UTC"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Write(inc, again)
	if err != nil || res.Outcome != drafts.Merged {
		t.Fatalf("re-merge: %+v, %v", res, err)
	}
	doc, err = store.Get(inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	finalItems, _ := Parser{}.Parse(inc.ID, doc.Content, at2, tokyo)
	final := findItem(t, finalItems, "Alert on queue depth")
	want := []Change{
		{At: at1, Field: "due", From: "2026-12-01", To: "2026-12-15", Reason: "waiting for the vendor's fix"},
		{At: at2, Field: "due", From: "2026-12-15", To: "2026-12-22", Reason: ReasonChangedInDocument},
	}
	if final.ID != id || final.Due != "2026-12-22" || !slices.Equal(final.History, want) {
		t.Errorf("after the re-merge:\n got %+v\nwant id %s, due 2026-12-22, history %+v\n%s", final, id, want, section5(doc.Content))
	}
}

func TestApplyWontDoWritesTheReasonAndStatus(t *testing.T) {
	doc := mustRead(t, "edited.ja.md")
	id := findItem(t, mustParse(t, Parser{}, doc), "キュー滞留のアラートを追加する").ID
	out, it, err := Parser{}.Apply("pm-1", doc, id, Patch{Status: ptr(StatusWontDo), Reason: ptr("監視基盤の移行で不要になる")}, now, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if it.Status != StatusWontDo || it.Reason != "監視基盤の移行で不要になる" || len(it.Problems) != 0 {
		t.Errorf("item: %+v", it)
	}
	s := string(out)
	if !strings.Contains(s, "| 対応しない | 監視基盤の移行で不要になる |") || !strings.Contains(s, "**再調整の履歴**") {
		t.Errorf("the Japanese table was not written in Japanese:\n%s", section5(out))
	}
	// The extra column and the other rows are kept as written.
	other := findItem(t, mustParse(t, Parser{}, out), "旧チェックアウト経路を廃止する")
	if other.Reason != "2027 年に経路ごと置き換えるため" || other.Due != "2027-06-30" || other.Status != StatusWontDo {
		t.Errorf("another row changed: %+v", other)
	}
	if !strings.Contains(s, "| 監視チームと相談済み |") {
		t.Errorf("the extra column's cell is lost:\n%s", section5(out))
	}
	// The history line says the field and the statuses in the table's words, and the API reads
	// them back as machine values.
	if !strings.Contains(s, " · ステータス 未着手 → 対応しない · 監視基盤の移行で不要になる · ") {
		t.Errorf("the history line is not in Japanese:\n%s", section5(out))
	}
	again := findItem(t, mustParse(t, Parser{}, out), "キュー滞留のアラートを追加する")
	if h := again.History; len(h) == 0 || h[len(h)-1].Field != "status" || h[len(h)-1].From != string(StatusOpen) ||
		h[len(h)-1].To != string(StatusWontDo) {
		t.Errorf("history read back: %+v", h)
	}
}

// A table without the column a change needs gets it, and the other rows stay whole.
func TestApplyAddsAMissingColumn(t *testing.T) {
	doc := mustRead(t, "reordered.en.md")
	id := findItem(t, mustParse(t, Parser{}, doc), "**Alert** on queue depth, not only on latency").ID
	out, it, err := Parser{}.Apply("pm-1", doc, id, Patch{Status: ptr(StatusWontDo), Reason: ptr("the new broker | alerts on depth itself")}, now, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if it.Reason != "the new broker | alerts on depth itself" {
		t.Errorf("reason %q", it.Reason)
	}
	if !strings.Contains(string(out), "| Due | Action | Status | Owner | Ticket | Agreed reason |") {
		t.Errorf("no reason column added:\n%s", section5(out))
	}
	items := mustParse(t, Parser{}, out)
	if len(items) != 4 || items[1].Action != "Write down how to fail over the primary" || items[0].Extra["Ticket"] != "OPS-1412" {
		t.Errorf("items after adding a column: %+v", items)
	}
}

// A known person's name in an owner cell is replaced by the role when postmortemd writes the
// document.
func TestRecordReplacesNamesInOwnerCells(t *testing.T) {
	out, changed := Parser{People: people}.Record("pm-1", mustRead(t, "filled.en.md"), now)
	if !changed || strings.Contains(string(out), "Dana Okafor") {
		t.Fatalf("the name is still in the document:\n%s", section5(out))
	}
	it := findItem(t, mustParse(t, Parser{People: people}, out), "Add a runbook step for draining the payment queue")
	if it.Owner != "database on-call" || slices.Contains(it.Problems, ProblemOwnerIsName) {
		t.Errorf("item: %+v", it)
	}
}

func section5(doc []byte) string {
	s := string(doc)
	if i := strings.Index(s, "## 5"); i >= 0 {
		s = s[i:]
	}
	if i := strings.Index(s, "\n## "); i >= 0 {
		s = s[:i]
	}
	return s
}

// A status changed by hand is recorded too, so the history says when an item was done.
func TestRecordHandChangedStatus(t *testing.T) {
	pinned, _ := Parser{}.Record("pm-1", mustRead(t, "filled.en.md"), now)
	done := strings.Replace(string(pinned), "| SRE on-call for payments | 2026-12-10 | short | open |", "| SRE on-call for payments | 2026-12-10 | short | done |", 1)
	at := now.Add(26 * time.Hour)
	out, changed := Parser{}.Record("pm-1", []byte(done), at)
	if !changed {
		t.Fatal("the hand change was not recorded")
	}
	items, _ := Parser{}.Parse("pm-1", out, at, tokyo)
	it := findItem(t, items, "Alert on checkout p99 latency above 2 s for 5 minutes")
	want := []Change{{At: at, Field: "status", From: "open", To: "done", Reason: ReasonChangedInDocument}}
	if !slices.Equal(it.History, want) {
		t.Errorf("history %+v, want %+v", it.History, want)
	}
	if _, again := (Parser{}).Record("pm-1", out, at.Add(time.Hour)); again {
		t.Error("recorded twice")
	}
}

// A file saved with Windows line endings keeps them, and nothing else moves.
func TestEditKeepsCRLF(t *testing.T) {
	doc := []byte(strings.ReplaceAll(string(mustRead(t, "filled.en.md")), "\n", "\r\n"))
	id := findItem(t, mustParse(t, Parser{}, doc), "Retire the legacy checkout path").ID
	out, it, err := Parser{}.Apply("pm-1", doc, id, Patch{Reason: ptr("replaced by the new checkout")}, now, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if it.Reason != "replaced by the new checkout" || strings.Count(string(out), "\n") != strings.Count(string(out), "\r\n") {
		t.Errorf("reason %q; CRLF kept: %v", it.Reason, strings.Count(string(out), "\n") == strings.Count(string(out), "\r\n"))
	}
	before, after := strings.Split(string(doc), "\r\n"), strings.Split(string(out), "\r\n")
	if len(before) != len(after) {
		t.Fatalf("%d lines became %d", len(before), len(after))
	}
	changed := 0
	for i := range before {
		if before[i] != after[i] {
			changed++
		}
	}
	if changed != 5 { // the five item rows (their ids pinned, one reason written)
		t.Errorf("%d lines changed, want 5", changed)
	}
}

// A reminder is written in the language of its postmortem's table.
func TestAnnouncementLanguage(t *testing.T) {
	items := mustParse(t, Parser{}, mustRead(t, "edited.ja.md"))
	r := &Reminders{o: ReminderOptions{BaseURL: "https://pm.example.org"}}
	a := r.announcement(dueItem{Item: items[0], Title: "キュー滞留", threshold: ThresholdOverdue, ja: true})
	if a.Text != "アクションアイテムが期限（2026-12-05）を過ぎています: キュー滞留のアラートを追加する" ||
		a.Fields[0] != (Field{"担当", "データベース当番"}) || a.Fields[3] != (Field{"期間", "短期"}) || a.Link != "https://pm.example.org/postmortems/pm-1" {
		t.Errorf("announcement %+v", a)
	}
	en := r.announcement(dueItem{Item: items[0], threshold: ThresholdDueToday})
	if en.Text != "Action item due today (2026-12-05): キュー滞留のアラートを追加する" || en.LinkText != "Postmortem: pm-1" {
		t.Errorf("announcement %+v", en)
	}
}
