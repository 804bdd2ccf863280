package drafts

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
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
	// Message says what is wrong and what to do about it.
	Message string `json:"message"`
}

var lineNoPrefix = regexp.MustCompile(`^line (\d+): `)

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
			out = append(out, EditProblem{Line: n + 1, Blocking: true, Message: fmt.Sprintf(
				"Line %d still marks a merge conflict (%q). Keep the lines that should stay, then delete the three conflict lines.", n+1, l)})
		}
	}
	if len(out) > 0 {
		return out
	}
	bd, berr := parse(before)
	ad, err := parse(after)
	if err != nil {
		msg := err.Error()
		line := 0
		if m := lineNoPrefix.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimPrefix(msg, m[0])
		}
		return []EditProblem{{Line: line, Blocking: true, Message: "This edit breaks the lines that mark what postmortemd " +
			"writes (" + msg + "). Those marker lines (“postmortemd:begin …” and “postmortemd:end …”) let it add late " +
			"facts without touching your text. Put the line back as it was loaded, or write your text outside the block."}}
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
		msg := "The machine-owned blocks were moved or duplicated."
		if len(gone) > 0 {
			msg = "The machine-owned block " + strings.Join(gone, ", ") + " was deleted, with its marker lines."
		}
		return []EditProblem{{Blocking: true, Message: msg + " postmortemd could no longer add late facts to this " +
			"postmortem. Put the block back as it was loaded; to disagree with a fact, write that outside the block."}}
	}
	for _, b := range ad.blocks {
		if b.seal == "" || sealOf(after[b.cstart:b.cend]) == b.seal {
			continue
		}
		line := bytes.Count(after[:b.cstart], []byte("\n")) + 1
		out = append(out, EditProblem{Line: line, Block: b.name, Message: fmt.Sprintf(
			"You changed lines inside the machine-owned block “%s” (from line %d). Saving keeps your change, but postmortemd "+
				"will then write newer facts beside this file instead of into it. To correct or add to a fact, write it outside the block.",
			b.name, line)})
	}
	return out
}
