package drafts

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/postmortemd/postmortemd/internal/i18n"
)

// The lines Merge3 writes around a conflict. None of them is Markdown a person would write (a
// bare "=======" would be a heading underline), and EditProblems flags any left in a text.
const (
	ConflictStart = "<<<<<<< your edit"
	ConflictSep   = "======= saved meanwhile"
	ConflictEnd   = ">>>>>>> end of conflict"
)

// Merge3 merges two edits of the same postmortem, line by line: base is the version both started
// from (what an editor loaded), theirs the version saved since (another person's edit, or the
// drafts worker's merge of new facts into the machine-owned blocks), mine the edit that could not
// be saved. A region changed on one side only takes that side's lines; a region both changed the
// same way is taken once; a region both changed differently is a conflict, written as
//
//	<<<<<<< your edit
//	(mine)
//	======= saved meanwhile
//	(theirs)
//	>>>>>>> end of conflict
//
// so nothing of either side is lost. Machine-owned blocks follow the same rule: a block postmortemd
// rewrote and the person did not touch comes from theirs, with its new seal. conflicts counts the
// conflicting regions; merged is theirs when mine is base.
//
// Line endings are kept as they are; a text whose last line has no line break is compared as is.
func Merge3(base, theirs, mine []byte) (merged []byte, conflicts int) {
	o, a, b := splitLines(base), splitLines(theirs), splitLines(mine)
	ma, mb := matchLines(o, a), matchLines(o, b)
	var out bytes.Buffer
	out.Grow(len(theirs) + len(mine)/4)
	i, j, k := 0, 0, 0
	for i < len(o) || j < len(a) || k < len(b) {
		if i < len(o) && ma[i] == j && mb[i] == k {
			out.WriteString(o[i]) // unchanged on both sides
			i, j, k = i+1, j+1, k+1
			continue
		}
		// The next base line both sides kept ends this changed region.
		ni, nj, nk := len(o), len(a), len(b)
		for n := i; n < len(o); n++ {
			if ma[n] >= 0 && mb[n] >= 0 {
				ni, nj, nk = n, ma[n], mb[n]
				break
			}
		}
		oc, ac, bc := o[i:ni], a[j:nj], b[k:nk]
		switch {
		case slices.Equal(ac, oc):
			writeLines(&out, bc)
		case slices.Equal(bc, oc), slices.Equal(ac, bc):
			writeLines(&out, ac)
		default:
			conflicts++
			nl := lineBreakOf(theirs)
			out.WriteString(ConflictStart + nl)
			writeLines(&out, bc)
			endLine(&out, nl)
			out.WriteString(ConflictSep + nl)
			writeLines(&out, ac)
			endLine(&out, nl)
			out.WriteString(ConflictEnd + nl)
		}
		i, j, k = ni, nj, nk
	}
	return out.Bytes(), conflicts
}

// splitLines splits text after each line break, keeping them; a last line without one is kept too.
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// matchLines maps each line of o to the line of x it is kept as, or -1 when x changed or deleted
// it. The matches are in order in both texts (what a line diff finds).
func matchLines(o, x []string) []int {
	m := make([]int, len(o))
	for i := range m {
		m[i] = -1
	}
	// No automatic junk: blank lines are frequent in Markdown and must still anchor a diff.
	sm := difflib.NewMatcherWithJunk(o, x, false, nil)
	for _, blk := range sm.GetMatchingBlocks() {
		for d := range blk.Size {
			m[blk.A+d] = blk.B + d
		}
	}
	return m
}

func writeLines(out *bytes.Buffer, lines []string) {
	for _, l := range lines {
		out.WriteString(l)
	}
}

// endLine ends the last line written, if it has no line break (a text's last line).
func endLine(out *bytes.Buffer, nl string) {
	if b := out.Bytes(); len(b) > 0 && b[len(b)-1] != '\n' {
		out.WriteString(nl)
	}
}

func lineBreakOf(b []byte) string {
	if bytes.Contains(b, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

// EditProblem is something wrong with an edited postmortem that a person should hear about before
// saving, in words that do not assume they know the marker syntax.
type EditProblem struct {
	// Line is the 1-based line the problem is on, 0 when it is about the whole text.
	Line int `json:"line,omitempty"`
	// Block names the machine-owned block concerned, if any.
	Block string `json:"block,omitempty"`
	// Blocking is true when saving must not happen: the edit would break a marker line, or a merge
	// conflict is still unresolved. Otherwise it is a warning the save may go ahead with.
	Blocking bool `json:"blocking"`
	// Message says what is wrong and what to do about it, in English.
	Message string `json:"message"`
	// Reason is Message as a catalogue code and arguments: pages say it in the reader's language.
	Reason i18n.Message `json:"reason"`
}

// editProblem returns the problem with reason m, its Message the English sentence.
func editProblem(line int, block string, blocking bool, m i18n.Message) EditProblem {
	return EditProblem{Line: line, Block: block, Blocking: blocking, Message: i18n.For(i18n.English).Say(m), Reason: m}
}

// EditProblems compares an edit with the version it was made from (before) and reports what would
// break postmortemd's hold on its machine-owned blocks: a marker line removed, changed or moved
// (blocking: the drafts could no longer take new facts, and the store refuses malformed markers),
// words written inside a machine-owned block (a warning: saving is allowed, but the next new facts
// are then written beside the file instead of into it), and conflict lines Merge3 wrote that are
// still there (blocking). It returns nil for a clean edit.
func EditProblems(before, after []byte) []EditProblem {
	var out []EditProblem
	for n, l := range strings.Split(string(after), "\n") {
		l = strings.TrimRight(l, "\r")
		if l == ConflictStart || l == ConflictSep || l == ConflictEnd {
			out = append(out, editProblem(n+1, "", true, i18n.Msg("edit.conflict_line", "Line", strconv.Itoa(n+1), "Marker", strconv.Quote(l))))
		}
	}
	if len(out) > 0 {
		return out
	}
	bd, berr := parse(before)
	ad, err := parse(after)
	if err != nil {
		line, detail := 0, i18n.Msg("reason.malformed_marker", "Marker", `""`)
		if r, ok := i18n.ReasonOf(err); ok {
			detail = r.Message
			if r.Code == "reason.at_line" && r.Detail != nil {
				line, _ = strconv.Atoi(r.Args["Line"])
				detail = *r.Detail
			}
		}
		m := i18n.Msg("edit.markers_broken")
		m.Detail = &detail
		return []EditProblem{editProblem(line, "", true, m)}
	}
	if berr != nil {
		return nil // the loaded version was already broken: nothing to compare with
	}
	if bn, an := bd.names(), ad.names(); !slices.Equal(bn, an) {
		var gone []string
		for _, n := range bn {
			if !slices.Contains(an, n) {
				gone = append(gone, "“"+n+"”")
			}
		}
		m := i18n.Msg("edit.blocks_moved")
		if len(gone) > 0 {
			m = i18n.Msg("edit.block_deleted", "Blocks", strings.Join(gone, ", "))
		}
		return []EditProblem{editProblem(0, "", true, m)}
	}
	for _, b := range ad.blocks {
		if b.seal == "" || sealOf(after[b.cstart:b.cend]) == b.seal {
			continue
		}
		line := bytes.Count(after[:b.cstart], []byte("\n")) + 1
		out = append(out, editProblem(line, b.name, false, i18n.Msg("edit.block_changed", "Block", b.name, "Line", strconv.Itoa(line))))
	}
	return out
}
