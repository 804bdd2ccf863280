package i18n

import (
	"regexp"
	"strings"

	"github.com/postmortemd/postmortemd/timeline"
)

// builtinRoles are the role phrases the receiver writes (receiver/roles.go), as patterns over the
// canonical English value, with the message that says each in a language. A role that matches none
// (one the team configured, a manual entry's role) is the team's own and is used as written.
var builtinRoles = []struct {
	re   *regexp.Regexp
	id   string
	args []string // names of the pattern's groups, in order
}{
	{regexp.MustCompile(`^primary on-call \(level 1\)(?: for (.+))?$`), "role.level1", []string{"Service"}},
	{regexp.MustCompile(`^secondary on-call \(level 2\)(?: for (.+))?$`), "role.level2", []string{"Service"}},
	{regexp.MustCompile(`^level-(\d+) on-call(?: for (.+))?$`), "role.levelN", []string{"Level", "Service"}},
	{regexp.MustCompile(`^on-call responder via the (.+) policy$`), "role.oncall_policy", []string{"Policy"}},
	{regexp.MustCompile(`^on-call responder$`), "role.oncall", nil},
	{regexp.MustCompile(`^responder requested via the (.+) policy$`), "role.requested_policy", []string{"Policy"}},
	{regexp.MustCompile(`^requested responder$`), "role.requested", nil},
	{regexp.MustCompile(`^a responder$`), "role.fallback", nil},
	// The review's attendees: a participant without a role, and the owners a label names
	// (drafts/review's attendees).
	{regexp.MustCompile(`^responder$`), "role.fallback", nil},
	{regexp.MustCompile(`^owner of (\S+) (.+)$`), "role.label_owner", []string{"Label", "Value"}},
	{regexp.MustCompile(`^PagerDuty automation$`), "role.automation", nil},
	{regexp.MustCompile(`^monitoring integration$`), "role.integration", nil},
	{regexp.MustCompile(`^monitoring integration \((.+)\)$`), "role.integration_named", []string{"Name"}},
	{regexp.MustCompile(`^Alertmanager \(receiver (.*)\)$`), "role.alertmanager", []string{"Receiver"}},
	{regexp.MustCompile(`^(?i:incident commander)$`), "role.incident_commander", nil},
}

// Role says r in the printer's language. English keeps the canonical value; other languages
// translate the built-in phrases and keep configured roles as written. An empty role is the
// fallback role.
func (p Printer) Role(r timeline.Role) string {
	s := strings.TrimSpace(string(r))
	if s == "" {
		s = string(timeline.FallbackRole)
	}
	if p.Lang() == English {
		return s
	}
	for _, b := range builtinRoles {
		m := b.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		data := make([]any, 0, 2*len(b.args))
		for i, name := range b.args {
			data = append(data, name, m[i+1])
		}
		return p.T(b.id, data...)
	}
	return s
}

// Phrase says r as it stands in a sentence: English puts an article in front where the role reads
// as a common noun ("the primary on-call"), as the stored sentences do; other languages say the
// role as Role does.
func (p Printer) Phrase(r timeline.Role) string {
	if p.Lang() == English {
		return r.Phrase()
	}
	return p.Role(r)
}

// Roles says each role as Phrase does, without repeats, joined as a list; none is the nobody
// phrase.
func (p Printer) Roles(rs []string) string {
	var out []string
	for _, r := range rs {
		ph := p.Phrase(timeline.Role(r))
		if !contains(out, ph) {
			out = append(out, ph)
		}
	}
	if len(out) == 0 {
		return p.T("role.nobody")
	}
	return p.List(out)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
