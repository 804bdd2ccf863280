package drafts

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text is untrusted text from the timeline: labels, annotations, facts, notes, roles, titles.
// Templates cannot reach the raw value. Printed as it is ({{.Title}}), a Text is escaped for one line
// of Markdown, safe in running text, list items, headings and table cells; YAML gives a quoted YAML
// scalar for the front matter; Lines keeps the line breaks of multi-line text such as notes.
//
// The Markdown escaping (see String) is:
//   - invalid UTF-8 becomes U+FFFD; control characters, bidirectional overrides and zero-width
//     no-break spaces are dropped; every run of white space (line breaks included) becomes one
//     space, and the text is trimmed, so untrusted text can never start a line, a block or a
//     marker of its own;
//   - & < > become &amp; &lt; &gt;, so no raw HTML, HTML comment (and so no postmortemd marker) or
//     autolink can appear;
//   - \ ` * _ [ ] | ~ { } $ @ are backslash-escaped: no code span, emphasis, link, image, table
//     cell break, strikethrough, template or shortcode delimiter ({{ }}), math or mention;
//   - a leading # > - + = or "1." / "1)" is backslash-escaped, so the text cannot become a
//     heading, quote, list item or setext underline wherever a template puts it.
//
// CommonMark and GitHub render every such escape as the plain character.
type Text string

// String returns the text escaped for one line of Markdown (see Text).
func (t Text) String() string { return escapeInline(string(t)) }

// YAML returns the text as a double-quoted YAML scalar on one line: non-printable characters,
// line breaks, bidirectional controls, < and > and the braces of {{ }} and {% %} are written as
// escapes, so the value reads back exactly, cannot end the front matter or a machine-owned block,
// and leaves no raw HTML or template delimiter in the file.
func (t Text) YAML() string { return yamlQuote(string(t)) }

// Lines returns multi-line text escaped like String line by line, joined by Markdown hard line
// breaks (a backslash at the end of a line) with the next line indented by indent spaces, so it
// stays inside the list item it starts in. Blank lines are dropped.
func (t Text) Lines(indent int) string {
	indent = max(0, min(indent, 12))
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(string(t), "\r\n", "\n"), "\n") {
		if e := escapeInline(l); e != "" {
			out = append(out, e)
		}
	}
	return strings.Join(out, "\\\n"+strings.Repeat(" ", indent))
}

// Texts is a list of untrusted texts.
type Texts []Text

// Join returns the texts escaped like Text.String, joined by sep (which is not escaped).
func (ts Texts) Join(sep string) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, sep)
}

// YAML returns the texts as a YAML flow sequence of quoted scalars, e.g. ["a", "b"].
func (ts Texts) YAML() string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.YAML()
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// Link is a URL from the timeline. Only absolute http and https URLs become links (credentials
// removed, and characters that could end a Markdown link destination percent-encoded); anything
// else is shown as escaped text.
type Link struct {
	// Label is the text shown for the link.
	Label Text
	raw   string
	safe  string
}

func newLink(label, raw string) Link {
	l := Link{Label: Text(label), raw: raw}
	l.safe, _ = safeURL(raw)
	if l.Label == "" {
		l.Label = Text(displayURL(l.safe, raw))
	}
	return l
}

// OK reports whether the URL is a usable http or https link.
func (l Link) OK() bool { return l.safe != "" }

// URL returns the sanitized URL, or "" when the value is not an http or https URL.
func (l Link) URL() string { return l.safe }

// String returns a Markdown link, or the escaped value when it is not an http or https URL.
func (l Link) String() string {
	if l.safe == "" {
		return escapeInline(l.raw)
	}
	return "[" + l.Label.String() + "](" + l.safe + ")"
}

// YAML returns the sanitized URL (or, when it is not a link, the value) as a quoted YAML scalar.
func (l Link) YAML() string {
	if l.safe == "" {
		return yamlQuote(l.raw)
	}
	return yamlQuote(l.safe)
}

// safeURL returns u as an absolute http(s) URL that cannot break out of a Markdown link.
func safeURL(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 4096 || strings.ContainsAny(raw, "\r\n\t") {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	u.User = nil
	s := u.String()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("<>\"'()[]{}|\\^`", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// displayURL shortens a URL to host and path for a link label.
func displayURL(safe, raw string) string {
	if safe == "" {
		return truncate(raw, 80)
	}
	u, err := url.Parse(safe)
	if err != nil {
		return truncate(safe, 80)
	}
	return truncate(u.Host+strings.TrimSuffix(u.EscapedPath(), "/"), 80)
}

// clean makes untrusted text one safe line: valid UTF-8, no control or bidirectional characters,
// white space collapsed, trimmed.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case invisible(r):
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// invisible reports characters that are dropped from Markdown: controls, bidirectional
// embeddings, overrides and isolates, and the zero-width no-break space.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cc, r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) ||
		r == 0x200E || r == 0x200F || r == 0x061C || r == 0xFEFF
}

func escapeInline(s string) string {
	s = clean(s)
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	// A leading ordered-list marker ("12." or "12)") loses its meaning when its dot is escaped.
	digits := 0
	for digits < len(s) && digits < 10 && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	listMarker := digits > 0 && digits < len(s) && (s[digits] == '.' || s[digits] == ')')
	for i, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\\', '`', '*', '_', '[', ']', '|', '~', '{', '}', '$', '@':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '#', '-', '+', '=':
			if i == 0 {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		case '.', ')':
			if listMarker && i == digits {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// yamlQuote writes s as a YAML double-quoted scalar that yaml.v3 reads back as s (invalid UTF-8
// aside, which becomes U+FFFD).
func yamlQuote(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	prev := rune(0)
	for i, r := range s {
		next := rune(0)
		if i+1 < len(s) {
			next = rune(s[i+1])
		}
		switch {
		case r == '<' || r == '>',
			r == '{' && (next == '{' || next == '%'),
			r == '}' && (prev == '}' || prev == '%'):
			// No raw HTML (nor a marker) and no template delimiter anywhere in the file, even
			// in the front matter; YAML reads the escape back as the character.
			fmt.Fprintf(&b, `\u%04X`, r)
			prev = r
			continue
		}
		prev = r
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if yamlPrintable(r) {
				b.WriteRune(r)
			} else if r <= 0xFFFF {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				fmt.Fprintf(&b, `\U%08X`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// yamlPrintable is YAML's printable set, less the characters libyaml treats as line breaks
// (U+0085, U+2028, U+2029) and the invisible ones, which are written as escapes instead.
func yamlPrintable(r rune) bool {
	switch {
	case r == 0x85 || r == 0x2028 || r == 0x2029 || invisible(r):
		return false
	case r >= 0x20 && r <= 0x7E, r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n-1 {
			return s[:j] + "…"
		}
		i++
	}
	return s
}
