// Package drafts turns a resolved incident's timeline into a draft postmortem: Markdown with YAML
// front matter, in five parts (attributes, summary, walkthrough, cognition and process, action
// items) plus the tools used and the review, pre-filled with what the timeline knows and with
// prompts where only people can answer. It keeps drafts in a Postmortems store (a directory of
// files, Store, or a database every replica shares, SharedStore over Records) and, when an incident
// is drafted again (it reopened and resolved again), merges the new facts into the machine-owned
// blocks only, never over anything a person wrote.
//
// It owns the templates (text/template, embedded, parsed at start-up, English and Japanese), the
// escaping of untrusted text, the draft file names, the merge rules, atomic, locked writes to files,
// compare-and-set writes to shared records, and the mirror of shared records in a directory. It
// imports timeline and the standard library (and yaml.v3 to check front matter); it must not import
// Echo, go-redis or any sender's wire format (the Records it writes to are implemented elsewhere,
// by timeline/redisstore), and it never invents facts or actions: what the timeline does not show is
// left to people as a prompt.
package drafts

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"text/template"
	"time"

	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

//go:embed templates/*.tmpl
var templates embed.FS

// Languages are the languages of the embedded templates (--draft-lang).
var Languages = []string{"en", "ja"}

// Input is what a draft is rendered from.
type Input struct {
	Incident timeline.Incident
	// Events are the incident's events; they are ordered by At before rendering.
	Events []timeline.Event
	// Now is the time of rendering. Drafts of resolved incidents do not show it, so every replica
	// renders the same bytes from the same timeline.
	Now time.Time
	// Review is the scheduled review meeting; nil until one is scheduled.
	Review *Review
}

// Review is a scheduled review meeting, as the review scheduler (drafts/review) reports it.
type Review struct {
	Start, End time.Time
	// TimeZone is the IANA zone the meeting was planned in, e.g. "Asia/Tokyo".
	TimeZone string
	// Reason says why this slot was chosen (and why it is past the deadline, when it is).
	Reason string
	// ReasonCode is Reason as a message the draft says in its own language
	// (i18n.Printer.ReviewReason); nil when only the words are known.
	ReasonCode *i18n.Message
	// Waived reports a meeting people decided not to hold; WaiveReason says why.
	Waived      bool
	WaiveReason string
	// Roles are the invited attendees' roles (never their names or addresses).
	Roles []string
}

// Renderer renders drafts with one parsed template. It is safe for concurrent use.
type Renderer struct {
	name string
	tmpl *template.Template
	// p writes what the template is given (facts, roles, dates, durations) in the draft's language.
	p i18n.Printer
}

// NewRenderer parses the embedded template for lang ("en" or "ja"), or, when custom is not empty,
// the user's text/template file at that path instead; facts, roles, dates and durations are given
// to either in lang. It then renders two sample incidents (an
// empty one and one with every kind of event and a review), so a template that would fail on real
// data fails here, at start-up. Errors name the template and, for syntax errors, the line.
func NewRenderer(lang, custom string) (*Renderer, error) {
	var (
		name string
		text []byte
		err  error
	)
	l, err := i18n.Parse(lang)
	if err != nil {
		return nil, fmt.Errorf("draft language %q: want one of %v", lang, Languages)
	}
	if custom != "" {
		name = custom
		if text, err = os.ReadFile(custom); err != nil {
			return nil, fmt.Errorf("draft template: %w", err)
		}
	} else {
		name = lang + ".md.tmpl"
		if text, err = templates.ReadFile("templates/" + name); err != nil {
			return nil, fmt.Errorf("draft template %s: %w", name, err)
		}
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("draft template: %w", err) // text/template says "template: NAME:LINE: ..."
	}
	r := &Renderer{name: name, tmpl: t, p: i18n.For(l)}
	for _, in := range samples() {
		if _, err := r.Render(in); err != nil {
			return nil, fmt.Errorf("draft template %s fails on a sample incident: %w", name, err)
		}
	}
	return r, nil
}

// Render renders the draft for in. It never panics. The output's front matter is valid YAML and
// its machine-owned blocks are sealed (see Merge); a template that produces anything else is an
// error, not a draft.
func (r *Renderer) Render(in Input) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("render draft of incident %q: template %s panicked: %v", in.Incident.ID, r.name, p)
		}
	}()
	var buf bytes.Buffer
	if err := r.tmpl.Execute(&buf, newData(in, r.p)); err != nil {
		return nil, fmt.Errorf("render draft of incident %q: %w", in.Incident.ID, err)
	}
	sealed, err := seal(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("render draft of incident %q: template %s produced a malformed draft: %w", in.Incident.ID, r.name, err)
	}
	return sealed, nil
}
