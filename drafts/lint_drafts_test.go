package drafts_test

import (
	"testing"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/lint"
)

// A draft postmortemd writes passes its own blameless guardrail: a team that gates on
// `postmortemd lint` is not stopped by postmortemd's own words.
func TestDraftsPassTheBlamelessLint(t *testing.T) {
	for _, lang := range drafts.Languages {
		t.Run(lang, func(t *testing.T) {
			s := newStory(t)
			s.deliverPD(14)
			draft := mustRender(t, lang, s.input())
			for _, f := range lint.Default().Markdown(string(draft)) {
				t.Errorf("line %d:%d: %s: %q: %s", f.Line, f.Column, f.Rule, f.Match, f.Message)
			}
			empty := mustRender(t, lang, drafts.Input{})
			for _, f := range lint.Default().Markdown(string(empty)) {
				t.Errorf("empty incident: line %d:%d: %s: %q", f.Line, f.Column, f.Rule, f.Match)
			}
		})
	}
}
