package actions

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/timeline"
)

// How an item's identity is kept: the id is derived from the postmortem's id and the item's action
// text, so the same row has the same id whatever happens to its status, due date, owner or the rest
// of the document, and a re-merge of the draft (which never touches section 5) changes nothing.
// Rewording the action would change a derived id, so postmortemd pins the id into the row the first
// time it writes the document (the reminder sweep, or a PATCH), as a hidden comment at the end of
// the action cell, together with the due date it last saw:
//
//	| Alert on queue depth <!-- action-item id=3f2a9c1b7d4e due=2026-12-01 status=open --> | SRE | 2026-12-15 | ...
//
// From then on the id travels with the row (reordered, reworded, moved to another table), and a due
// date or status that differs from the pinned one was changed by hand: postmortemd records that in
// the history ("changed in the document") and pins the new value, so the history says when an item
// was done however it was done. A comment is invisible in the rendered
// page and in most editors' previews; a visible id column would make every hand-written table
// wrong until someone filled it in.
var (
	rowMarker     = regexp.MustCompile(`<!--\s*action-item\s+id=([0-9a-f]{12})(?:\s+due=(\S*))?(?:\s+status=([a-z_]+))?\s*-->`)
	historyMarker = regexp.MustCompile(`<!--\s*action-item-history\s+id=([0-9a-f]{12})\s*-->`)
	anyComment    = regexp.MustCompile(`<!--.*?-->`)
	headingLine   = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	delimiterLine = regexp.MustCompile(`^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$`)
	fenceLine     = regexp.MustCompile("^ {0,3}(```|~~~)")
)

// kind is what a column of an action-item table holds.
type kind int

const (
	colExtra kind = iota
	colAction
	colOwner
	colDue
	colHorizon
	colStatus
	colReason
)

// headerKinds maps a normalized header (lower case, without a parenthesized part) to its column.
var headerKinds = map[string]kind{}

func init() {
	for k, words := range map[kind][]string{
		colAction:  {"action", "actions", "action item", "action items", "item", "what", "task", "アクション", "アクションアイテム", "対応内容", "内容", "やること", "対策"},
		colOwner:   {"owner", "owners", "role", "owner role", "who", "assignee", "担当", "担当者", "担当ロール", "オーナー", "責任者"},
		colDue:     {"due", "due date", "by", "by when", "deadline", "期限", "期日", "締め切り", "締切"},
		colHorizon: {"horizon", "term", "期間", "区分"},
		colStatus:  {"status", "state", "状態", "ステータス", "状況"},
		colReason:  {"reason", "agreed reason", "why", "理由", "合意した理由", "合意理由"},
	} {
		for _, w := range words {
			headerKinds[w] = k
		}
	}
}

// columnKind says what a header names.
func columnKind(h string) kind {
	h = strings.ToLower(stripEmphasis(anyComment.ReplaceAllString(h, "")))
	for _, p := range [][2]string{{"(", ")"}, {"（", "）"}} {
		if i := strings.Index(h, p[0]); i >= 0 {
			if j := strings.Index(h[i:], p[1]); j >= 0 {
				h = h[:i] + h[i+j+len(p[1]):]
			}
		}
	}
	h = strings.Join(strings.Fields(h), " ")
	return headerKinds[h]
}

// line is one line of the document, without its line ending.
type line struct {
	text string
}

// table is one action-item table: the header line, the delimiter line, then rows up to end.
type table struct {
	header, end int // line indices: the header, and the first line after the last row
	kinds       []kind
	headers     []string
	ja          bool // written in Japanese (its headers are): new cells are written in Japanese
}

func (t *table) col(k kind) int {
	for i, c := range t.kinds {
		if c == k {
			return i
		}
	}
	return -1
}

// row is one item's row.
type row struct {
	line    int // line index
	t       *table
	cells   []string // as written, trimmed
	item    Item
	marked  bool   // the row has a marker
	markID  string // the marker's id
	markDue string // the due date the marker pinned ("" for none)
	dueSet  bool   // the marker says which due date it last saw
	handDue bool   // the due date differs from the pinned one: changed by hand
	// markStatus is the status the marker pinned ("" when it has none); handStatus reports a
	// status changed by hand since.
	markStatus Status
	handStatus bool
	names      bool // the owner cell names a person
}

// parsed is a document read for its action items.
type parsed struct {
	lines     []line
	crlf      bool
	trailing  bool // the document ends with a line ending
	ja        bool // section 5 is written in Japanese
	tables    []*table
	rows      []*row
	history   map[string][]Change
	lastHist  int // line index of the last history line, -1 if none
	secEnd    int // line index where section 5 ends
	bodyStart int // line index of the first line after the front matter
}

// read parses doc. It never fails: what it cannot read is not an item.
func (p Parser) read(postmortemID string, doc []byte) *parsed {
	d := &parsed{history: map[string][]Change{}, lastHist: -1}
	d.crlf = bytes.Contains(doc, []byte("\r\n"))
	d.trailing = bytes.HasSuffix(doc, []byte("\n"))
	text := strings.ReplaceAll(string(doc), "\r\n", "\n")
	text = strings.TrimSuffix(text, "\n")
	for _, l := range strings.Split(text, "\n") {
		d.lines = append(d.lines, line{text: l})
	}
	if _, body, ok := drafts.SplitFrontMatter(doc); ok {
		d.bodyStart = len(d.lines) - len(strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n"), "\n"))
		if len(body) == 0 {
			d.bodyStart = len(d.lines)
		}
	}
	start, end, found := d.section()
	d.secEnd = end
	for i := start; i < end; i++ {
		if fenceLine.MatchString(d.lines[i].text) {
			for i++; i < end && !fenceLine.MatchString(d.lines[i].text); i++ {
			}
			continue
		}
		if i+1 < end && strings.Contains(d.lines[i].text, "|") && delimiterLine.MatchString(d.lines[i+1].text) {
			t := d.readTable(i, end, found)
			if t != nil {
				d.tables = append(d.tables, t)
				i = t.end - 1
				continue
			}
		}
		if m := historyMarker.FindStringSubmatch(d.lines[i].text); m != nil {
			if c, ok := parseHistory(d.lines[i].text); ok {
				d.history[m[1]] = append(d.history[m[1]], c)
				d.lastHist = i
			}
		}
	}
	if len(d.tables) > 0 {
		d.ja = d.tables[0].ja
	}
	p.readRows(postmortemID, d)
	return d
}

// section returns the lines of section 5: from its heading to the next heading of the same or a
// higher level. A document without such a heading is searched whole, but then only tables with an
// action column and an owner or due column count.
func (d *parsed) section() (start, end int, found bool) {
	level := 0
	start = -1
	for i := d.bodyStart; i < len(d.lines); i++ {
		m := headingLine.FindStringSubmatch(d.lines[i].text)
		if m == nil {
			if fenceLine.MatchString(d.lines[i].text) {
				for i++; i < len(d.lines) && !fenceLine.MatchString(d.lines[i].text); i++ {
				}
			}
			continue
		}
		if start >= 0 {
			if len(m[1]) <= level {
				return start, i, true
			}
			continue
		}
		if isActionHeading(m[2]) {
			start, level = i+1, len(m[1])
		}
	}
	if start >= 0 {
		return start, len(d.lines), true
	}
	return d.bodyStart, len(d.lines), false
}

func isActionHeading(h string) bool {
	h = strings.ToLower(stripEmphasis(h))
	return strings.Contains(h, "action item") || strings.Contains(h, "アクションアイテム") ||
		strings.HasPrefix(h, "5.") && (strings.Contains(h, "action") || strings.Contains(h, "アクション"))
}

// readTable reads the table whose header is at line h, or returns nil when it is not an
// action-item table.
func (d *parsed) readTable(h, end int, inSection bool) *table {
	headers := splitRow(d.lines[h].text)
	t := &table{header: h, headers: headers}
	known := 0
	for _, hd := range headers {
		k := columnKind(hd)
		if k != colExtra && t.col(k) >= 0 {
			k = colExtra // a second column of the same kind is kept as written
		}
		t.kinds = append(t.kinds, k)
		if k != colExtra && k != colAction {
			known++
		}
		if containsJapanese(hd) {
			t.ja = true
		}
	}
	if t.col(colAction) < 0 || (!inSection && t.col(colOwner) < 0 && t.col(colDue) < 0) || (!inSection && known == 0) {
		return nil
	}
	i := h + 2
	for i < end && strings.Contains(d.lines[i].text, "|") && strings.TrimSpace(d.lines[i].text) != "" && headingLine.FindString(d.lines[i].text) == "" {
		i++
	}
	t.end = i
	return t
}

// readRows reads the items of every table and gives each its id.
func (p Parser) readRows(postmortemID string, d *parsed) {
	var rows []*row
	for _, t := range d.tables {
		for i := t.header + 2; i < t.end; i++ {
			cells := splitRow(d.lines[i].text)
			r := &row{line: i, t: t, cells: cells}
			if !p.fill(r) {
				continue
			}
			rows = append(rows, r)
		}
	}
	// Pinned ids first (the first row with an id keeps it: a copied row gets a new one), then the
	// derived ones, avoiding the ids taken.
	taken := map[string]bool{}
	for _, r := range rows {
		if r.marked && !taken[r.markID] {
			r.item.ID = r.markID
			taken[r.markID] = true
		}
	}
	for _, r := range rows {
		if r.item.ID != "" {
			continue
		}
		base := normalizeAction(r.item.Action)
		id := deriveID(postmortemID, base, 1)
		for n := 2; taken[id]; n++ {
			id = deriveID(postmortemID, base, n)
		}
		r.item.ID = id
		taken[id] = true
		r.handDue, r.handStatus = false, false // an unpinned or re-pinned row has no baseline
	}
	for _, r := range rows {
		r.item.PostmortemID = postmortemID
		r.item.Line = r.line + 1
	}
	d.rows = rows
}

// fill reads a row's cells into its item; false for a placeholder or empty row.
func (p Parser) fill(r *row) bool {
	t := r.t
	cell := func(k kind) string {
		if i := t.col(k); i >= 0 && i < len(r.cells) {
			return r.cells[i]
		}
		return ""
	}
	actionCell := cell(colAction)
	if m := rowMarker.FindStringSubmatch(actionCell); m != nil {
		r.marked, r.markID = true, m[1]
		if strings.Contains(m[0], "due=") {
			r.dueSet = true
			r.markDue = m[2]
			if r.markDue == "-" {
				r.markDue = ""
			}
		}
		r.markStatus = Status(m[3])
	}
	action := cleanCell(actionCell)
	if action == "" || isPlaceholder(actionCell, true) {
		return false
	}
	it := &r.item
	it.Action = action

	owner := cleanCell(cell(colOwner))
	if isPlaceholder(cell(colOwner), false) {
		owner = ""
	}
	it.Owner = owner
	if owner != "" {
		role, named := p.ownerRole(owner)
		it.Owner, r.names = role, named
		if named {
			it.Problems = append(it.Problems, ProblemOwnerIsName)
		}
	}
	if it.Owner == "" {
		it.Problems = append(it.Problems, ProblemNoOwner)
	}

	due := cleanCell(cell(colDue))
	if isPlaceholder(cell(colDue), false) {
		due = ""
	}
	switch v, ok := parseDue(due); {
	case due == "":
		it.Problems = append(it.Problems, ProblemNoDue)
	case !ok:
		it.Problems = append(it.Problems, sprintf(problemBadDueFormat, due))
	default:
		it.Due = v
	}
	if r.dueSet && r.markDue != it.Due {
		r.handDue = true
	}

	if !isPlaceholder(cell(colHorizon), false) {
		it.Horizon = parseHorizon(cleanCell(cell(colHorizon)))
	}
	st, ok := ParseStatus(cleanCell(cell(colStatus)))
	if !ok {
		it.Problems = append(it.Problems, sprintf(problemBadStatus, cleanCell(cell(colStatus))))
	}
	it.Status = st
	if r.markStatus != "" && r.markStatus != st {
		r.handStatus = true
	}
	it.Reason = cleanCell(cell(colReason))
	if st == StatusWontDo && it.Reason == "" {
		it.Problems = append(it.Problems, ProblemNoReason)
	}
	for i, k := range t.kinds {
		if k == colExtra && i < len(r.cells) && r.cells[i] != "" {
			if it.Extra == nil {
				it.Extra = map[string]string{}
			}
			it.Extra[cleanCell(t.headers[i])] = r.cells[i]
		}
	}
	return true
}

// ownerRole reads an owner cell: a known person's name or address becomes their role, any other
// address or an @handle is no role at all. named reports that the cell names a person.
func (p Parser) ownerRole(owner string) (role string, named bool) {
	if owner == timeline.UnknownAddress || strings.HasPrefix(owner, "@") && !strings.ContainsAny(owner, " \t") {
		return "", true // an address a save already replaced, or a chat handle
	}
	spans := timeline.NameSpans(owner, p.People)
	if len(spans) == 0 {
		return owner, false
	}
	if len(spans) == 1 && strings.TrimSpace(owner[:spans[0].Start]+owner[spans[0].End:]) == "" {
		if spans[0].Replacement == timeline.UnknownAddress {
			return "", true
		}
		for _, pp := range p.People {
			if pp.Role.Phrase() == spans[0].Replacement {
				return string(pp.Role), true
			}
		}
	}
	out, _ := timeline.ReplaceNames(owner, p.People)
	return out, true
}

// splitRow splits a table row into its cells, trimmed: pipes escaped with a backslash or inside a
// code span do not split.
func splitRow(s string) []string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "|")
	if strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`) {
		s = s[:len(s)-1]
	}
	var cells []string
	var cur strings.Builder
	code := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case c == '`':
			code = !code
			cur.WriteByte(c)
		case c == '|' && !code:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// cleanCell is a cell's text as a reader sees it: comments and <br> gone, the table escape
// undone, surrounding emphasis removed.
func cleanCell(s string) string {
	s = anyComment.ReplaceAllString(s, "")
	s = strings.NewReplacer(`\|`, "|", "<br>", " ", "<br/>", " ", "<br />", " ").Replace(s)
	return strings.Join(strings.Fields(stripEmphasis(s)), " ")
}

// stripEmphasis removes emphasis that wraps the whole text (_x_, *x*, **x**, ~~x~~ stays).
func stripEmphasis(s string) string {
	s = strings.TrimSpace(s)
	for len(s) >= 2 {
		c := s[0]
		if (c == '_' || c == '*') && s[len(s)-1] == c {
			s = strings.TrimSpace(s[1 : len(s)-1])
			continue
		}
		break
	}
	return s
}

// placeholders are the template's cells that ask for a value.
var placeholders = map[string]bool{
	"role": true, "ロール": true, "yyyy-mm-dd": true, "short / long": true, "短期 / 長期": true, "owner": true, "担当": true,
}

// isPlaceholder reports a template prompt: a cell in emphasis that holds a prompt word, or, for
// the action, a prompt ending in an ellipsis ("_To detect sooner: …_").
func isPlaceholder(raw string, action bool) bool {
	s := strings.TrimSpace(anyComment.ReplaceAllString(raw, ""))
	if len(s) < 2 || (s[0] != '_' && s[0] != '*') || s[len(s)-1] != s[0] {
		return false
	}
	inner := strings.ToLower(stripEmphasis(s))
	if action {
		return strings.HasSuffix(inner, "…") || strings.HasSuffix(inner, "...")
	}
	return placeholders[inner]
}

// normalizeAction is the action text an id is derived from: case, emphasis, code marks, spacing
// and Unicode width do not matter.
func normalizeAction(s string) string {
	s = norm.NFKC.String(s)
	s = strings.Map(func(r rune) rune {
		switch r {
		case '*', '_', '`', '~':
			return -1
		}
		return unicode.ToLower(r)
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// deriveID is the id of the n-th item (from 1) with this action text in the postmortem.
func deriveID(postmortemID, action string, n int) string {
	h := sha256.New()
	h.Write([]byte(postmortemID))
	h.Write([]byte{0})
	h.Write([]byte(action))
	if n > 1 {
		h.Write([]byte{0, byte(n >> 8), byte(n)})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func containsJapanese(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) {
			return true
		}
	}
	return false
}

// parseHistory reads one line of the "Renegotiated" list:
//
//   - 2026-12-03T10:04:05Z · due 2026-12-01 → 2026-12-15 · waiting for the vendor · Alert on queue depth <!-- action-item-history id=3f2a9c1b7d4e -->
func parseHistory(s string) (Change, bool) {
	s = strings.TrimSpace(historyMarker.ReplaceAllString(s, ""))
	s = strings.TrimSpace(strings.TrimLeft(s, "-*+"))
	parts := strings.Split(s, sep)
	if len(parts) < 3 {
		return Change{}, false
	}
	at, err := time.Parse(time.RFC3339, strings.TrimSpace(parts[0]))
	if err != nil {
		return Change{}, false
	}
	field, rest, ok := strings.Cut(strings.TrimSpace(parts[1]), " ")
	if !ok {
		return Change{}, false
	}
	from, to, ok := strings.Cut(rest, arrow)
	if !ok {
		return Change{}, false
	}
	reason := ""
	if len(parts) >= 4 {
		reason = strings.TrimSpace(strings.Join(parts[2:len(parts)-1], sep))
	} else {
		reason = strings.TrimSpace(parts[2])
	}
	if reason == none {
		reason = ""
	}
	if reason == msgs[true].changedInDocument {
		reason = ReasonChangedInDocument
	}
	// A Japanese table's history names fields and statuses in Japanese; the API keeps one form.
	from, to = unNone(from), unNone(to)
	for name, word := range msgs[true].field {
		if field == word {
			field = name
		}
	}
	if field == "status" {
		from, to = statusValue(from), statusValue(to)
	}
	return Change{At: at.UTC(), Field: field, From: from, To: to, Reason: reason}, true
}

// statusValue is the machine value of a status written in a Japanese history line (s otherwise).
func statusValue(s string) string {
	for st, word := range msgs[true].status {
		if s == word {
			return string(st)
		}
	}
	return s
}

// The separators of a history line.
const (
	sep   = " · "
	arrow = " → "
	none  = "—"
)

func unNone(s string) string {
	s = strings.TrimSpace(s)
	if s == none {
		return ""
	}
	return s
}
