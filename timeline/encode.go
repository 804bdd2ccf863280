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
	if !e.plain() {
		js, err := json.Marshal(e)
		return append(b, js...), err
	}
	b = e.appendHead(b)
	b = append(b, e.Attributes...)
	return append(b, '}'), nil
}

// plain reports an event AppendJSON writes itself: plain times, compact attributes.
func (e Event) plain() bool {
	return plainTime(e.At) && plainTime(e.RecordedAt) && (len(e.Attributes) == 0 || compactJSON(e.Attributes))
}

// appendHead appends what AppendJSON writes before the attributes' value (`,"attributes":`
// included when there are attributes), or before the final '}' when there are none.
func (e Event) appendHead(b []byte) []byte {
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
	}
	return b
}

// An event whose attributes are megabytes long (a 16 MiB annotation) would be held twice at once if
// its JSON were a copy of them: once in the attributes, once in the JSON the store sends. Built
// with AttributesBuffer, the attributes have the room for the rest of the JSON around them, and
// JSONInPlace writes the JSON there instead.

// AttributesBuffer returns an empty buffer of capacity n for e's attributes, with room in front of
// it for the rest of e's JSON (as e is now, without attributes) and a byte behind it. Once
// e.Attributes is set to what was appended to it, within its capacity, JSONInPlace returns e's JSON
// in the same memory. Appending beyond n moves the attributes elsewhere: they stay correct, and
// JSONInPlace reports that it cannot write in place.
func (e *Event) AttributesBuffer(n int) []byte {
	room := e.EncodedSize() - len(e.Attributes) // the framing counts `,"attributes":` and '}'
	buf := make([]byte, room, room+n+1)
	e.room = buf
	return buf[room : room : room+n]
}

// JSONInPlace returns e's JSON, exactly as AppendJSON writes it, written around e.Attributes in the
// memory AttributesBuffer gave them, and true; the attributes are not touched, so it may be called
// again (a retried store call), but not concurrently for events that share the buffer. It returns
// false, and writes nothing, when e's attributes are not in such a buffer, when AppendJSON would
// not write e itself (see AppendJSON), or when the rest of e's JSON grew beyond the room.
func (e Event) JSONInPlace() ([]byte, bool) {
	a := e.Attributes
	if len(a) == 0 || e.room == nil {
		return nil, false
	}
	full, at := e.room[:cap(e.room)], len(e.room)
	if at+len(a) >= len(full) || &full[at] != &a[0] || !e.plain() {
		return nil, false
	}
	// The head is written aside first (on the stack when it fits, as a fact of 1,000 bytes does),
	// so that the room only ever holds the head where it ends up: a JSON returned by an earlier
	// call stays as it was.
	var small [1536]byte
	head := e.appendHead(small[:0])
	if len(head) > at {
		return nil, false
	}
	start, end := at-len(head), at+len(a)
	copy(full[start:at], head)
	full[end] = '}'
	return full[start : end+1 : end+1], true
}

// EncodedSize is at least what AppendJSON writes for e when it writes e itself (plain times and
// compact attributes): callers size one buffer with it, and a buffer short by a few bytes is
// copied whole into a larger one (for a 16 MiB annotation, a third copy of it in memory).
func (e Event) EncodedSize() int {
	return eventFraming + 2*len(time.RFC3339Nano) + JSONStringLen(e.ID) + JSONStringLen(string(e.Source)) +
		JSONStringLen(string(e.Type)) + JSONStringLen(string(e.Kind)) + JSONStringLen(string(e.Role)) +
		JSONStringLen(e.Fact) + len(e.Attributes)
}

// eventFraming is what AppendJSON writes besides the values: names, quotes, commas, braces.
const eventFraming = len(`{"id":,"at":"","recorded_at":"","source":,"type":,"kind":,"role":,"fact":,"attributes":}`)

// JSONStringLen is the length of what AppendJSONString appends for s.
func JSONStringLen(s string) int {
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
	b = appendJSONChars(b, s)
	return append(b, '"')
}

// appendJSONChars appends what AppendJSONString writes between the quotes. Each character is
// escaped on its own, so a text may be written in pieces, provided no piece ends inside a valid
// UTF-8 sequence that the next one completes.
func appendJSONChars(b []byte, s string) []byte {
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
	return append(b, s[start:]...)
}
