package review

import (
	"slices"
	"sort"
	"strings"

	"github.com/postmortemd/postmortemd/timeline"
)

// Attendee is one person or team invited to a review. Email and Name appear only in the
// invitation sent to them; the draft and the API see Role and counts.
type Attendee struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
	// Role is how the timeline names the attendee ("primary on-call for checkout", "owner of team
	// payments").
	Role timeline.Role `json:"role"`
	// Required attendees held a deciding duty (assignee, acknowledger, resolver, responder, incident
	// commander) or own what broke; the rest are optional.
	Required bool `json:"required"`
}

// OwnersConfig maps an incident's labels and services to the addresses that own them, and names
// addresses invited to every review.
type OwnersConfig struct {
	// Labels maps a label name to its values' owners: {"team": {"payments": ["payments@example.com"]}}.
	Labels map[string]map[string][]string `yaml:"labels" json:"labels,omitempty"`
	// Services maps a service name to its owners.
	Services map[string][]string `yaml:"services" json:"services,omitempty"`
	// Always are invited to every review, as optional attendees.
	Always []string `yaml:"always" json:"always,omitempty"`
}

// requiredDuties are the duties that make a participant a required attendee.
var requiredDuties = []string{"assignee", "acknowledger", "resolver", "responder"}

// Invitees lists who is invited to inc's review: the participants recorded for it (only those
// with an address), the owners the config maps to its labels and services, and the always-invited
// addresses. Each address appears once, required if any of its reasons makes it required; the
// list is ordered required first, then by role and address, so the invitation is stable.
func Invitees(inc timeline.Incident, participants map[string]timeline.Participant, owners OwnersConfig) []Attendee {
	byEmail := map[string]*Attendee{}
	add := func(a Attendee) {
		a.Email = strings.TrimSpace(a.Email)
		if a.Email == "" || !strings.Contains(a.Email, "@") {
			return
		}
		key := strings.ToLower(a.Email)
		if cur, ok := byEmail[key]; ok {
			cur.Required = cur.Required || a.Required
			if cur.Name == "" {
				cur.Name = a.Name
			}
			return
		}
		byEmail[key] = &a
	}
	for _, p := range participants {
		req := strings.Contains(strings.ToLower(string(p.Role)), "incident commander")
		for _, d := range p.Duties {
			req = req || slices.Contains(requiredDuties, d) || strings.Contains(d, "incident commander")
		}
		role := p.Role
		if role == "" {
			role = "responder"
		}
		add(Attendee{Email: p.Email, Name: p.Name, Role: role, Required: req})
	}
	for name, values := range owners.Labels {
		if v, ok := inc.Labels[name]; ok {
			for _, e := range values[v] {
				add(Attendee{Email: e, Role: timeline.Role("owner of " + name + " " + v), Required: true})
			}
		}
	}
	for _, svc := range inc.Services {
		for _, e := range owners.Services[svc] {
			add(Attendee{Email: e, Role: timeline.Role("owner of service " + svc), Required: true})
		}
	}
	for _, e := range owners.Always {
		add(Attendee{Email: e, Role: "always invited", Required: false})
	}
	out := make([]Attendee, 0, len(byEmail))
	for _, a := range byEmail {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Required != out[j].Required {
			return out[i].Required
		}
		if out[i].Role != out[j].Role {
			return out[i].Role < out[j].Role
		}
		return out[i].Email < out[j].Email
	})
	return out
}

// Roles are the attendees' roles, each once, in order: what the draft may show.
func Roles(as []Attendee) []string {
	var out []string
	for _, a := range as {
		if !slices.Contains(out, string(a.Role)) {
			out = append(out, string(a.Role))
		}
	}
	return out
}
