package review

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/postmortemd/postmortemd/timeline"
)

// DefaultSeverities are the severities (Alertmanager's severity label or PagerDuty's priority, as
// timeline.Incident.Severity carries them) that get a review when no policy is configured.
var DefaultSeverities = []string{"critical", "page", "P1", "P2"}

// PolicyConfig says which resolved incidents get a review meeting: those whose severity is one of
// Severities (case-insensitive; compared with the incident's severity and its severity label), or
// whose labels match one of Matchers. Each entry of Matchers is a set of matchers in Alertmanager's
// syntax that must all match, e.g. `severity=~"critical|page"` or `{team="payments",env!="dev"}`.
// An empty PolicyConfig means the defaults: DefaultSeverities.
type PolicyConfig struct {
	Severities []string `yaml:"severities" json:"severities,omitempty"`
	Matchers   []string `yaml:"matchers" json:"matchers,omitempty"`
}

// Policy is a parsed PolicyConfig.
type Policy struct {
	severities []string
	matchers   []labels.Matchers
}

// NewPolicy parses c. An error names the matcher that did not parse and wraps timeline.ErrInvalid.
func NewPolicy(c PolicyConfig) (*Policy, error) {
	p := &Policy{}
	for _, s := range c.Severities {
		if s = strings.TrimSpace(s); s != "" {
			p.severities = append(p.severities, strings.ToLower(s))
		}
	}
	for _, m := range c.Matchers {
		ms, err := labels.ParseMatchers(m)
		if err != nil {
			return nil, fmt.Errorf("review policy matcher %q: %w: %v", m, timeline.ErrInvalid, err)
		}
		if len(ms) == 0 {
			return nil, fmt.Errorf("review policy matcher %q: %w: no matcher", m, timeline.ErrInvalid)
		}
		p.matchers = append(p.matchers, ms)
	}
	if len(p.severities) == 0 && len(p.matchers) == 0 {
		for _, s := range DefaultSeverities {
			p.severities = append(p.severities, strings.ToLower(s))
		}
	}
	return p, nil
}

// Applies reports whether inc gets a review meeting, and why (for the log and the stored review).
func (p *Policy) Applies(inc timeline.Incident) (bool, string) {
	for _, sev := range []string{inc.Severity, inc.Labels["severity"]} {
		if sev != "" && slices.Contains(p.severities, strings.ToLower(sev)) {
			return true, "severity " + sev
		}
	}
	set := make(model.LabelSet, len(inc.Labels))
	for k, v := range inc.Labels {
		set[model.LabelName(k)] = model.LabelValue(v)
	}
	for _, ms := range p.matchers {
		if ms.Matches(set) {
			return true, "labels match " + ms.String()
		}
	}
	return false, ""
}
