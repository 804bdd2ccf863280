package timeline

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The record names roles, never people: these are the rule's pieces, shared by the receiver (free
// text from senders) and the drafts' lint (text people write), so both replace the same names the
// same way.

// UnknownAddress replaces an e-mail address that belongs to no known participant.
const UnknownAddress = "(an e-mail address)"

// FallbackRole names a participant whose role is not known.
const FallbackRole Role = "a responder"

var emailAddress = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)

// ReplaceNames returns text with every known participant's name, each part of a name, their e-mail
// address (and its local part's pieces) replaced by their role ("the primary on-call"), and any
// other e-mail address replaced by UnknownAddress, with the number of replacements made.
//
// Names match case-insensitively. A name or part written in Latin letters matches only as a whole
// word, and a part must have 3 letters or more ("Al" alone is too common to replace). A name in
// Han, Hiragana or Katakana matches wherever it occurs (those scripts put no spaces between words,
// so "渡辺さん" contains "渡辺"), and its parts need 2 characters. Longer names are replaced
// before shorter ones, so "Dana Okafor" becomes one role, not two.
func ReplaceNames(text string, people []Participant) (string, int) {
	spans := NameSpans(text, people)
	if len(spans) == 0 {
		return text, 0
	}
	size := len(text)
	for _, sp := range spans {
		size += len(sp.Replacement) - (sp.End - sp.Start)
	}
	var sb strings.Builder
	sb.Grow(size) // the one copy of the text, of its final size
	last := 0
	for _, sp := range spans {
		sb.WriteString(text[last:sp.Start])
		sb.WriteString(sp.Replacement)
		last = sp.End
	}
	sb.WriteString(text[last:])
	return sb.String(), len(spans)
}

// NameSpan is a byte range of text that names a person, and what ReplaceNames writes instead: the
// person's role as a noun phrase, or UnknownAddress.
type NameSpan struct {
	Start, End  int
	Replacement string
}

// NameSpans finds the names and addresses ReplaceNames replaces, in order, without overlaps.
func NameSpans(text string, people []Participant) []NameSpan {
	type name struct {
		runes []rune
		role  string
	}
	var names []name
	known := map[string]string{}
	addName := func(n string, role string) {
		n = strings.TrimSpace(n)
		if n == "" {
			return
		}
		rs := []rune(n)
		for i, r := range rs {
			rs[i] = unicode.ToLower(r)
		}
		names = append(names, name{runes: rs, role: role})
	}
	for _, p := range people {
		role := p.Role.Phrase()
		if p.Email != "" {
			known[strings.ToLower(strings.TrimSpace(p.Email))] = role
			local, _, _ := strings.Cut(p.Email, "@")
			for _, part := range strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '_' || r == '-' || r == '+' }) {
				if longEnough(part) {
					addName(part, role)
				}
			}
		}
		if p.Name != "" && !strings.Contains(p.Name, "@") {
			addName(p.Name, role)
			if joined := strings.Join(strings.Fields(p.Name), ""); joined != p.Name && spaceless([]rune(joined)[0]) {
				addName(joined, role) // 渡辺 健二 is usually written 渡辺健二
			}
			for _, part := range strings.FieldsFunc(p.Name, func(r rune) bool {
				return unicode.IsSpace(r) || r == '・' || r == '.' || r == ','
			}) {
				if longEnough(part) {
					addName(part, role)
				}
			}
		} else if p.Name != "" {
			known[strings.ToLower(strings.TrimSpace(p.Name))] = role
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return len(names[i].runes) > len(names[j].runes) })
	// Candidates by their first (lower-case) character, longest first: the scan below tries only
	// the names that can start where it stands.
	byFirst := map[rune][]name{}
	for _, nm := range names {
		byFirst[nm.runes[0]] = append(byFirst[nm.runes[0]], nm)
	}

	var out []NameSpan
	// Addresses first, so a name part inside one ("dana" in dana.okafor@…) does not mangle it;
	// names are looked for in the text between addresses. The scan walks the text in place, one
	// character at a time, without copying it (annotations may be megabytes long).
	scan := func(from, to int) {
		if len(names) == 0 {
			return
		}
		prev := rune(-1) // the lower-cased character before i in this segment, -1 at its start
		for i := from; i < to; {
			r, size := utf8.DecodeRuneInString(text[i:to])
			lr := unicode.ToLower(r)
			matched := false
			for _, nm := range byFirst[lr] {
				if end, ok := matchAt(text, i, to, prev, nm.runes); ok {
					out = append(out, NameSpan{Start: i, End: end, Replacement: nm.role})
					prev, i, matched = nm.runes[len(nm.runes)-1], end, true
					break
				}
			}
			if !matched {
				prev, i = lr, i+size
			}
		}
	}
	last := 0
	if strings.IndexByte(text, '@') >= 0 {
		for _, m := range emailAddress.FindAllStringIndex(text, -1) {
			scan(last, m[0])
			role, ok := known[strings.ToLower(text[m[0]:m[1]])]
			if !ok {
				role = UnknownAddress
			}
			out = append(out, NameSpan{Start: m[0], End: m[1], Replacement: role})
			last = m[1]
		}
	}
	scan(last, len(text))
	return out
}

// matchAt reports whether name (lower case) occurs in text[at:to], ignoring case, standing as a
// word where its script has words (prev is the character before at, -1 for none), and where the
// match ends.
func matchAt(text string, at, to int, prev rune, name []rune) (int, bool) {
	j := at
	for _, nr := range name {
		if j >= to {
			return 0, false
		}
		r, size := utf8.DecodeRuneInString(text[j:to])
		if unicode.ToLower(r) != nr {
			return 0, false
		}
		j += size
	}
	if !spaceless(name[0]) && prev >= 0 && wordRune(prev) {
		return 0, false
	}
	if !spaceless(name[len(name)-1]) && j < to {
		if r, _ := utf8.DecodeRuneInString(text[j:to]); wordRune(unicode.ToLower(r)) {
			return 0, false
		}
	}
	return j, true
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) }

// spaceless reports a character of a script written without spaces between words.
func spaceless(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Thai)
}

func longEnough(part string) bool {
	rs := []rune(part)
	if len(rs) > 0 && spaceless(rs[0]) {
		return len(rs) >= 2
	}
	return len(rs) >= 3
}

// Phrase makes a role read as a noun phrase in a sentence: "the primary on-call", "a responder",
// "PagerDuty automation"; an empty role reads as FallbackRole.
func (r Role) Phrase() string {
	s := strings.TrimSpace(string(r))
	if s == "" {
		return string(FallbackRole)
	}
	if strings.HasPrefix(s, "a ") || strings.HasPrefix(s, "an ") || strings.HasPrefix(s, "the ") ||
		unicode.IsUpper([]rune(s)[0]) || spaceless([]rune(s)[0]) {
		return s
	}
	return "the " + s
}
