package lint

import (
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/postmortemd/postmortemd/timeline"
)

// UnknownAddress replaces an e-mail address that belongs to no known participant.
const UnknownAddress = "(an e-mail address)"

// FallbackRole names a participant whose role is not known.
const FallbackRole timeline.Role = "a responder"

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
func ReplaceNames(text string, people []timeline.Participant) (string, int) {
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
		role := byRole(p.Role)
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

	var sb strings.Builder
	count := 0
	// Addresses first, so a name part inside one ("dana" in dana.okafor@…) does not mangle it.
	last := 0
	var spans [][2]int // byte spans of the text left after addresses, to scan for names
	for _, m := range emailAddress.FindAllStringIndex(text, -1) {
		spans = append(spans, [2]int{last, m[0]})
		last = m[1]
	}
	spans = append(spans, [2]int{last, len(text)})
	addrs := emailAddress.FindAllString(text, -1)
	for i, sp := range spans {
		n := replaceIn(&sb, text[sp[0]:sp[1]], func(rs []rune, at int) (int, string) {
			for _, nm := range names {
				if matchAt(rs, at, nm.runes) {
					return len(nm.runes), nm.role
				}
			}
			return 0, ""
		})
		count += n
		if i < len(addrs) {
			if role, ok := known[strings.ToLower(addrs[i])]; ok {
				sb.WriteString(role)
			} else {
				sb.WriteString(UnknownAddress)
			}
			count++
		}
	}
	return sb.String(), count
}

// replaceIn writes s to sb with the matches find reports at rune positions replaced, and returns
// how many it replaced.
func replaceIn(sb *strings.Builder, s string, find func(rs []rune, at int) (int, string)) int {
	orig := []rune(s)
	lower := make([]rune, len(orig))
	for i, r := range orig {
		lower[i] = unicode.ToLower(r)
	}
	count := 0
	for i := 0; i < len(orig); {
		if n, repl := find(lower, i); n > 0 {
			sb.WriteString(repl)
			i += n
			count++
			continue
		}
		sb.WriteRune(orig[i])
		i++
	}
	return count
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

// byRole makes a role read as a noun phrase: "the primary on-call", "a responder",
// "PagerDuty automation".
func byRole(r timeline.Role) string {
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
