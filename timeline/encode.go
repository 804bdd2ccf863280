package timeline

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// Events are encoded on every delivery, and a webhook's annotations may be megabytes long:
// encoding/json builds each value in a growing buffer of its own and checks an already encoded
// json.RawMessage again. AppendJSON writes the same bytes as json.Marshal straight into the caller's
// buffer, once.

// AppendJSON appends e encoded exactly as json.Marshal encodes it (the id first, as Entry.ID
// expects). Attributes are copied as they are when they are compact JSON as encoding/json writes
// it (what json.Marshal returns); anything else goes through json.Marshal, which checks it and
// returns its error.
func (e Event) AppendJSON(b []byte) ([]byte, error) {
	if !plainTime(e.At) || !plainTime(e.RecordedAt) || (len(e.Attributes) > 0 && !compactJSON(e.Attributes)) {
		js, err := json.Marshal(e)
		return append(b, js...), err
	}
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, e.ID)
	b = append(b, `,"at":"`...)
	b = e.At.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","recorded_at":"`...)
	b = e.RecordedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","source":`...)
	b = AppendJSONString(b, string(e.Source))
	b = append(b, `,"type":`...)
	b = AppendJSONString(b, string(e.Type))
	b = append(b, `,"kind":`...)
	b = AppendJSONString(b, string(e.Kind))
	b = append(b, `,"role":`...)
	b = AppendJSONString(b, string(e.Role))
	b = append(b, `,"fact":`...)
	b = AppendJSONString(b, e.Fact)
	if len(e.Attributes) > 0 {
		b = append(b, `,"attributes":`...)
		b = append(b, e.Attributes...)
	}
	return append(b, '}'), nil
}

// EncodedSize is at least what AppendJSON writes for e when it writes e itself (plain times and
// compact attributes): callers size one buffer with it, and a buffer short by a few bytes is
// copied whole into a larger one (for a 16 MiB annotation, a third copy of it in memory).
func (e Event) EncodedSize() int {
	return eventFraming + 2*len(time.RFC3339Nano) + jsonStringLen(e.ID) + jsonStringLen(string(e.Source)) +
		jsonStringLen(string(e.Type)) + jsonStringLen(string(e.Kind)) + jsonStringLen(string(e.Role)) +
		jsonStringLen(e.Fact) + len(e.Attributes)
}

// eventFraming is what AppendJSON writes besides the values: names, quotes, commas, braces.
const eventFraming = len(`{"id":,"at":"","recorded_at":"","source":,"type":,"kind":,"role":,"fact":,"attributes":}`)

// jsonStringLen is the length of what AppendJSONString appends for s.
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case jsonSafe[c]:
			n++
			i++
		case c < utf8.RuneSelf:
			switch c {
			case '\\', '"', '\b', '\f', '\n', '\r', '\t':
				n += 2
			default:
				n += 6
			}
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
				n += 6
			default:
				n += size
			}
			i += size
		}
	}
	return n
}

// plainTime reports a time that time.Time.MarshalJSON writes as RFC 3339 with nanoseconds (it
// refuses years outside 0-9999 and zone offsets with seconds).
func plainTime(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off%60 == 0
}

// compactJSON reports whether raw has no space outside strings and nothing in strings that
// encoding/json escapes when it writes (<, >, &, U+2028, U+2029, invalid UTF-8): then json.Marshal
// would copy it as it is. It does not check that raw is valid JSON; it is meant for what an
// encoder wrote.
func compactJSON(raw []byte) bool {
	if raw[0] != '{' && raw[0] != '[' && raw[0] != '"' && raw[0] != 't' && raw[0] != 'f' && raw[0] != 'n' &&
		raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return false
	}
	in := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !compactSpecial[c] {
			continue
		}
		switch {
		case c == '\\':
			if in { // the escaped byte is skipped, whatever it is
				if i+1 == len(raw) {
					return false
				}
				i++
			}
		case c == '"':
			in = !in
		case c == '<' || c == '>' || c == '&':
			return false
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if !in {
				return false
			}
		default: // c >= utf8.RuneSelf
			r, size := utf8.DecodeRune(raw[i:])
			if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
				return false
			}
			i += size - 1
		}
	}
	return !in
}

// compactSpecial marks the bytes compactJSON looks at; it steps over the others (most of a text)
// with one table look-up each.
var compactSpecial = func() (t [256]bool) {
	for _, c := range []byte("\"\\<>& \t\n\r") {
		t[c] = true
	}
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = true
	}
	return t
}()

// jsonSafe marks the ASCII bytes AppendJSONString copies as they are.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string exactly as json.Marshal writes it: HTML-safe (<, >
// and & escaped), U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
