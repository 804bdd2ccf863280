// Package actions reads and edits the action items of a postmortem: the table of section 5 ("5.
// Action items" / "5. アクションアイテム") in the Markdown people edit, as the shipped templates
// write it or as people reshaped it (columns reordered, renamed in Japanese, extra columns, cells
// missing). It owns the items' ids, their problems, the history of renegotiated dates kept in the
// document itself, and the reminder thresholds.
//
// The document is the truth: an item's id, the due date postmortemd last saw and every change are
// written into the document (a hidden comment in the action cell and a "Renegotiated" list under
// the table), so they survive a re-merge of the draft, a copy of the file and a change of store.
// The package is pure text processing plus the reminder sweep's logic behind small interfaces: it
// must not import HTTP, Echo or go-redis.
package actions

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// Status is an action item's status.
type Status string

// The statuses. Won't do is an agreed decision, shown as one, never as a failure.
const (
	StatusOpen   Status = "open"
	StatusDone   Status = "done"
	StatusWontDo Status = "wont_do"
)

// Statuses are the valid statuses, in the order a listing shows them.
var Statuses = []Status{StatusOpen, StatusDone, StatusWontDo}

// Horizon says whether an item is short term (weeks) or long term (quarters).
type Horizon string

// The horizons.
const (
	HorizonShort Horizon = "short"
	HorizonLong  Horizon = "long"
)

// The problems an item may have (Item.Problems). They are stable strings: the lint rules and
// people's scripts match them.
const (
	ProblemNoOwner      = "no owner"
	ProblemNoDue        = "no due date"
	ProblemOwnerIsName  = "owner is a person's name, not a role"
	ProblemNoReason     = "won't do without a reason"
	problemBadDueFormat = "due date %q is not a date (write YYYY-MM-DD)"
	problemBadStatus    = "status %q is not open, done or won't do"
)

// ProblemCode returns the code of one of an item's problems in postmortemd's catalogues
// (internal/i18n: "actions.problem.no_owner"), with the value it quotes ("" when none); "" for a
// problem it does not know. Pages say the problems in the reader's language with it; the API
// keeps the English strings.
func ProblemCode(problem string) (code, value string) {
	switch problem {
	case ProblemNoOwner:
		return "actions.problem.no_owner", ""
	case ProblemNoDue:
		return "actions.problem.no_due", ""
	case ProblemOwnerIsName:
		return "actions.problem.owner_is_name", ""
	case ProblemNoReason:
		return "actions.problem.no_reason", ""
	}
	for _, f := range []struct{ format, code string }{{problemBadDueFormat, "actions.problem.bad_due"}, {problemBadStatus, "actions.problem.bad_status"}} {
		before, after, _ := strings.Cut(f.format, "%q")
		if rest, ok := strings.CutPrefix(problem, before); ok {
			if quoted, ok := strings.CutSuffix(rest, after); ok {
				if v, err := strconv.Unquote(quoted); err == nil {
					return f.code, v
				}
			}
		}
	}
	return "", ""
}

// ReasonChangedInDocument is the reason of a history entry postmortemd recorded because a person
// changed the due date in the document by hand.
const ReasonChangedInDocument = "changed in the document"

// Change is one entry of an item's history: a field that changed, when and why.
type Change struct {
	At     time.Time `json:"at"`
	Field  string    `json:"field"` // due, status, owner
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
}

// Item is one action item of one postmortem.
type Item struct {
	// ID is stable: it stays the same when the item's status, due date, owner or the rest of the
	// document change, and after the draft is merged again (see ID in ids.go).
	ID           string
	PostmortemID string
	Action       string
	// Owner is a role; empty when the cell is empty or named a person who is not in the directory.
	Owner   string
	Due     string // YYYY-MM-DD, or empty
	Horizon Horizon
	Status  Status
	Reason  string
	// Overdue is true for an open item whose due date is before today in the service's time zone.
	Overdue  bool
	History  []Change
	Problems []string
	// Extra holds the cells of the columns postmortemd does not know, by header, as written.
	Extra map[string]string
	// Line is the 1-based line of the item's row in the document.
	Line int
}

// itemJSON is Item on the wire: missing values are null, never "".
type itemJSON struct {
	ID           string            `json:"id"`
	PostmortemID string            `json:"postmortem_id"`
	Action       string            `json:"action"`
	Owner        *string           `json:"owner"`
	Due          *string           `json:"due"`
	Horizon      *Horizon          `json:"horizon"`
	Status       Status            `json:"status"`
	Reason       string            `json:"reason"`
	Overdue      bool              `json:"overdue"`
	History      []Change          `json:"history"`
	Problems     []string          `json:"problems"`
	Extra        map[string]string `json:"extra,omitempty"`
	Line         int               `json:"line"`
}

// MarshalJSON writes the item with the field names of the API; owner, due and horizon are null
// when not set.
func (it Item) MarshalJSON() ([]byte, error) {
	j := itemJSON{ID: it.ID, PostmortemID: it.PostmortemID, Action: it.Action, Status: it.Status, Reason: it.Reason,
		Overdue: it.Overdue, History: it.History, Problems: it.Problems, Extra: it.Extra, Line: it.Line}
	if it.Owner != "" {
		j.Owner = &it.Owner
	}
	if it.Due != "" {
		j.Due = &it.Due
	}
	if it.Horizon != "" {
		j.Horizon = &it.Horizon
	}
	if j.History == nil {
		j.History = []Change{}
	}
	if j.Problems == nil {
		j.Problems = []string{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (it *Item) UnmarshalJSON(b []byte) error {
	var j itemJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*it = Item{ID: j.ID, PostmortemID: j.PostmortemID, Action: j.Action, Status: j.Status, Reason: j.Reason,
		Overdue: j.Overdue, History: j.History, Problems: j.Problems, Extra: j.Extra, Line: j.Line}
	if j.Owner != nil {
		it.Owner = *j.Owner
	}
	if j.Due != nil {
		it.Due = *j.Due
	}
	if j.Horizon != nil {
		it.Horizon = *j.Horizon
	}
	return nil
}

// DueDate returns the due date as midnight in loc, and false when the item has none.
func (it Item) DueDate(loc *time.Location) (time.Time, bool) {
	if it.Due == "" {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(time.DateOnly, it.Due, loc)
	return t, err == nil
}

// Parser reads action items. The zero value is ready to use; People adds the people directory.
type Parser struct {
	// People is the people directory (and any other participants known): an owner cell that holds
	// one of their names or addresses reads as their role, and is flagged.
	People []timeline.Participant
}

// Parse returns the action items of the postmortem postmortemID, whose Markdown (with its front
// matter) is doc, in the order of the document. Overdue is computed from now in loc (nil means
// UTC). The template's placeholder rows are not items. A document without an action-item table has
// no items and no error; Parse fails only on a document too large to be a postmortem.
func Parse(postmortemID string, doc []byte, now time.Time, loc *time.Location) ([]Item, error) {
	return Parser{}.Parse(postmortemID, doc, now, loc)
}

// maxDocSize bounds a document Parse reads (the drafts store's limit).
const maxDocSize = 4 << 20

// Parse is the package-level Parse with p's people directory.
func (p Parser) Parse(postmortemID string, doc []byte, now time.Time, loc *time.Location) ([]Item, error) {
	if len(doc) > maxDocSize {
		return nil, fmt.Errorf("action items of %q: %w: document larger than %d bytes", postmortemID, timeline.ErrInvalid, maxDocSize)
	}
	if loc == nil {
		loc = time.UTC
	}
	d := p.read(postmortemID, doc)
	today := now.In(loc).Format(time.DateOnly)
	items := make([]Item, 0, len(d.rows))
	for _, r := range d.rows {
		it := r.item
		it.History = append([]Change(nil), d.history[it.ID]...)
		if r.handDue {
			it.History = append(it.History, Change{At: now.UTC().Truncate(time.Second), Field: "due", From: r.markDue, To: it.Due, Reason: ReasonChangedInDocument})
		}
		if r.handStatus {
			it.History = append(it.History, Change{At: now.UTC().Truncate(time.Second), Field: "status", From: string(r.markStatus), To: string(it.Status), Reason: ReasonChangedInDocument})
		}
		it.Overdue = it.Status == StatusOpen && it.Due != "" && it.Due < today
		items = append(items, it)
	}
	return items, nil
}

// String returns how the status reads in a document written in English.
func (s Status) String() string {
	switch s {
	case StatusWontDo:
		return "won't do"
	}
	return string(s)
}

// ParseStatus reads a status as people write it ("open", "done", "won't do", "wont_do", 未着手,
// 完了, 対応しない, ...). An empty cell is open; ok is false for a word it does not know.
func ParseStatus(s string) (st Status, ok bool) {
	k := strings.ToLower(stripEmphasis(s))
	k = strings.NewReplacer("’", "", "‘", "", " ", "", "_", "", "-", "", "'", "", "　", "").Replace(k)
	switch k {
	case "", "open", "todo", "notstarted", "inprogress", "doing", "started", "ongoing", "未着手", "対応中", "進行中", "着手", "未対応", "オープン":
		return StatusOpen, true
	case "done", "complete", "completed", "closed", "fixed", "resolved", "完了", "済", "済み", "対応済", "対応済み", "✅":
		return StatusDone, true
	case "wontdo", "wontfix", "willnotdo", "notdoing", "rejected", "declined", "dropped", "対応しない", "やらない", "見送り", "実施しない":
		return StatusWontDo, true
	}
	return StatusOpen, false
}

// parseHorizon reads a horizon cell; empty when it is empty or unknown.
func parseHorizon(s string) Horizon {
	k := strings.ToLower(stripEmphasis(s))
	k = strings.NewReplacer(" ", "", "-", "", "_", "").Replace(k)
	switch {
	case k == "short" || k == "shortterm" || k == "短期" || k == "weeks":
		return HorizonShort
	case k == "long" || k == "longterm" || k == "長期" || k == "quarters":
		return HorizonLong
	}
	return ""
}

// parseDue reads a due date written as 2026-12-01, 2026/12/01, 2026/12/1 or 2026年12月1日.
func parseDue(s string) (string, bool) {
	s = strings.TrimSpace(stripEmphasis(s))
	for _, layout := range []string{time.DateOnly, "2006/01/02", "2006/1/2", "2006-1-2", "2006年1月2日", "2006年01月02日"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(time.DateOnly), true
		}
	}
	return "", false
}
