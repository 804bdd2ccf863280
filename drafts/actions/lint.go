package actions

import (
	"strings"
	"unicode/utf8"

	"github.com/postmortemd/postmortemd/drafts/lint"
)

// The lint rules of action items.
const (
	RuleOwner  = "action-item-owner"
	RuleDue    = "action-item-due"
	RuleReason = "action-item-reason"
	RuleStatus = "action-item-status"
)

// What the findings suggest, by their catalogue codes (FindingCodes).
const (
	suggestNoOwner     = "name the role that does it (an item without an owner fades away)"
	suggestOwnerIsName = "write the role instead of the person (\"the database on-call\")"
	suggestNoReason    = "write the reason the team agreed on: not doing it is a decision"
	suggestStatus      = "write open, done or won't do"
	suggestDue         = "write the date it is due by, as YYYY-MM-DD"
)

var suggestionCodes = map[string]string{suggestNoOwner: "actions.suggest.no_owner", suggestOwnerIsName: "actions.suggest.owner_is_name",
	suggestNoReason: "actions.suggest.no_reason", suggestStatus: "actions.suggest.status", suggestDue: "actions.suggest.due"}

// FindingCodes takes apart a finding Lint wrote, so a page can say it in the reader's language:
// the item's action as quoted, its problem (see ProblemCode) and the catalogue code of the
// suggestion ("" when it is not one of Lint's). ok is false for a finding Lint did not write.
func FindingCodes(f lint.Finding) (action, problem, suggestion string, ok bool) {
	switch f.Rule {
	case RuleOwner, RuleDue, RuleReason, RuleStatus:
	default:
		return "", "", "", false
	}
	rest, found := strings.CutPrefix(f.Message, `action item "`)
	if !found {
		return "", "", "", false
	}
	for i := 0; i < len(rest); i++ {
		j := strings.Index(rest[i:], `": `)
		if j < 0 {
			break
		}
		i += j
		if code, _ := ProblemCode(rest[i+3:]); code != "" {
			return rest[:i], rest[i+3:], suggestionCodes[f.Suggestion], true
		}
	}
	return "", "", "", false
}

// Lint reports the problems of doc's action items as lint findings, one per problem, at the item's
// row (Column 1; Offset is the row's byte offset in doc). The rules are action-item-owner (no owner,
// or a person's name), action-item-due (no due date, or one that is not a date), action-item-reason
// (won't do without a reason) and action-item-status (a status that is not open, done or won't do).
func (p Parser) Lint(doc []byte) []lint.Finding {
	d := p.read("", doc)
	offsets := lineOffsets(doc)
	var out []lint.Finding
	for _, r := range d.rows {
		for _, pr := range r.item.Problems {
			f := lint.Finding{Line: r.line + 1, Column: 1, Severity: lint.SeverityWarning, Message: "action item " + quote(r.item.Action) + ": " + pr}
			if r.line < len(offsets) {
				f.Offset = offsets[r.line]
			}
			switch {
			case pr == ProblemNoOwner:
				f.Rule, f.Suggestion = RuleOwner, suggestNoOwner
			case pr == ProblemOwnerIsName:
				f.Rule, f.Suggestion = RuleOwner, suggestOwnerIsName
			case pr == ProblemNoReason:
				f.Rule, f.Suggestion = RuleReason, suggestNoReason
			case strings.HasPrefix(pr, "status"):
				f.Rule, f.Suggestion = RuleStatus, suggestStatus
			default:
				f.Rule, f.Suggestion = RuleDue, suggestDue
			}
			out = append(out, f)
		}
	}
	return out
}

// Lint is Parser{}.Lint.
func Lint(doc []byte) []lint.Finding { return Parser{}.Lint(doc) }

func quote(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		s = string([]rune(s)[:59]) + "…"
	}
	return `"` + s + `"`
}

// lineOffsets returns the byte offset of every line of doc.
func lineOffsets(doc []byte) []int {
	offs := []int{0}
	for i, c := range doc {
		if c == '\n' && i+1 < len(doc) {
			offs = append(offs, i+1)
		}
	}
	return offs
}
