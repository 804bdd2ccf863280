package actions

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// messages are what postmortemd writes into a document, in the document's language.
type messages struct {
	heading           string
	changedInDocument string
	status            map[Status]string
	column            map[kind]string
	field             map[string]string // a history line's name of a changed field (Change.Field)
}

// msgs holds the catalogue, keyed by "written in Japanese".
var msgs = map[bool]messages{
	false: {
		heading:           "**Renegotiated** (postmortemd adds a line for every change of an item's due date, status or owner: when, old → new, why, which item)",
		changedInDocument: ReasonChangedInDocument,
		status:            map[Status]string{StatusOpen: "open", StatusDone: "done", StatusWontDo: "won't do"},
		column:            map[kind]string{colOwner: "Owner (role)", colDue: "Due", colStatus: "Status", colReason: "Agreed reason"},
		field:             map[string]string{"due": "due", "status": "status", "owner": "owner"},
	},
	true: {
		heading:           "**再調整の履歴**（期限・ステータス・担当の変更ごとに postmortemd が 1 行追加します: 日時、変更前 → 変更後、理由、アクション）",
		changedInDocument: "文書上で変更",
		status:            map[Status]string{StatusOpen: "未着手", StatusDone: "完了", StatusWontDo: "対応しない"},
		column:            map[kind]string{colOwner: "担当（ロール）", colDue: "期限", colStatus: "ステータス", colReason: "合意した理由"},
		field:             map[string]string{"due": "期限", "status": "ステータス", "owner": "担当"},
	},
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Patch is a change to one item; nil fields are left as they are.
type Patch struct {
	Status *Status
	// Due is the new due date (YYYY-MM-DD); "" removes it.
	Due   *string
	Owner *string
	// Reason says why: required to move a due date and to decide not to do an item. It is kept in
	// the history; for a won't-do it is also the item's agreed reason.
	Reason *string
}

// ErrItemNotFound is wrapped (with timeline.ErrNotFound) when a document has no item of that id.
var ErrItemNotFound = fmt.Errorf("action item: %w", timeline.ErrNotFound)

// Record writes what postmortemd must remember into doc: every item's id and the due date it now
// has (pinned in the row), the role instead of a known person's name or an address in an owner
// cell, and a history line for every due date changed by hand since it was last pinned. changed
// is false, and out is doc, when there was nothing to write. It is idempotent: recording out again
// changes nothing.
func (p Parser) Record(postmortemID string, doc []byte, at time.Time) (out []byte, changed bool) {
	d := p.read(postmortemID, doc)
	e := &editor{p: p, d: d, at: at.UTC().Truncate(time.Second)}
	e.record()
	if !e.changed {
		return doc, false
	}
	return e.render(), true
}

// Apply changes the item id of doc by patch, at the time at, and returns the new document and the
// item as read back from it (Overdue from at in loc). It first does what Record does, so a hand
// change is recorded before the API's. A due date moved and a status changed each add a history
// line.
//
// Errors wrap timeline.ErrNotFound (no item id in doc) or timeline.ErrInvalid, with a message that
// starts with the field at fault: "reason: ..." when a due date is moved or an item is not to be
// done without a reason, "due: ...", "status: ...", "owner: ...".
func (p Parser) Apply(postmortemID string, doc []byte, id string, patch Patch, at time.Time, loc *time.Location) ([]byte, Item, error) {
	if loc == nil {
		loc = time.UTC
	}
	d := p.read(postmortemID, doc)
	e := &editor{p: p, d: d, at: at.UTC().Truncate(time.Second)}
	e.record()
	i := slices.IndexFunc(d.rows, func(r *row) bool { return r.item.ID == id })
	if i < 0 {
		return nil, Item{}, fmt.Errorf("%w: %q is not in postmortem %q", ErrItemNotFound, id, postmortemID)
	}
	r := d.rows[i]
	if err := e.apply(r, patch); err != nil {
		return nil, Item{}, err
	}
	out := doc
	if e.changed {
		out = e.render()
	}
	items, err := p.Parse(postmortemID, out, at, loc)
	if err != nil {
		return nil, Item{}, err
	}
	for _, it := range items {
		if it.ID == id {
			return out, it, nil
		}
	}
	return nil, Item{}, errors.New("action item: the edited row could not be read back") // a defect, not an input error
}

// editor changes a parsed document line by line.
type editor struct {
	p       Parser
	d       *parsed
	at      time.Time
	changed bool
	hist    []string // history lines to add
	histAt  int      // line index after which to add them when there is no list yet
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", field, timeline.ErrInvalid, fmt.Sprintf(format, args...))
}

// record pins ids and due dates, replaces names in owner cells and records hand-changed dates.
func (e *editor) record() {
	for _, r := range e.d.rows {
		if r.handDue {
			e.addHistory(r, Change{At: e.at, Field: "due", From: r.markDue, To: r.item.Due, Reason: ReasonChangedInDocument})
		}
		if r.handStatus {
			e.addHistory(r, Change{At: e.at, Field: "status", From: string(r.markStatus), To: string(r.item.Status), Reason: ReasonChangedInDocument})
		}
		if r.names {
			if i := r.t.col(colOwner); i >= 0 && i < len(r.cells) {
				owner := r.item.Owner
				if owner == "" {
					owner, _ = timeline.ReplaceNames(r.cells[i], e.p.People)
				}
				if owner != r.cells[i] {
					e.setCell(r, colOwner, owner)
				}
			}
		}
		if !r.marked || r.markID != r.item.ID || !r.dueSet || r.markDue != r.item.Due || r.markStatus != r.item.Status {
			e.pin(r)
		}
	}
}

// apply validates and applies patch to r.
func (e *editor) apply(r *row, patch Patch) error {
	it := r.item
	reason := ""
	if patch.Reason != nil {
		reason = oneLine(*patch.Reason)
	}
	newStatus, newDue, newOwner := it.Status, it.Due, it.Owner
	if patch.Status != nil {
		st, ok := ParseStatus(string(*patch.Status))
		if !ok || strings.TrimSpace(string(*patch.Status)) == "" {
			return invalid("status", "want %s, %s or %s, got %q", StatusOpen, StatusDone, StatusWontDo, *patch.Status)
		}
		newStatus = st
	}
	if patch.Due != nil {
		newDue = ""
		if v := strings.TrimSpace(*patch.Due); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return invalid("due", "want a date as YYYY-MM-DD or null, got %q", v)
			}
			newDue = t.Format(time.DateOnly)
		}
	}
	if patch.Owner != nil {
		o := oneLine(*patch.Owner)
		if o == "" {
			return invalid("owner", "an item needs an owner: name the role that does it")
		}
		// A known person's name is replaced by their role, as notes are; an unknown address cannot be.
		role, _ := e.p.ownerRole(o)
		if role == "" {
			return invalid("owner", "%q names a person; the owner is a role (\"the database on-call\")", o)
		}
		newOwner = role
	}
	dueMoved := newDue != it.Due
	if dueMoved && it.Due != "" && reason == "" {
		return invalid("reason", "moving the due date from %s needs a reason (why, as agreed)", it.Due)
	}
	if newStatus == StatusWontDo && it.Status != StatusWontDo && reason == "" && it.Reason == "" {
		return invalid("reason", "won't do is an agreed decision: give the reason agreed")
	}
	if dueMoved {
		e.setCell(r, colDue, newDue)
		e.addHistory(r, Change{At: e.at, Field: "due", From: it.Due, To: newDue, Reason: reason})
		r.item.Due = newDue
		e.pin(r)
	}
	if newStatus != it.Status {
		e.setCell(r, colStatus, msgs[r.t.ja].status[newStatus])
		e.addHistory(r, Change{At: e.at, Field: "status", From: string(it.Status), To: string(newStatus), Reason: reason})
		r.item.Status = newStatus
		e.pin(r)
	}
	if newOwner != it.Owner || r.names && patch.Owner != nil {
		e.setCell(r, colOwner, newOwner)
		if newOwner != it.Owner {
			e.addHistory(r, Change{At: e.at, Field: "owner", From: it.Owner, To: newOwner, Reason: reason})
		}
	}
	// The reason column is the agreed reason of a decision; a reason that only explains a new date
	// stays in the history.
	onlyReason := patch.Status == nil && patch.Due == nil && patch.Owner == nil
	if reason != "" && reason != it.Reason && (newStatus == StatusWontDo || onlyReason) {
		e.setCell(r, colReason, reason)
	}
	return nil
}

// pin writes the row's id and current due date into its action cell.
func (e *editor) pin(r *row) {
	i := r.t.col(colAction)
	due := r.item.Due
	if due == "" {
		due = "-"
	}
	cell := strings.TrimSpace(rowMarker.ReplaceAllString(r.cells[i], ""))
	e.setCellAt(r, i, cell+" <!-- action-item id="+r.item.ID+" due="+due+" status="+string(r.item.Status)+" -->")
	r.marked, r.markID, r.dueSet, r.markDue, r.markStatus = true, r.item.ID, true, r.item.Due, r.item.Status
}

// setCell writes v (plain text, escaped here) into r's column of kind k, adding the column to the
// table when it has none.
func (e *editor) setCell(r *row, k kind, v string) {
	i := r.t.col(k)
	if i < 0 {
		i = e.addColumn(r.t, k)
	}
	e.setCellAt(r, i, escapeCell(v))
}

func (e *editor) setCellAt(r *row, i int, v string) {
	for len(r.cells) <= i {
		r.cells = append(r.cells, "")
	}
	if r.cells[i] == v {
		return
	}
	r.cells[i] = v
	e.d.lines[r.line].text = joinRow(r.cells, len(r.t.headers))
	e.changed = true
}

// addColumn appends a column of kind k to t (header, delimiter and every row) and returns its index.
func (e *editor) addColumn(t *table, k kind) int {
	t.headers = append(t.headers, msgs[t.ja].column[k])
	t.kinds = append(t.kinds, k)
	n := len(t.headers)
	e.d.lines[t.header].text = joinRow(t.headers, n)
	delim := splitRow(e.d.lines[t.header+1].text)
	for len(delim) < n {
		delim = append(delim, "---")
	}
	e.d.lines[t.header+1].text = joinRow(delim, n)
	for _, r := range e.d.rows {
		if r.t == t {
			for len(r.cells) < n-1 {
				r.cells = append(r.cells, "")
			}
			e.d.lines[r.line].text = joinRow(r.cells, n)
		}
	}
	// Rows that are not items (placeholders) keep their cells; pad them too, so the table stays even.
	for i := t.header + 2; i < t.end; i++ {
		if c := splitRow(e.d.lines[i].text); len(c) < n {
			e.d.lines[i].text = joinRow(c, n)
		}
	}
	e.changed = true
	return n - 1
}

// addHistory queues a history line for r.
func (e *editor) addHistory(r *row, c Change) {
	m := msgs[e.d.ja]
	reason := c.Reason
	if reason == ReasonChangedInDocument {
		reason = m.changedInDocument
	}
	if reason == "" {
		reason = none
	}
	val := func(s string) string {
		if s == "" {
			return none
		}
		if w, ok := m.status[Status(s)]; ok && c.Field == "status" && e.d.ja {
			// A Japanese table's history says a status in the table's words; English ones keep the
			// machine value they always had (parseHistory reads both back).
			s = w
		}
		return strings.ReplaceAll(oneLine(s), arrow, " -> ")
	}
	field := c.Field
	if w, ok := m.field[field]; ok {
		field = w
	}
	action := strings.ReplaceAll(r.item.Action, sep, " - ")
	if len(e.hist) == 0 && e.d.lastHist < 0 {
		e.histAt = r.t.end
	}
	e.hist = append(e.hist, "- "+c.At.UTC().Format(time.RFC3339)+sep+field+" "+val(c.From)+arrow+val(c.To)+sep+
		strings.ReplaceAll(oneLine(reason), sep, " - ")+sep+action+" <!-- action-item-history id="+r.item.ID+" -->")
	e.changed = true
}

// render writes the document back with its line endings, adding the queued history lines under
// the list (or, the first time, under the table).
func (e *editor) render() []byte {
	lines := make([]string, 0, len(e.d.lines)+len(e.hist)+4)
	for _, l := range e.d.lines {
		lines = append(lines, l.text)
	}
	if len(e.hist) > 0 {
		var add []string
		at := e.d.lastHist + 1
		if e.d.lastHist < 0 {
			at = e.histAt
			add = append(add, "", msgs[e.d.ja].heading, "")
		}
		add = append(add, e.hist...)
		if at < len(lines) && strings.TrimSpace(lines[at]) != "" && !historyMarker.MatchString(lines[at]) {
			add = append(add, "")
		}
		lines = slices.Insert(lines, at, add...)
	}
	eol := "\n"
	if e.d.crlf {
		eol = "\r\n"
	}
	out := strings.Join(lines, eol)
	if e.d.trailing {
		out += eol
	}
	return []byte(out)
}

// joinRow writes a table row with at least n cells.
func joinRow(cells []string, n int) string {
	for len(cells) < n {
		cells = append(cells, "")
	}
	var sb strings.Builder
	sb.WriteString("|")
	for _, c := range cells {
		sb.WriteString(" ")
		sb.WriteString(c)
		if c != "" {
			sb.WriteString(" ")
		}
		sb.WriteString("|")
	}
	return sb.String()
}

// escapeCell makes plain text safe in a table cell.
func escapeCell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
