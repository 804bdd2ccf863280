// Package i18n owns postmortemd's words in each language it speaks: the message catalogues
// (messages/*.yaml, one file per language, loaded with go-i18n), the Japanese and English forms of
// the built-in role phrases, dates and durations as each language's readers write them, and the
// sentence of a timeline fact rendered from its event type and attributes.
//
// It reads timeline's types and the attributes the receiver stores beside each fact; it must not
// import storage, HTTP or a sender's wire format. What senders wrote (alert summaries, label values,
// policy names, people's notes) it inserts as written: only postmortemd's own words are translated.
// The stored English sentence stays the canonical record (the JSON API serves it); the renderings
// here are for readers.
package i18n

import (
	"embed"
	"fmt"
	"strings"
	"time"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"gopkg.in/yaml.v3"
)

// Lang is a language postmortemd writes in.
type Lang string

// The languages with a catalogue.
const (
	English  Lang = "en"
	Japanese Lang = "ja"
)

// Langs are the languages with a catalogue, the default first.
var Langs = []Lang{English, Japanese}

// Parse returns the language named by s ("en", "ja"), or an error that lists the known ones.
func Parse(s string) (Lang, error) {
	for _, l := range Langs {
		if string(l) == s {
			return l, nil
		}
	}
	return "", fmt.Errorf("language %q: want one of %v", s, Langs)
}

//go:embed messages/*.yaml
var messageFiles embed.FS

// catalogue holds every language's messages; it is parsed once from the embedded files (a
// malformed file fails every test of this package, so it cannot reach a release).
var catalogue = mustLoad()

func mustLoad() *goi18n.Bundle {
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	for _, l := range Langs {
		if _, err := b.LoadMessageFileFS(messageFiles, "messages/"+string(l)+".yaml"); err != nil {
			panic(fmt.Sprintf("i18n: catalogue %s: %v", l, err))
		}
	}
	return b
}

// Printer writes postmortemd's words in one language. The zero value writes English. It is safe
// for concurrent use.
type Printer struct {
	lang Lang
	loc  *goi18n.Localizer
}

var printers = func() map[Lang]Printer {
	m := map[Lang]Printer{}
	for _, l := range Langs {
		m[l] = Printer{lang: l, loc: goi18n.NewLocalizer(catalogue, string(l))}
	}
	return m
}()

// For returns the printer for lang; an unknown language gets English.
func For(lang Lang) Printer {
	if p, ok := printers[lang]; ok {
		return p
	}
	return printers[English]
}

// Lang is the printer's language.
func (p Printer) Lang() Lang {
	if p.lang == "" {
		return English
	}
	return p.lang
}

// T returns message id with data (pairs of name and value: "Actor", role, ...). A message missing
// from the language's catalogue falls back to English, and a message missing from every catalogue
// returns its id: a lookup never fails a page or a draft (the catalogue tests keep both from
// happening).
func (p Printer) T(id string, data ...any) string {
	return p.localize(id, nil, data)
}

// N is T for a message whose form depends on count (CLDR plural rules); data gets "Count" too.
func (p Printer) N(id string, count int, data ...any) string {
	return p.localize(id, count, append(data, "Count", count))
}

func (p Printer) localize(id string, count any, data []any) string {
	td := make(map[string]any, len(data)/2)
	for i := 0; i+1 < len(data); i += 2 {
		if k, ok := data[i].(string); ok {
			td[k] = data[i+1]
		}
	}
	s, err := p.localizer().Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: td, PluralCount: count})
	if err != nil && s == "" {
		return id
	}
	return s
}

// Has reports whether the language's own catalogue has message id.
func (p Printer) Has(id string) bool {
	_, tag, err := p.localizer().LocalizeWithTag(&goi18n.LocalizeConfig{MessageID: id, PluralCount: 1})
	return err == nil && tag == language.Make(string(p.Lang()))
}

// localizer is the go-i18n localizer behind the printer.
func (p Printer) localizer() *goi18n.Localizer {
	if p.loc == nil {
		return For(English).loc
	}
	return p.loc
}

// Date writes t's calendar date in t's location: "2026-11-23", "2026年11月23日".
func (p Printer) Date(t time.Time) string {
	return t.Format(p.T("format.date"))
}

// LongDate writes the date with the weekday where the language's readers expect one:
// "2026年11月23日（月）".
func (p Printer) LongDate(t time.Time) string {
	return p.T("format.date_long", "Date", p.Date(t), "Weekday", p.T(fmt.Sprintf("weekday.%d", int(t.Weekday()))))
}

// Clock writes t's time of day in t's location, "15:04:05".
func (p Printer) Clock(t time.Time) string {
	return t.Format(p.T("format.clock"))
}

// DateTime writes t's date and time of day in t's location.
func (p Printer) DateTime(t time.Time) string {
	return p.T("format.datetime", "Date", p.Date(t), "Clock", p.Clock(t))
}

// LongDateTime writes t's date with its weekday and the time of day in t's location.
func (p Printer) LongDateTime(t time.Time) string {
	return p.T("format.datetime", "Date", p.LongDate(t), "Clock", p.Clock(t))
}

// Duration writes d rounded to seconds in the language's units, largest first, leaving out zero
// units: "1h17m49s", "1時間17分49秒", "2d3h"; zero is "0s" ("0秒").
func (p Printer) Duration(d time.Duration) string {
	d = d.Round(time.Second)
	var sb strings.Builder
	if d < 0 {
		sb.WriteByte('-')
		d = -d
	}
	secs := int64(d / time.Second)
	units := []struct {
		id   string
		size int64
	}{{"duration.days", 86400}, {"duration.hours", 3600}, {"duration.minutes", 60}, {"duration.seconds", 1}}
	wrote := false
	for _, u := range units {
		n := secs / u.size
		secs -= n * u.size
		if n > 0 || (u.size == 1 && !wrote) {
			sb.WriteString(p.T(u.id, "N", n))
			wrote = true
		}
	}
	return sb.String()
}

// Span is Duration without days, as people state lead times and deadlines: "24h", "24時間".
func (p Printer) Span(d time.Duration) string {
	if d >= 24*time.Hour {
		h := d / time.Hour
		rest := d - h*time.Hour
		s := p.T("duration.hours", "N", int64(h))
		if rest >= time.Second {
			s += p.Duration(rest)
		}
		return s
	}
	return p.Duration(d)
}

// List joins items as the language joins a list of roles: "a and b", "a、b".
func (p Printer) List(items []string) string {
	return strings.Join(items, p.T("list.and"))
}

// Match picks the language for a reader: pinned when it is one of Langs, else the best of the
// Accept-Language header among Langs, else English.
func Match(acceptLanguage string, pinned Lang) Lang {
	if _, err := Parse(string(pinned)); err == nil {
		return pinned
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return English
	}
	supported := make([]language.Tag, len(Langs))
	for i, l := range Langs {
		supported[i] = language.Make(string(l))
	}
	_, idx, conf := language.NewMatcher(supported).Match(tags...)
	if conf == language.No {
		return English
	}
	return Langs[idx]
}
