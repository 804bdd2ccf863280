package actions

import "testing"

// Every problem an item can have has a code in the catalogues, with the value it quotes, so a
// page can say it in the reader's language; a string it does not know has none.
func TestProblemCode(t *testing.T) {
	for _, tt := range []struct{ problem, code, value string }{
		{ProblemNoOwner, "actions.problem.no_owner", ""},
		{ProblemNoDue, "actions.problem.no_due", ""},
		{ProblemOwnerIsName, "actions.problem.owner_is_name", ""},
		{ProblemNoReason, "actions.problem.no_reason", ""},
		{sprintf(problemBadDueFormat, `next "week"`), "actions.problem.bad_due", `next "week"`},
		{sprintf(problemBadStatus, "来週"), "actions.problem.bad_status", "来週"},
		{"something else", "", ""},
	} {
		if code, v := ProblemCode(tt.problem); code != tt.code || v != tt.value {
			t.Errorf("ProblemCode(%q) = %q, %q; want %q, %q", tt.problem, code, v, tt.code, tt.value)
		}
	}
}
