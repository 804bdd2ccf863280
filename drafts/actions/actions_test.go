package actions

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

var (
	tokyo = mustZone("Asia/Tokyo")
	// now is 2026-12-03 09:00 in Tokyo.
	now    = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	people = []timeline.Participant{
		{Name: "Dana Okafor", Email: "dana.okafor@example.com", Role: "database on-call"},
	}
)

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustParse(tb testing.TB, p Parser, doc []byte) []Item {
	tb.Helper()
	items, err := p.Parse("pm-1", doc, now, tokyo)
	if err != nil {
		tb.Fatal(err)
	}
	return items
}

// want is the part of an item a reader checks.
type want struct {
	action, owner, due string
	horizon            Horizon
	status             Status
	reason             string
	overdue            bool
	problems           []string
}

func TestParseEditedTables(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []want
	}{
		{"filled.en.md", []want{
			{"Alert on checkout p99 latency above 2 s for 5 minutes", "SRE on-call for payments", "2026-12-10", HorizonShort, StatusOpen, "", false, nil},
			{"Add a runbook step for draining the payment queue", "database on-call", "2026-11-20", HorizonShort, StatusOpen, "", true, []string{ProblemOwnerIsName}},
			{"Move the payment queue to a managed broker", "payments platform team", "", HorizonLong, StatusOpen, "", false, []string{ProblemNoDue}},
			{"Retire the legacy checkout path", "payments platform team", "2027-03-31", HorizonLong, StatusWontDo, "", false, []string{ProblemNoReason}},
			{"Page the secondary after 10 minutes without acknowledgement", "incident commander", "2026-11-15", HorizonShort, StatusDone, "", false, nil},
		}},
		{"reordered.en.md", []want{
			{"**Alert** on queue depth, not only on latency", "database on-call", "2026-12-01", "", StatusOpen, "", true, nil},
			{"Write down how to fail over the primary", "", "", "", StatusOpen, "", false, []string{ProblemNoOwner, ProblemNoDue}},
			{"Load test the new broker `a|b` config", "capacity planning", "2026-11-01", "", StatusWontDo, "", false, []string{ProblemNoReason}},
			{"Share the `EXPLAIN` output with the team", "", "", "", StatusOpen, "", false,
				[]string{ProblemOwnerIsName, ProblemNoOwner, `due date "next week" is not a date (write YYYY-MM-DD)`}},
		}},
		{"edited.ja.md", []want{
			{"キュー滞留のアラートを追加する", "データベース当番", "2026-12-05", HorizonShort, StatusOpen, "", false, nil},
			{"フェイルオーバー手順を更新する", "database on-call", "2026-11-30", HorizonShort, StatusDone, "", false, []string{ProblemOwnerIsName}},
			{"旧チェックアウト経路を廃止する", "決済基盤チーム", "2027-06-30", HorizonLong, StatusWontDo, "2027 年に経路ごと置き換えるため", false, nil},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			items := mustParse(t, Parser{People: people}, mustRead(t, tc.file))
			if len(items) != len(tc.want) {
				t.Fatalf("got %d items, want %d: %+v", len(items), len(tc.want), items)
			}
			for i, w := range tc.want {
				it := items[i]
				got := want{it.Action, it.Owner, it.Due, it.Horizon, it.Status, it.Reason, it.Overdue, it.Problems}
				if got.action != w.action || got.owner != w.owner || got.due != w.due || got.horizon != w.horizon ||
					got.status != w.status || got.reason != w.reason || got.overdue != w.overdue || !slices.Equal(got.problems, w.problems) {
					t.Errorf("item %d:\n got %+v\nwant %+v", i, got, w)
				}
				if len(it.ID) != 12 || it.PostmortemID != "pm-1" || it.Line == 0 {
					t.Errorf("item %d: id %q, postmortem %q, line %d", i, it.ID, it.PostmortemID, it.Line)
				}
			}
		})
	}
}

func TestParseKeepsExtraColumns(t *testing.T) {
	items := mustParse(t, Parser{}, mustRead(t, "reordered.en.md"))
	if got := items[0].Extra["Ticket"]; got != "OPS-1412" {
		t.Errorf("Ticket = %q, want OPS-1412", got)
	}
	ja := mustParse(t, Parser{}, mustRead(t, "edited.ja.md"))
	if got := ja[0].Extra["備考"]; got != "監視チームと相談済み" {
		t.Errorf("備考 = %q", got)
	}
}

// The shipped templates, untouched, have no items: their rows are prompts.
func TestParseTemplatePlaceholdersAreNotItems(t *testing.T) {
	for _, f := range []string{"../../testdata/story.en.md", "../../testdata/story.ja.md"} {
		if items := mustParse(t, Parser{}, mustRead(t, f)); len(items) != 0 {
			t.Errorf("%s: %d items, want none: %+v", f, len(items), items)
		}
	}
}

func TestItemJSON(t *testing.T) {
	items := mustParse(t, Parser{}, mustRead(t, "reordered.en.md"))
	b, err := json.Marshal(items[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "postmortem_id", "action", "owner", "due", "horizon", "status", "reason", "overdue", "history", "problems"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, b)
		}
	}
	if m["owner"] != nil || m["due"] != nil || m["horizon"] != nil {
		t.Errorf("missing owner, due and horizon must be null: %s", b)
	}
	var back Item
	if err := json.Unmarshal(b, &back); err != nil || back.ID != items[1].ID || back.Action != items[1].Action {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

// An id stays the same when the status, due date, owner and other parts of the document change,
// and when rows move; once pinned it also survives a reworded action.
func TestIDsAreStable(t *testing.T) {
	doc := mustRead(t, "filled.en.md")
	before := mustParse(t, Parser{}, doc)
	edited := strings.NewReplacer(
		"| SRE on-call for payments | 2026-12-10 | short | open |", "| SRE | 2026-12-24 | short | done |",
		"### What the timeline does not show", "### What the timeline does not show\n\nWe also checked the CDN.",
	).Replace(string(doc))
	// Move the last row to the top of the table.
	last := "| Page the secondary after 10 minutes without acknowledgement | incident commander | 2026-11-15 | short | done | |\n"
	edited = strings.Replace(edited, last, "", 1)
	edited = strings.Replace(edited, "| --- | --- | --- | --- | --- | --- |\n| _To detect", "| --- | --- | --- | --- | --- | --- |\n"+last+"| _To detect", 1)
	after := mustParse(t, Parser{}, []byte(edited))
	ids := func(items []Item) map[string]string {
		m := map[string]string{}
		for _, it := range items {
			m[it.Action] = it.ID
		}
		return m
	}
	b, a := ids(before), ids(after)
	for action, id := range b {
		if a[action] != id {
			t.Errorf("%q: id %s became %s", action, id, a[action])
		}
	}
	// Pinned, then reworded: the id travels with the row.
	pinned, changed := Parser{}.Record("pm-1", doc, now)
	if !changed {
		t.Fatal("Record changed nothing in a document with unpinned items")
	}
	reworded := strings.Replace(string(pinned), "Alert on checkout p99 latency above 2 s for 5 minutes", "Alert on checkout p99 above 2 s (5 min)", 1)
	got := mustParse(t, Parser{}, []byte(reworded))
	if got[0].ID != before[0].ID || got[0].Action != "Alert on checkout p99 above 2 s (5 min)" {
		t.Errorf("reworded pinned item: %+v, want id %s", got[0], before[0].ID)
	}
	if again, changed := (Parser{}).Record("pm-1", pinned, now.Add(time.Hour)); changed {
		t.Errorf("Record is not idempotent:\n%s", again)
	}
	// The same action in another postmortem is another item.
	other, _ := Parser{}.Parse("pm-2", doc, now, tokyo)
	if other[0].ID == before[0].ID {
		t.Error("two postmortems' items share an id")
	}
}

// A row copied with its pinned id gets its own id, the original keeps its.
func TestCopiedRowGetsItsOwnID(t *testing.T) {
	pinned, _ := Parser{}.Record("pm-1", mustRead(t, "filled.en.md"), now)
	lines := strings.Split(string(pinned), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "| Alert on checkout") {
			copied := strings.Replace(l, "Alert on checkout", "Alert on search", 1)
			lines = slices.Insert(lines, i+1, copied)
			break
		}
	}
	items := mustParse(t, Parser{}, []byte(strings.Join(lines, "\n")))
	if items[0].ID == items[1].ID {
		t.Fatalf("copied row shares the id %s", items[0].ID)
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]Status{
		"open": StatusOpen, "": StatusOpen, "Done": StatusDone, "won't do": StatusWontDo, "Won’t do": StatusWontDo,
		"wont_do": StatusWontDo, "未着手": StatusOpen, "完了": StatusDone, "対応しない": StatusWontDo, "_done_": StatusDone,
	} {
		if got, ok := ParseStatus(in); !ok || got != want {
			t.Errorf("ParseStatus(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := ParseStatus("maybe"); ok {
		t.Error(`ParseStatus("maybe") is ok`)
	}
}

func TestLint(t *testing.T) {
	fs := Parser{People: people}.Lint(mustRead(t, "reordered.en.md"))
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule)
		if f.Line == 0 || f.Message == "" || f.Suggestion == "" {
			t.Errorf("finding %+v", f)
		}
	}
	want := []string{RuleOwner, RuleDue, RuleReason, RuleOwner, RuleOwner, RuleDue}
	if !slices.Equal(got, want) {
		t.Errorf("rules %v, want %v", got, want)
	}
	doc := mustRead(t, "reordered.en.md")
	if l := string(doc[fs[0].Offset:]); !strings.HasPrefix(l, "| | Write down how to fail over") {
		t.Errorf("offset points at %.40q", l)
	}
}

// Without a section-5 heading, a table is an action-item table only when it has an action column
// and an owner or due column: other tables (a timeline) are not items.
func TestParseWithoutASection5Heading(t *testing.T) {
	doc := "# Notes\n\n| Time | Action |\n| --- | --- |\n| 10:00 | restarted the node |\n\n## Follow-up\n\n" +
		"| Action | Owner | Due |\n| --- | --- | --- |\n| Add an alert | SRE | 2026-12-10 |\n"
	items := mustParse(t, Parser{}, []byte(doc))
	if len(items) != 1 || items[0].Action != "Add an alert" || items[0].Owner != "SRE" {
		t.Errorf("items %+v", items)
	}
}
