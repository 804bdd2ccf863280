package timeline

import (
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
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
// Names match case-insensitively and in their NFKC form, as the wording rules do, so full-width
// "Ｄａｎａ" and half-width katakana match the name as written in the directory. A name or part
// written in Latin letters matches only as a whole word, or with an English plural ending ("Danas",
// "Okafors", which the replacement takes in) or a possessive one ("Okafor's", which stays), and a
// part must have 3 letters or more ("Al" alone is too common to replace). A name in
// Han, Hiragana or Katakana matches wherever it occurs (those scripts put no spaces between words,
// so "渡辺さん" contains "渡辺"), and its parts need 2 characters. Longer names are replaced
// before shorter ones, so "Dana Okafor" becomes one role, not two.
func ReplaceNames(text string, people []Participant) (string, int) {
	r := FindNames(text, people)
	return r.String(), r.Count()
}

// Redacted is a text with the names and addresses ReplaceNames replaces found in it, not yet
// replaced: String builds the replaced text, AppendJSON writes it as a JSON string without building
// it. Replacing 650,000 names by longer roles makes a 16 MiB annotation 28 MB; built and then
// escaped into an event's attributes, it would be held twice at once.
type Redacted struct {
	text string
	// The places found are kept in 12 bytes each, in chunks that are never copied (a NameSpan takes
	// 32 bytes in a slice that doubles: with a name every few words, as much as the text again).
	roles  []string // the few replacements, indexed by compactSpan.role
	chunks [][]compactSpan
	spans  []NameSpan // in place of chunks, for a text of 2 GiB or more
	n      int        // replacements
	size   int        // the length of the replaced text
	// pieces: every replacement is valid UTF-8 and not empty, so the replaced text may be read a
	// piece at a time: a piece of the text and a replacement never join into one character (a
	// replacement starts with a character and ends with a whole one).
	pieces bool
}

// FindNames finds in text the names and addresses ReplaceNames replaces (see there).
func FindNames(text string, people []Participant) Redacted {
	r := Redacted{text: text, size: len(text), pieces: true}
	note := func(replacement string) {
		if replacement == "" || !utf8.ValidString(replacement) {
			r.pieces = false
		}
	}
	if len(text) > math.MaxInt32 {
		r.spans = NameSpans(text, people)
		for _, sp := range r.spans {
			r.size += len(sp.Replacement) - (sp.End - sp.Start)
			note(sp.Replacement)
		}
		r.n = len(r.spans)
		return r
	}
	scanNames(text, people, func(start, end int, replacement string) {
		role := slices.Index(r.roles, replacement)
		if role < 0 {
			role = len(r.roles)
			r.roles = append(r.roles, replacement)
			note(replacement)
		}
		if len(r.chunks) == 0 || len(r.chunks[len(r.chunks)-1]) == cap(r.chunks[len(r.chunks)-1]) {
			r.chunks = append(r.chunks, make([]compactSpan, 0, spanChunk(len(r.chunks))))
		}
		c := &r.chunks[len(r.chunks)-1]
		*c = append(*c, compactSpan{start: int32(start), end: int32(end), role: int32(role)})
		r.size += len(replacement) - (end - start)
		r.n++
	})
	return r
}

// Count is the number of replacements.
func (r Redacted) Count() int { return r.n }

// Len is the length of the replaced text.
func (r Redacted) Len() int { return r.size }

// String returns the replaced text: the text itself when nothing is replaced, otherwise one copy of
// it, of its final size.
func (r Redacted) String() string {
	if r.n == 0 {
		return r.text
	}
	var sb strings.Builder
	sb.Grow(r.size)
	r.each(func(s string) { sb.WriteString(s) })
	return sb.String()
}

// Pieces calls yield with the replaced text, a piece at a time (the text between replacements and
// the replacements), until yield returns false. Read a character at a time, the pieces give the
// characters of String, and invalid UTF-8 in the same places.
func (r Redacted) Pieces(yield func(string) bool) {
	if !r.pieces {
		yield(r.String())
		return
	}
	stop := false
	r.each(func(s string) {
		if !stop && s != "" && !yield(s) {
			stop = true
		}
	})
}

// JSONLen is the length of what AppendJSON appends.
func (r Redacted) JSONLen() int {
	if !r.pieces {
		return JSONStringLen(r.String())
	}
	n := 2
	r.each(func(s string) { n += JSONStringLen(s) - 2 })
	return n
}

// AppendJSON appends the replaced text as a JSON string, exactly as AppendJSONString(b, r.String())
// does, without building the replaced text.
func (r Redacted) AppendJSON(b []byte) []byte {
	if !r.pieces {
		return AppendJSONString(b, r.String())
	}
	b = append(b, '"')
	r.each(func(s string) { b = appendJSONChars(b, s) })
	return append(b, '"')
}

// each calls f with the text between replacements and the replacements, in order (some pieces may
// be empty).
func (r Redacted) each(f func(string)) {
	last := 0
	if r.spans != nil {
		for _, sp := range r.spans {
			f(r.text[last:sp.Start])
			f(sp.Replacement)
			last = sp.End
		}
	} else {
		for _, c := range r.chunks {
			for _, sp := range c {
				f(r.text[last:sp.start])
				f(r.roles[sp.role])
				last = int(sp.end)
			}
		}
	}
	f(r.text[last:])
}

// compactSpan is a NameSpan of a text shorter than 2 GiB, its replacement an index.
type compactSpan struct{ start, end, role int32 }

// spanChunk is the capacity of the i-th chunk of places found: 16, 64, 256, 1024, then 4096 (48
// KiB). The shift stops there: 16<<(2*i) is 0 from the 30th chunk on, and chunks of no capacity
// took 40 bytes a place (a chunk each), not 12.
func spanChunk(i int) int {
	if i >= 5 {
		return 4096
	}
	return 16 << (2 * i)
}

// NameSpan is a byte range of text that names a person, and what ReplaceNames writes instead: the
// person's role as a noun phrase, or UnknownAddress.
type NameSpan struct {
	Start, End  int
	Replacement string
}

// NameSpans finds the names and addresses ReplaceNames replaces, in order, without overlaps.
func NameSpans(text string, people []Participant) []NameSpan {
	var out []NameSpan
	scanNames(text, people, func(start, end int, replacement string) {
		out = append(out, NameSpan{Start: start, End: end, Replacement: replacement})
	})
	return out
}

// scanNames calls emit with each name and address ReplaceNames replaces, in order, without overlaps.
func scanNames(text string, people []Participant, emit func(start, end int, replacement string)) {
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
		rs := []rune(norm.NFKC.String(n))
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
	// Candidates by their first (lower-case, NFKC) character, longest first: the scan below tries
	// only the names that can start where it stands.
	byFirst := map[rune][]name{}
	for _, nm := range names {
		byFirst[nm.runes[0]] = append(byFirst[nm.runes[0]], nm)
	}

	// Addresses first, so a name part inside one ("dana" in dana.okafor@…) does not mangle it;
	// names are looked for in the text between addresses. The scan walks the text in place, a
	// character of its NFKC form at a time, without copying it (annotations may be megabytes long).
	scan := func(from, to int) {
		if len(names) == 0 {
			return
		}
		c := cursor{text: text, to: to}
		prev := rune(-1) // the character before p in this segment, -1 at its start
		for p := (pos{b: from}); ; {
			r, next, ok := c.at(p)
			if !ok {
				return
			}
			matched := false
			for _, nm := range byFirst[r] {
				if end, ok := matchAt(c, p, prev, nm.runes); ok {
					// A match that ends inside an expanded character takes the whole character.
					if end.k > 0 {
						end = pos{b: c.chunkEnd(end.b)}
					}
					emit(p.b, end.b, nm.role)
					prev, p, matched = nm.runes[len(nm.runes)-1], end, true
					break
				}
			}
			if !matched {
				prev, p = r, next
			}
		}
	}
	last := 0
	if strings.IndexByte(text, '@') >= 0 {
		// One match at a time, not FindAllStringIndex: its list of every address is 40 bytes a match.
		// The pattern has no anchors, so matching from last finds what FindAll finds.
		for last < len(text) {
			m := emailAddress.FindStringIndex(text[last:])
			if m == nil {
				break
			}
			start, end := last+m[0], last+m[1]
			scan(last, start)
			role, ok := known[strings.ToLower(text[start:end])]
			if !ok {
				role = UnknownAddress
			}
			emit(start, end, role)
			last = end
		}
	}
	scan(last, len(text))
}

// pos is a place in the NFKC form of a text: the byte offset b of a character of the text, and
// the index k of a character within that character's normal form (k > 0 only inside an expansion,
// such as "ﾊﾟ" -> "パ" or "㍿" -> "株式会社").
type pos struct{ b, k int }

// cursor reads text[:to] as its NFKC form in lower case, one character at a time, in place.
type cursor struct {
	text string
	to   int
}

// chunkEnd is where the character of the text that starts at b, with its combining marks, ends.
func (c cursor) chunkEnd(b int) int {
	k := norm.NFKC.NextBoundaryInString(c.text[b:c.to], true)
	if k <= 0 {
		k = c.to - b
	}
	return b + k
}

// at returns the lower-case character at p and the place after it; ok is false at the end.
func (c cursor) at(p pos) (r rune, next pos, ok bool) {
	if p.b >= c.to {
		return 0, p, false
	}
	if ch := c.text[p.b]; ch < utf8.RuneSelf && (p.b+1 == c.to || c.text[p.b+1] < utf8.RuneSelf) {
		// ASCII not followed by a combining mark is its own NFKC form.
		return unicode.ToLower(rune(ch)), pos{b: p.b + 1}, true
	}
	end := c.chunkEnd(p.b)
	chunk := c.text[p.b:end]
	if norm.NFKC.QuickSpanString(chunk) != len(chunk) { // not certainly normal: normalise it
		chunk = norm.NFKC.String(chunk)
	}
	k := 0
	for i, cr := range chunk {
		if k == p.k {
			if i+utf8.RuneLen(cr) >= len(chunk) {
				return unicode.ToLower(cr), pos{b: end}, true
			}
			return unicode.ToLower(cr), pos{b: p.b, k: k + 1}, true
		}
		k++
	}
	return 0, pos{b: end}, true // not reached: p.k is always within its chunk
}

// matchAt reports whether name occurs at p, standing as a word where its script has words (prev is
// the character before p, -1 for none), and where the match ends: after the name, or after the
// English plural ending that follows it ("s", or "es" after a sibilant). A possessive ("'s", "’s")
// ends the word at the apostrophe, so it stays as written.
func matchAt(c cursor, p pos, prev rune, name []rune) (pos, bool) {
	q := p
	for _, nr := range name {
		r, next, ok := c.at(q)
		if !ok || r != nr {
			return p, false
		}
		q = next
	}
	if !spaceless(name[0]) && prev >= 0 && wordRune(prev) {
		return p, false
	}
	last := name[len(name)-1]
	if spaceless(last) || wordEnd(c, q) {
		return q, true
	}
	if !unicode.In(last, unicode.Latin) {
		return p, false
	}
	suffix := "s"
	if sibilant(name) { // Jones -> Joneses, Núñez -> Núñezes
		suffix = "es"
	}
	for _, sr := range suffix {
		r, next, ok := c.at(q)
		if !ok || r != sr {
			return p, false
		}
		q = next
	}
	if wordEnd(c, q) {
		return q, true
	}
	return p, false
}

// sibilant reports a name whose English plural ends in "es".
func sibilant(name []rune) bool {
	switch n := len(name); {
	case strings.ContainsRune("sxz", name[n-1]):
		return true
	case n >= 2 && name[n-1] == 'h' && (name[n-2] == 'c' || name[n-2] == 's'):
		return true
	}
	return false
}

// wordEnd reports whether a word ends before p.
func wordEnd(c cursor, p pos) bool {
	r, _, ok := c.at(p)
	return !ok || !wordRune(r)
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
