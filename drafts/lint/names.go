package lint

import (
	"strings"
	"unicode/utf8"

	"github.com/postmortemd/postmortemd/timeline"
)

// The built-in name findings: their rule ids and their English words as a Finding (and a stored
// note's flags) carries them. A reader in another language gets them from the catalogue by rule id
// (internal/i18n's lint.* messages); the English text stays what the API returns.
const (
	RulePersonName         = "person-name"
	PersonNameMessage      = "this names a person; the record names roles"
	PersonNameSuggestion   = "write the role instead: " // followed by the role
	RuleEmailAddress       = "email-address"
	EmailAddressMessage    = "an e-mail address names a person"
	EmailAddressSuggestion = `name the role instead (e.g. "the primary on-call")`
)

// UnknownAddress replaces an e-mail address that belongs to no known participant.
const UnknownAddress = timeline.UnknownAddress

// FallbackRole names a participant whose role is not known.
const FallbackRole = timeline.FallbackRole

// ReplaceNames returns text with every known participant's name and address replaced by their role,
// and any other e-mail address by UnknownAddress, with the number of replacements made (the rule is
// timeline.ReplaceNames, which the receiver applies too).
func ReplaceNames(text string, people []timeline.Participant) (string, int) {
	return timeline.ReplaceNames(text, people)
}

// Names flags where text names a person: a known participant's name (as ReplaceNames finds them)
// or any e-mail address, at most MaxFindings of them, in reading order. A finding's Match is left
// empty, so a report never repeats the name; its suggestion names the role to write instead.
func Names(text string, people []timeline.Participant) []Finding {
	out := []Finding{}
	line, pos, col := 1, 0, 1 // col is pos's column; spans are in order, so both only move forward
	for _, sp := range timeline.NameSpans(text, people) {
		if len(out) == MaxFindings {
			break
		}
		for k := strings.IndexByte(text[pos:sp.Start], '\n'); k >= 0; k = strings.IndexByte(text[pos:sp.Start], '\n') {
			line++
			pos, col = pos+k+1, 1
		}
		col += utf8.RuneCountInString(text[pos:sp.Start])
		pos = sp.Start
		f := Finding{Line: line, Column: col, Offset: sp.Start,
			Rule: RulePersonName, Severity: SeverityWarning, Message: PersonNameMessage,
			Suggestion: PersonNameSuggestion + sp.Replacement}
		if sp.Replacement == UnknownAddress {
			f.Rule, f.Message, f.Suggestion = RuleEmailAddress, EmailAddressMessage, EmailAddressSuggestion
		}
		out = append(out, f)
	}
	return out
}
