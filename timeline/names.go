package timeline

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
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
	var sb strings.Builder
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

	var out []NameSpan
	// Addresses first, so a name part inside one ("dana" in dana.okafor@…) does not mangle it;
	// names are looked for in the text between addresses.
	scan := func(from, to int) {
		seg := text[from:to]
		var offs []int
		var lower []rune
		for off, r := range seg {
			offs = append(offs, from+off)
			lower = append(lower, unicode.ToLower(r))
		}
		offs = append(offs, to)
		for i := 0; i < len(lower); {
			matched := false
			for _, nm := range names {
				if matchAt(lower, i, nm.runes) {
					out = append(out, NameSpan{Start: offs[i], End: offs[i+len(nm.runes)], Replacement: nm.role})
					i += len(nm.runes)
					matched = true
					break
				}
			}
			if !matched {
				i++
			}
		}
	}
	last := 0
	for _, m := range emailAddress.FindAllStringIndex(text, -1) {
		scan(last, m[0])
		role, ok := known[strings.ToLower(text[m[0]:m[1]])]
		if !ok {
			role = UnknownAddress
		}
		out = append(out, NameSpan{Start: m[0], End: m[1], Replacement: role})
		last = m[1]
	}
	scan(last, len(text))
	return out
}

// matchAt reports whether name occurs in rs at at, standing as a word where its script has words.
func matchAt(rs []rune, at int, name []rune) bool {
	if at+len(name) > len(rs) {
		return false
	}
	for k, r := range name {
		if rs[at+k] != r {
			return false
		}
	}
	if !spaceless(name[0]) && at > 0 && wordRune(rs[at-1]) {
		return false
	}
	end := at + len(name)
	if !spaceless(name[len(name)-1]) && end < len(rs) && wordRune(rs[end]) {
		return false
	}
	return true
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
