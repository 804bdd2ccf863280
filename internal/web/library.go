package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/feeds"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// LibraryOptions configures the reading list (/library) and the Atom feeds (/postmortems.atom,
// /library.atom). They read the postmortems of PostmortemOptions.Library and are left out without it.
type LibraryOptions struct {
	// BaseURL is postmortemd's external URL ("https://postmortemd.example.com"), for the feeds'
	// absolute links and ids. Empty: the request's scheme and host.
	BaseURL string
	// FeedLimit, when above 0, bounds the entries of /postmortems.atom to the newest ones. Default 0:
	// every reviewed or published postmortem, as subscribers expect of the archive.
	FeedLimit int
	// Now dates an empty feed. Default time.Now.
	Now func() time.Time
	// Lang is the language of the feeds' own words (titles, subtitles, entry labels): the team's
	// --draft-lang, as feed readers seldom say which language their reader wants. Empty: the
	// request's language, as the pages pick it (--ui-lang, else Accept-Language).
	Lang i18n.Lang
}

// feedStatuses are the statuses a postmortem has once its review is done: /postmortems.atom lists
// only these, so subscribers do not get drafts people are still writing.
var feedStatuses = []string{"reviewed", "published"}

// The library's pages are parsed with the layout at start-up, as the others are.
func init() {
	for lang, pages := range mustParsePages("library", "insights") {
		maps.Copy(pageTemplates[lang], pages)
	}
}

// library serves the reading list and the feeds.
type library struct {
	s          *Server
	o          LibraryOptions
	unreadable *prometheus.CounterVec

	mu       sync.Mutex
	synopses map[string]cachedSynopsis // by postmortem id, while its file is unchanged
}

type cachedSynopsis struct {
	file     string
	modified time.Time
	html     template.HTML
}

// newUnreadableCounter counts the postmortems a view listing many could not read in full; the view
// shows the rest.
func newUnreadableCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postmortemd_postmortems_unreadable_total",
		Help: "Postmortems a reading list, feed or insights view could not read in full (it listed the others), by view.",
	}, []string{"view"})
	reg.MustRegister(c)
	return c
}

// libraryRoutes registers the reading list and the feeds.
func (s *Server) libraryRoutes(e *echo.Echo, unreadable *prometheus.CounterVec) {
	if s.opts.Postmortems.Library == nil {
		return
	}
	l := &library{s: s, o: s.opts.Library, unreadable: unreadable, synopses: map[string]cachedSynopsis{}}
	if l.o.Now == nil {
		l.o.Now = time.Now
	}
	e.GET("/library", l.page)
	e.GET("/postmortems.atom", l.postmortemsFeed)
	e.HEAD("/postmortems.atom", l.postmortemsFeed)
	e.GET("/library.atom", l.libraryFeed)
	e.HEAD("/library.atom", l.libraryFeed)
}

// reading is one postmortem of the reading list or a feed, with what its document says.
type reading struct {
	drafts.Summary
	// Synopsis is section 2's "In a few sentences", rendered and sanitised; "" when not written.
	Synopsis template.HTML
	// Unreadable says why the document could not be read; the entry shows its front matter only.
	Unreadable string
}

// readings reads each listed postmortem's document for its synopsis. A document that cannot be read
// is logged and counted, and keeps its place with what the listing knew: one bad file never hides
// the others.
func (l *library) readings(sums []drafts.Summary, view string) []reading {
	out := make([]reading, 0, len(sums))
	claims := make(map[string]int, len(sums))
	for _, sum := range sums {
		claims[sum.ID]++
	}
	for _, sum := range sums {
		r := reading{Summary: sum}
		var err error
		// Files copied by hand claim one id: Get says which, so no cached summary hides it.
		r.Synopsis, err = l.synopsis(sum, claims[sum.ID] > 1)
		if err != nil {
			l.s.log.Warn("a postmortem could not be read; it is listed without its summary", "view", view, "postmortem", sum.ID, "err", err)
			l.unreadable.WithLabelValues(view).Inc()
			r.Unreadable = "its document could not be read"
			if errors.Is(err, timeline.ErrConflict) || errors.Is(err, timeline.ErrNotFound) {
				r.Unreadable = err.Error() // says which files to fix
			}
		}
		out = append(out, r)
	}
	return out
}

// synopsis returns a postmortem's rendered summary, reading its document only when the file changed
// since the last time (always when fresh).
func (l *library) synopsis(sum drafts.Summary, fresh bool) (template.HTML, error) {
	l.mu.Lock()
	c, ok := l.synopses[sum.ID]
	l.mu.Unlock()
	if ok && !fresh && c.file == sum.File && c.modified.Equal(sum.Modified) {
		return c.html, nil
	}
	doc, err := l.s.opts.Postmortems.Library.Get(sum.ID)
	if err != nil {
		return "", err
	}
	html, err := renderSynopsis(drafts.Synopsis(doc.Content))
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	if len(l.synopses) > maxCachedSynopses {
		clear(l.synopses) // removed postmortems do not pile up; the next views read again
	}
	l.synopses[sum.ID] = cachedSynopsis{file: sum.File, modified: sum.Modified, html: html}
	l.mu.Unlock()
	return html, nil
}

// maxCachedSynopses bounds the cache of rendered summaries.
const maxCachedSynopses = 10000

// renderSynopsis renders people's Markdown as sanitised HTML, as the postmortem page does.
func renderSynopsis(md string) (template.HTML, error) {
	if md == "" {
		return "", nil
	}
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(md), &buf); err != nil {
		return "", fmt.Errorf("render summary: %w", err)
	}
	return template.HTML(sanitizer.SanitizeBytes(buf.Bytes())), nil // #nosec G203 -- sanitised just now
}

// libraryPage is GET /library.
type libraryPage struct {
	Title string
	Items []reading
}

// page is the reading list: the recommended postmortems, newest incident first, each with why it is
// recommended, its summary and its services.
func (l *library) page(c echo.Context) error {
	yes := true
	sums, err := l.s.opts.Postmortems.Library.List(drafts.Query{Recommended: &yes})
	if err != nil {
		return fmt.Errorf("list recommended postmortems: %w", err)
	}
	items := l.readings(sums, "library")
	return l.s.pages.render(c, "library", libraryPage{Title: i18n.For(l.s.pages.lang(c.Request())).T("ui.library"), Items: items}, 8<<10+len(items)*2<<10)
}

func (l *library) postmortemsFeed(c echo.Context) error {
	all, err := l.s.opts.Postmortems.Library.List(drafts.Query{})
	if err != nil {
		return fmt.Errorf("list postmortems: %w", err)
	}
	var sums []drafts.Summary
	for _, s := range all {
		if slices.Contains(feedStatuses, strings.ToLower(s.Status)) && (l.o.FeedLimit <= 0 || len(sums) < l.o.FeedLimit) {
			sums = append(sums, s)
		}
	}
	return l.feed(c, "/postmortems.atom", "feed.postmortems", "feed.postmortems_subtitle", sums, "postmortems_feed")
}

func (l *library) libraryFeed(c echo.Context) error {
	yes := true
	sums, err := l.s.opts.Postmortems.Library.List(drafts.Query{Recommended: &yes})
	if err != nil {
		return fmt.Errorf("list recommended postmortems: %w", err)
	}
	return l.feed(c, "/library.atom", "ui.library_feed", "feed.library_subtitle", sums, "library_feed")
}

// baseURL is where the feeds' links point: the configured external URL, else the request's own.
func (l *library) baseURL(c echo.Context) string {
	if l.o.BaseURL != "" {
		return strings.TrimSuffix(l.o.BaseURL, "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}

// feedLang is the language of a feed's own words for this request (see LibraryOptions.Lang).
func (l *library) feedLang(c echo.Context) i18n.Lang {
	if l.o.Lang != "" {
		return l.o.Lang
	}
	return l.s.pages.lang(c.Request())
}

// feed writes an Atom 1.0 feed of sums, titled and subtitled by the messages title and subtitle.
// Each entry's id is the postmortem's page URL (it never changes); updated is the file's
// modification time, so an edit reaches subscribers.
func (l *library) feed(c echo.Context, path, title, subtitle string, sums []drafts.Summary, view string) error {
	base := l.baseURL(c)
	p := i18n.For(l.feedLang(c))
	f := &feeds.Feed{Title: "postmortemd: " + p.T(title), Description: p.T(subtitle), Author: &feeds.Author{Name: "postmortemd"}}
	var updated time.Time
	items := l.readings(sums, view)
	for _, r := range items {
		link := base + "/postmortems/" + url.PathEscape(r.ID)
		it := &feeds.Item{Title: r.Title, Link: &feeds.Link{Href: link, Type: "text/html"}, Id: link,
			Updated: r.Modified, Content: entryHTML(p, r)}
		if it.Title == "" {
			it.Title = r.ID
		}
		if r.Modified.After(updated) {
			updated = r.Modified
		}
		f.Items = append(f.Items, it)
	}
	if updated.IsZero() {
		updated = l.o.Now().UTC().Truncate(time.Second)
	}
	f.Updated = updated
	atom := (&feeds.Atom{Feed: f}).AtomFeed()
	atom.Id = base + path
	atom.Link = &feeds.AtomLink{Href: base + path, Rel: "self", Type: "application/atom+xml"}
	for i, r := range items {
		if r.Started != nil {
			atom.Entries[i].Published = r.Started.UTC().Format(time.RFC3339)
		}
	}
	var buf bytes.Buffer
	if err := feeds.WriteXML(atom, &buf); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	if l.o.Lang == "" && l.s.pages.o.Lang == "" {
		h.Add("Vary", "Accept-Language")
	}
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && etagListHas(inm, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	if c.Request().Method == http.MethodHead {
		h.Set("Content-Type", "application/atom+xml; charset=utf-8")
		return c.NoContent(http.StatusOK)
	}
	return c.Blob(http.StatusOK, "application/atom+xml; charset=utf-8", buf.Bytes())
}

// entryTemplate is a feed entry's HTML content: why it is recommended, its summary, its attributes,
// in the words of langFuncs (t, word, list).
var entryTemplate = template.Must(template.New("entry").Funcs(langFuncs(i18n.For(i18n.English))).Parse(`
{{- with .RecommendedReason}}<p><strong>{{t "ui.why_read"}}</strong> {{.}}</p>{{end}}
{{- if .Synopsis}}{{.Synopsis}}{{else}}<p><em>{{t "feed.no_summary"}}</em></p>{{end}}
<ul>
<li>{{t "ui.status_colon"}} {{word "pmstatus." .Status}}</li>
{{- if .Services}}<li>{{t "ui.services_colon"}} {{list .Services}}</li>{{end}}
{{- if or .Severity .Priority}}<li>{{t "ui.severity_colon"}} {{.Severity}}{{if and .Severity .Priority}} / {{end}}{{.Priority}}</li>{{end}}
{{- with .Started}}<li>{{t "feed.started_colon"}} {{.UTC.Format "2006-01-02 15:04 UTC"}}</li>{{end}}
</ul>`))

// entryTemplates are entryTemplate in each language.
var entryTemplates = func() map[i18n.Lang]*template.Template {
	m := map[i18n.Lang]*template.Template{}
	for _, l := range i18n.Langs {
		m[l] = template.Must(entryTemplate.Clone()).Funcs(langFuncs(i18n.For(l)))
	}
	return m
}()

func entryHTML(p i18n.Printer, r reading) string {
	tmpl := entryTemplates[p.Lang()]
	if tmpl == nil {
		tmpl = entryTemplate
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, r); err != nil {
		return "" // the entry keeps its title and link
	}
	return buf.String()
}
