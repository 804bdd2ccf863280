package receiver

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/postmortemd/postmortemd/timeline"
)

// RoleMap names roles by PagerDuty ids, from the configuration: a user id, a team id or an escalation
// policy id (e.g. the "Incident Commanders" policy) maps to a role such as "incident commander".
type RoleMap struct {
	Users              map[string]string `yaml:"users"`
	Teams              map[string]string `yaml:"teams"`
	EscalationPolicies map[string]string `yaml:"escalation_policies"`
}

// Roles used when nothing better is known.
const (
	roleFallback                 = timeline.FallbackRole
	roleAutomation timeline.Role = "PagerDuty automation"
)

// roleBook resolves people to roles for one PagerDuty event: what the participants record already
// knows, the configured role map, and what this payload says of each person's part, best first (see
// timeline.RoleRank).
type roleBook struct {
	known   map[string]timeline.Participant
	roles   RoleMap
	teams   []string // the incident's team ids
	updates map[string]timeline.Participant
	at      time.Time
}

func newRoleBook(known map[string]timeline.Participant, roles RoleMap, at time.Time) *roleBook {
	if known == nil {
		known = map[string]timeline.Participant{}
	}
	return &roleBook{known: known, roles: roles, updates: map[string]timeline.Participant{}, at: at}
}

// learn records what this event says of a person: a role at a rank, a duty, and their name (kept
// in the participants record only).
func (b *roleBook) learn(ref *pdRef, role timeline.Role, rank timeline.RoleRank, duty string) {
	b.learnLevel(ref, role, rank, duty, 0)
}

// learnLevel is learn with the escalation level the person was paged at.
func (b *roleBook) learnLevel(ref *pdRef, role timeline.Role, rank timeline.RoleRank, duty string, level int) {
	if ref == nil || ref.ID == "" || !isUser(ref) {
		return
	}
	if r, ok := b.configured(ref.ID); ok && rank < timeline.RankConfig {
		role, rank = r, timeline.RankConfig
	}
	p, ok := b.updates[ref.ID]
	if !ok {
		p = timeline.Participant{ID: ref.ID, FirstSeen: b.at, LastSeen: b.at}
	}
	if role != "" && rank >= p.RoleRank {
		p.Role, p.RoleRank = role, rank
	}
	if level > 0 {
		p.Level = level
	}
	if strings.Contains(ref.Summary, "@") {
		p.Email = ref.Summary
	} else if ref.Summary != "" {
		p.Name = ref.Summary
	}
	if duty != "" && !contains(p.Duties, duty) {
		p.Duties = append(p.Duties, duty)
	}
	b.updates[ref.ID] = p
}

func (b *roleBook) configured(userID string) (timeline.Role, bool) {
	if r := b.roles.Users[userID]; r != "" {
		return timeline.Role(r), true
	}
	return "", false
}

// role is the best role known for a person, as of this event.
func (b *roleBook) role(ref *pdRef) timeline.Role {
	if ref == nil || ref.ID == "" {
		return roleFallback
	}
	var best timeline.Role
	var rank timeline.RoleRank
	if p, ok := b.known[ref.ID]; ok && p.Role != "" {
		best, rank = p.Role, p.RoleRank
	}
	if p, ok := b.updates[ref.ID]; ok && p.Role != "" && (best == "" || p.RoleRank > rank || (p.RoleRank == rank && p.Level > 0)) {
		best, rank = p.Role, p.RoleRank
	}
	if r, ok := b.configured(ref.ID); ok && rank < timeline.RankConfig {
		best = r
	}
	if best == "" {
		return roleFallback
	}
	return best
}

// actor is the role of whoever caused the event: a person's role, or what a non-human agent is.
func (b *roleBook) actor(agent *pdRef, client *pdClient) timeline.Role {
	switch {
	case agent == nil:
		if client != nil && client.Name != "" && !strings.EqualFold(client.Name, "PagerDuty") {
			return timeline.Role("monitoring integration (" + client.Name + ")")
		}
		return roleAutomation
	case isUser(agent):
		return b.role(agent)
	case strings.Contains(agent.Type, "integration") || agent.Type == "service_reference" || agent.Type == "service":
		if client != nil && client.Name != "" {
			return timeline.Role("monitoring integration (" + client.Name + ")")
		}
		return "monitoring integration"
	}
	return roleAutomation
}

// level is the escalation level known for a person, 0 if none.
func (b *roleBook) level(id string) int {
	if p, ok := b.updates[id]; ok && p.Level > 0 {
		return p.Level
	}
	return b.known[id].Level
}

// maxLevel is the highest escalation level anyone in the incident was paged at.
func (b *roleBook) maxLevel() int {
	m := 0
	for _, p := range b.known {
		m = max(m, p.Level)
	}
	for _, p := range b.updates {
		m = max(m, p.Level)
	}
	return m
}

// levelRole names an escalation level, as people on call say it.
func levelRole(level int, service string) timeline.Role {
	var s string
	switch level {
	case 1:
		s = "primary on-call (level 1)"
	case 2:
		s = "secondary on-call (level 2)"
	default:
		s = fmt.Sprintf("level-%d on-call", level)
	}
	if service != "" {
		s += " for " + service
	}
	return timeline.Role(s)
}

// policyRole is the part of someone PagerDuty assigned through an escalation policy.
func policyRole(ep *pdRef, teams []string, roles RoleMap) (timeline.Role, timeline.RoleRank) {
	if ep != nil {
		if r := roles.EscalationPolicies[ep.ID]; r != "" {
			return timeline.Role(r), timeline.RankConfig
		}
	}
	for _, t := range teams {
		if r := roles.Teams[t]; r != "" {
			return timeline.Role(r), timeline.RankConfig
		}
	}
	if ep != nil && ep.Summary != "" {
		return timeline.Role("on-call responder via the " + ep.Summary + " policy"), timeline.RankPayload
	}
	return "on-call responder", timeline.RankPayload
}

func responderRole(ep *pdRef, roles RoleMap) (timeline.Role, timeline.RoleRank) {
	if ep != nil {
		if r := roles.EscalationPolicies[ep.ID]; r != "" {
			return timeline.Role(r), timeline.RankConfig
		}
		if ep.Summary != "" {
			return timeline.Role("responder requested via the " + ep.Summary + " policy"), timeline.RankPayload
		}
	}
	return "requested responder", timeline.RankPayload
}

func isUser(ref *pdRef) bool {
	return ref != nil && (ref.Type == "user_reference" || ref.Type == "user")
}

// participants lists what the book learnt, for the participants record.
func (b *roleBook) participants() []timeline.Participant {
	out := make([]timeline.Participant, 0, len(b.updates))
	for _, p := range b.updates {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// scrub replaces every known person's name, parts of it and address in free text with their role,
// and any other e-mail address with a neutral word, before the text is stored (timeline.ReplaceNames,
// with each person's best role as of this event).
func (b *roleBook) scrub(text string) string {
	people := make([]timeline.Participant, 0, len(b.known)+len(b.updates))
	for _, ps := range []map[string]timeline.Participant{b.known, b.updates} {
		for _, p := range ps {
			people = append(people, timeline.Participant{ID: p.ID, Name: p.Name, Email: p.Email,
				Role: b.role(&pdRef{ID: p.ID})})
		}
	}
	text, _ = timeline.ReplaceNames(text, people)
	return text
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
