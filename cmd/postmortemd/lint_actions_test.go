package main

import (
	"bytes"
	"strings"
	"testing"
)

// `postmortemd lint` reports the action items' problems with their rule ids.
func TestLintCommandReportsActionItems(t *testing.T) {
	var out, errOut bytes.Buffer
	code := runLint([]string{"../../drafts/actions/testdata/filled.en.md"}, func(string) string { return "" }, nil, &out, &errOut)
	if code != lintFindings {
		t.Fatalf("exit %d, want %d; stderr %s", code, lintFindings, errOut.String())
	}
	for _, want := range []string{
		`filled.en.md:268:1: action-item-due: action item "Move the payment queue to a managed broker": no due date`,
		`filled.en.md:269:1: action-item-reason: action item "Retire the legacy checkout path": won't do without a reason`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
