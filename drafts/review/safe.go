package review

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-ical"
)

// Titles, reasons and names come from alert labels, PagerDuty and people: any of them may hold a
// carriage return, a line feed, other control characters or bytes that are not UTF-8. They are
// made safe where they leave postmortemd (an iCalendar property, an e-mail header), so one odd
// title can neither break a feed that lists every meeting nor inject a line into it.

// OneLine returns s as one line of valid UTF-8: every run of control characters, line and
// paragraph separators and spaces becomes one space, and the ends are trimmed. It is what an
// e-mail header or an iCalendar parameter may carry.
func OneLine(s string) string {
	if isOneLine(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		if r == utf8.RuneError && n == 1 {
			r = unicode.ReplacementChar
		}
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isOneLine reports whether OneLine would return s unchanged.
func isOneLine(s string) bool {
	if !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	prevSpace := false
	for _, r := range s {
		if r == ' ' {
			if prevSpace {
				return false
			}
			prevSpace = true
			continue
		}
		prevSpace = false
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// safeCalendar makes every property of c and its children encodable and free of injected lines:
// parameter values become one line without double quotes or backslashes, TEXT values keep their line breaks as
// the escaped "\n" of RFC 5545 3.3.11, other values lose theirs, and control characters other
// than a tab and bytes that are not UTF-8 are replaced.
func safeCalendar(c *ical.Component) {
	for name, props := range c.Props {
		for i := range props {
			p := &props[i]
			text := false
			switch p.ValueType() {
			case ical.ValueText, ical.ValueDefault:
				text = true
			}
			p.Value = safeValue(p.Value, text)
			for k, vs := range p.Params {
				for j, v := range vs {
					if v = OneLine(v); strings.ContainsAny(v, `"\`) {
						// A double quote would end a quoted value; a backslash is no escape in
						// RFC 5545 parameters, but some readers (golang-ical) take one before the
						// closing quote for an escaped quote and lose the rest of the line.
						v = strings.NewReplacer(`"`, "'", `\`, "＼").Replace(v)
					}
					vs[j] = v
				}
				p.Params[k] = vs
			}
		}
		c.Props[name] = props
	}
	for _, child := range c.Children {
		safeCalendar(child)
	}
}

// safeValue is v without raw line breaks or control characters. In a TEXT value (already escaped
// by go-ical, which turns LF into "\n" but leaves CR alone) a CR that ends a line is dropped and a
// lone CR becomes "\n"; elsewhere line breaks become spaces.
func safeValue(v string, text bool) string {
	clean := utf8.ValidString(v)
	for i := 0; clean && i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			clean = false
		}
	}
	if clean {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i, w := 0, 0; i < len(v); i += w {
		r, n := utf8.DecodeRuneInString(v[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteRune(unicode.ReplacementChar)
		case r == '\r':
			rest := v[i+1:]
			switch {
			case strings.HasPrefix(rest, "\n"), text && strings.HasPrefix(rest, `\n`):
				// CRLF: the LF that follows stands for the break.
			case text:
				b.WriteString(`\n`)
			default:
				b.WriteByte(' ')
			}
		case r == '\n':
			if text {
				b.WriteString(`\n`)
			} else {
				b.WriteByte(' ')
			}
		case r == '\t':
			b.WriteByte('\t')
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
