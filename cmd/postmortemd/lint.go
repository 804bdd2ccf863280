package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/postmortemd/postmortemd/drafts/actions"
	"github.com/postmortemd/postmortemd/drafts/lint"
)

// Exit codes of `postmortemd lint`.
const (
	lintClean    = 0
	lintFindings = 1
	lintUsage    = 2
)

// lintFinding is one finding as --format json prints it.
type lintFinding struct {
	File string `json:"file"`
	lint.Finding
}

// runLint is `postmortemd lint [--words FILE] [--format text|json] FILE...`: it flags wording that
// blames or judges people in postmortem drafts (Markdown: front matter machine-owned blocks, code
// and comments skipped) or other text files, and never changes them. "-" reads standard input.
// It returns the exit code: 0 clean, 1 findings, 2 a usage or I/O error.
func runLint(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("postmortemd lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	words := fs.String("words", getenv(envPrefix+"LINT_WORDS"), "YAML words file that adds rules or disables default ones (env "+envPrefix+"LINT_WORDS)")
	format := fs.String("format", "text", "output format: text (file:line:col: rule: message (suggestion)) or json")
	peopleFile := fs.String("people-file", getenv(envPrefix+"PEOPLE_FILE"), "YAML list of {name, email, role}: a person's name as an action item's owner is flagged (env "+envPrefix+"PEOPLE_FILE)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: postmortemd lint [--words FILE] [--people-file FILE] [--format text|json] FILE...")
		fmt.Fprintln(stderr, "Flags wording that blames or judges people (English and Japanese). Exit status: 0 clean, 1 findings, 2 error.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return lintClean
		}
		return lintUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "postmortemd lint: --format: want text or json, got %q\n", *format)
		return lintUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return lintUsage
	}
	l, err := newLinter(*words)
	if err != nil {
		fmt.Fprintf(stderr, "postmortemd lint: --words: %v\n", err)
		return lintUsage
	}
	var items actions.Parser
	if *peopleFile != "" {
		c := Config{PeopleFile: *peopleFile}
		if err := c.readSecretFiles(); err != nil { // reads the people file, nothing else is set
			fmt.Fprintf(stderr, "postmortemd lint: --%v\n", err)
			return lintUsage
		}
		items.People = c.participants()
	}
	all := []lintFinding{}
	failed := false
	for _, name := range fs.Args() {
		var b []byte
		if name == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(name)
		}
		if err == nil && !utf8.Valid(b) {
			err = errors.New("not UTF-8 text")
		}
		if err != nil {
			fmt.Fprintf(stderr, "postmortemd lint: %s: %v\n", name, err)
			failed = true
			continue
		}
		var found []lint.Finding
		if name == "-" || isMarkdown(name) {
			found = l.Markdown(string(b))
			// The action items' problems (no owner, no due date, won't do without a reason).
			found = append(found, items.Lint(b)...)
			slices.SortStableFunc(found, func(a, b lint.Finding) int { return a.Offset - b.Offset })
		} else {
			found = l.Text(string(b))
		}
		for _, f := range found {
			all = append(all, lintFinding{File: name, Finding: f})
			if *format == "text" {
				fmt.Fprintf(stdout, "%s:%d:%d: %s: %s (%s)\n", name, f.Line, f.Column, f.Rule, f.Message, f.Suggestion)
			}
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			fmt.Fprintf(stderr, "postmortemd lint: %v\n", err)
			return lintUsage
		}
	}
	switch {
	case failed:
		return lintUsage
	case len(all) > 0:
		return lintFindings
	}
	return lintClean
}

// newLinter builds the linter from the default rules and, if path is set, a words file.
func newLinter(path string) (*lint.Linter, error) {
	var w lint.Words
	if path != "" {
		var err error
		if w, err = lint.LoadWords(path); err != nil {
			return nil, err
		}
	}
	return lint.New(w)
}

func isMarkdown(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".md", ".markdown", ".mdown", ".mkd":
		return true
	}
	return false
}
