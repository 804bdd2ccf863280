package timeline

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// compactJSONByCases is compactJSON as first written, a byte at a time: the table-driven one must
// agree with it on any input.
func compactJSONByCases(raw []byte) bool {
	if raw[0] != '{' && raw[0] != '[' && raw[0] != '"' && raw[0] != 't' && raw[0] != 'f' && raw[0] != 'n' &&
		raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return false
	}
	in, esc := false, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case c == '<' || c == '>' || c == '&':
			return false
		case !in && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(raw[i:])
			if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
				return false
			}
			i += size - 1
		}
	}
	return !in && !esc
}

func TestCompactJSONAgreesWithByteByByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	pieces := []string{"{", "}", "[", "]", `"`, `\`, `\"`, `\\`, ":", ",", "a", "1", " ", "\t", "\n", "<", "&", "é", "\u2028",
		"\xff", "\xe2\x80", "渡", "null"}
	for range 20000 {
		var sb strings.Builder
		for range 1 + rng.IntN(12) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		raw := []byte(sb.String())
		if got, want := compactJSON(raw), compactJSONByCases(raw); got != want {
			t.Fatalf("compactJSON(%q) = %v, want %v", raw, got, want)
		}
	}
}
