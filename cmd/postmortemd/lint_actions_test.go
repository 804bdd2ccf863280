package main

import (
	"bytes"
	"os"
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

// With the people directory, a person's name as an owner is flagged too.
func TestLintCommandFlagsAnOwnerWhoIsAPerson(t *testing.T) {
	people := t.TempDir() + "/people.yaml"
	if err := os.WriteFile(people, []byte("- {name: Dana Okafor, email: dana.okafor@example.com, role: database on-call}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := runLint([]string{"--people-file", people, "../../drafts/actions/testdata/filled.en.md"}, func(string) string { return "" }, nil, &out, &errOut)
	want := `filled.en.md:267:1: action-item-owner: action item "Add a runbook step for draining the payment queue": owner is a person's name, not a role`
	if code != lintFindings || !strings.Contains(out.String(), want) {
		t.Errorf("exit %d, output lacks %q:\n%s%s", code, want, out.String(), errOut.String())
	}
	if code := runLint([]string{"--people-file", "/nonexistent", "x.md"}, func(string) string { return "" }, nil, &out, &errOut); code != lintUsage {
		t.Errorf("missing people file: exit %d, want %d", code, lintUsage)
	}
}
