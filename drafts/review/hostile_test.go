package review

import (
	"strings"
	"testing"
)

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                 "plain",
		"a\r\nb":                "a b",
		"  a \t\x00 b\u2028c  ": "a b c",
		"bad \xff byte":         "bad \ufffd byte",
		"Ｄａｎａ\u0085Okafor\x7f":  "Ｄａｎａ Okafor",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
		if got := OneLine(want); got != want {
			t.Errorf("OneLine(%q) is not idempotent: %q", want, got)
		}
	}
	if s := OneLine(strings.Repeat("x", 10)); s != strings.Repeat("x", 10) {
		t.Error(s)
	}
}
