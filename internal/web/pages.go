package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"html/template"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"gopkg.in/yaml.v3"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/actions"
	"github.com/postmortemd/postmortemd/drafts/insights"
	"github.com/postmortemd/postmortemd/drafts/lint"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// PageOptions configures the browser pages and the live event stream (issue #6).
type PageOptions struct {
	// CSRFToken returns the token the note form carries in its hidden csrf_token field (the notes
	// handler checks it); nil leaves the field out.
	CSRFToken func(c echo.Context) string
	// Review returns an incident's review meeting, or nil and no error (or an error wrapping
	// timeline.ErrNotFound) when there is none. Nil reads ReviewOptions.Reviews, if set.
	Review func(ctx context.Context, incidentID string) (*ReviewLink, error)
	// Now is the clock the incident list measures ages with. Default time.Now.
	Now func() time.Time
	// Lang pins the pages' language (--ui-lang); "" follows each browser's Accept-Language.
	Lang i18n.Lang
	// PollInterval is how often one shared poll per watched incident reads the store for the event
	// stream. Default 1s.
	PollInterval time.Duration
	// ListRefresh is how often an open incident list reloads itself, showing new incidents and
	// status changes. Default 5s.
	ListRefresh time.Duration
	// Heartbeat is how often an idle event stream sends a comment, so proxies keep it open.
	// Default 15s.
	Heartbeat time.Duration
	// Retry is the reconnection delay the event stream asks browsers to wait. Default 2s.
	Retry time.Duration
	// Shutdown, once closed, ends every open event stream: http.Server.Shutdown waits for
	// connections to go idle, which a stream never does. Wire it to http.Server.RegisterOnShutdown.
	Shutdown <-chan struct{}
	// MaxStreams bounds the event streams open at once in this process; one more gets 503 with
	// Retry-After, so a flood of connections cannot exhaust goroutines and file descriptors.
	// Default DefaultMaxStreams.
	MaxStreams int
}

// DefaultMaxStreams is PageOptions.MaxStreams when unset.
const DefaultMaxStreams = 2000

// ReviewLink is what an incident page shows of the incident's review meeting.
type ReviewLink struct {
	// Start is when the meeting begins.
	Start time.Time
	// End is when it ends; zero if unknown.
	End time.Time
	// Status is scheduled, cancelled or waived; "" if unknown.
	Status string
}

const (
	pageOpenLimit   = 200 // unresolved incidents on /incidents
	pageRecentLimit = 50  // resolved incidents on /incidents
	assetsPrefix    = "/assets/"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/*
var assetFS embed.FS

// staticAsset is one embedded file, served with a content hash as its ETag and version.
type staticAsset struct {
	body  []byte
	ctype string
	etag  string
}

// assets are the embedded CSS and JavaScript by file name, read once.
var assets = mustLoadAssets()

func mustLoadAssets() map[string]staticAsset {
	out := map[string]staticAsset{}
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[path.Base(p)] = staticAsset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("web: embedded assets: %v", err)) // only a broken build gets here
	}
	return out
}

// assetURL names an embedded asset with its content hash, so it can be cached for a year and a new
// build still reaches browsers at once.
func assetURL(name string) (string, error) {
	a, ok := assets[name]
	if !ok {
		return "", fmt.Errorf("no embedded asset %q", name)
	}
	return assetsPrefix + name + "?v=" + strings.Trim(a.etag, `"`), nil
}

var pageFuncs = template.FuncMap{
	"asset": assetURL,
	"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join":  strings.Join,
	// findingText is editor.go's one sentence for a lint finding.
	"findingText": findingText,
}

// pageTemplates holds each page parsed together with the layout, at start-up, once per language:
// the language's words come from its catalogue (internal/i18n) through the functions t, status,
// role and utc.
var pageTemplates = mustParsePages("incidents", "incident", "postmortems", "postmortem", "error", "editor", "review")

func mustParsePages(names ...string) map[i18n.Lang]map[string]*template.Template {
	all := make(map[i18n.Lang]map[string]*template.Template, len(i18n.Langs))
	for _, l := range i18n.Langs {
		out := make(map[string]*template.Template, len(names))
		for _, n := range names {
			t, err := template.New("layout.html").Funcs(pageFuncs).Funcs(langFuncs(i18n.For(l))).
				ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+n+".html")
			if err != nil {
				panic(fmt.Sprintf("web: page template %s: %v", n, err)) // only a broken build gets here
			}
			out[n] = t
		}
		all[l] = out
	}
	return all
}

// langFuncs are the template functions that write in p's language.
func langFuncs(p i18n.Printer) template.FuncMap {
	return template.FuncMap{
		"lang":        func() string { return string(p.Lang()) },
		"t":           func(id string, data ...any) string { return p.T(id, data...) },
		"n":           func(id string, count int, data ...any) string { return p.N(id, count, data...) },
		"dur":         func(s string) string { return pageDuration(p, s) },
		"span":        p.Span,
		"word":        func(prefix, s string) string { return pageWord(p, prefix, s) },
		"list":        func(items []string) string { return strings.Join(items, p.T("list.comma")) },
		"status":      func(s timeline.Status) string { return p.T("status." + string(s)) },
		"role":        p.Role,
		"rolename":    func(r string) string { return p.Role(timeline.Role(r)) },
		"utc":         func(t time.Time) string { return p.T("ui.time", "DateTime", p.DateTime(t.UTC())) },
		"words":       func() string { return pageScriptWords(p) },
		"editorwords": func() string { return editorScriptWords(p) },
		"day":         func(s string) string { return pageDay(p, s) },
		// actionproblems says an action item's problems in p's language, joined.
		"actionproblems": func(ps []string) string { return actionProblems(p, ps) },
		// insightproblem says an insights problem in p's language.
		"insightproblem": func(pr insights.Problem) string { return insightProblem(p, pr) },
		// lintmsg and lintsugg are a finding's message and suggestion: postmortemd's own rules in
		// p's language, configured rules' words as their authors wrote them (ownFinding).
		"lintmsg": func(rule, message string) string {
			m, _ := ownFinding(p, rule, message, "")
			return m
		},
		"lintsugg": func(rule, message, suggestion string) string {
			_, sg := ownFinding(p, rule, message, suggestion)
			return sg
		},
	}
}

// pageScriptWords are the words the page's script writes (live state, statuses), as JSON for a
// data attribute.
func pageScriptWords(p i18n.Printer) string {
	w := map[string]string{"list_live": p.T("ui.list_live"), "list_retry": p.T("ui.list_retry"), "live": p.T("ui.live_on"), "live_resolved": p.T("ui.live_resolved"), "reconnecting": p.T("ui.reconnecting"), "not_yet": p.T("ui.not_yet"),
		"row_flagged": p.T("ui.row_flagged"), "row_instead": p.T("ui.instead"), "row_source": p.T("ui.row_source")}
	for _, st := range []timeline.Status{timeline.StatusOpen, timeline.StatusAcknowledged, timeline.StatusResolved} {
		w["status."+string(st)] = p.T("status." + string(st))
	}
	maps.Copy(w, ownFindingWords(p))
	b, _ := json.Marshal(w)
	return string(b)
}

// ownFindingWords are ownFinding's words for the scripts' ownFinding (app.js): the English words
// postmortemd's name rules store, and the reader's, with {role} for the role a suggestion names.
// English readers get none: the stored words are theirs.
func ownFindingWords(p i18n.Printer) map[string]string {
	if p.Lang() == i18n.English {
		return nil
	}
	return map[string]string{
		"lint.person-name.en": lint.PersonNameMessage, "lint.person-name": p.T("lint.person-name"),
		"lint.person-name.suggestion.en": lint.PersonNameSuggestion,
		"lint.person-name.suggestion":    p.T("lint.suggestion.person-name", "Role", "{role}"),
		"lint.email-address.en":          lint.EmailAddressMessage, "lint.email-address": p.T("lint.email-address"),
		"lint.email-address.suggestion.en": lint.EmailAddressSuggestion,
		"lint.email-address.suggestion":    p.T("lint.suggestion.email-address"),
	}
}

// editorScriptWords are the words the editor's script writes, as JSON for a data attribute; {n}
// and {reason} stand for what the script fills in.
func editorScriptWords(p i18n.Printer) string {
	w := map[string]string{
		"no_findings": p.T("ui.no_wording_flagged"), "where": p.T("ui.finding_where", "Line", "{n}"),
		"where_quoted": p.T("ui.finding_where", "Line", "{n}", "Quoted", true), "instead": p.T("ui.instead"),
		"names_one": p.T("ui.names_pending_one"), "names_many": p.T("ui.names_pending_many", "N", "{n}"),
		"not_saved": p.T("ui.not_saved", "Reason", "{reason}"), "fix_first": p.T("ui.fix_problems_first"),
		"saved": p.T("ui.saved"), "saved_one": p.T("ui.saved_names_one"), "saved_many": p.T("ui.saved_names_many", "N", "{n}"),
		"answered":        p.T("ui.not_saved", "Reason", p.T("ui.server_answered", "Status", "{n}")),
		"unreachable":     p.T("ui.not_saved", "Reason", p.T("ui.server_unreachable")),
		"conflict_marked": p.T("ui.edit_conflict_marked", "Count", "{n}", "Start", drafts.ConflictStart, "End", drafts.ConflictEnd),
		"conflict_clean":  p.T("ui.edit_conflict_clean"), "your_text": p.T("ui.your_text"), "your_text_aria": p.T("ui.your_text_aria"),
		"conflict_hint": p.T("ui.conflict_hint"), "conflict_hint_marked": p.T("ui.conflict_hint_marked", "Count", "{n}"),
	}
	maps.Copy(w, ownFindingWords(p))
	b, _ := json.Marshal(w)
	return string(b)
}

// lang is the language a page is written in for r: the pinned --ui-lang, else the best of the
// browser's Accept-Language.
func (p *pages) lang(r *http.Request) i18n.Lang {
	return i18n.Match(r.Header.Get("Accept-Language"), p.o.Lang)
}

// pageRoutes registers the browser pages and the live event stream (issue #6).
func (s *Server) pageRoutes(e *echo.Echo, api *echo.Group) {
	p := &pages{s: s, o: s.opts.Pages}
	if p.o.Now == nil {
		p.o.Now = time.Now
	}
	if p.o.Review == nil && s.opts.Review.Reviews != nil {
		p.o.Review = func(ctx context.Context, id string) (*ReviewLink, error) {
			info, err := s.opts.Review.Reviews.ReviewInfo(ctx, id)
			if err != nil {
				return nil, err
			}
			return &ReviewLink{Start: info.Start, End: info.End, Status: info.Status}, nil
		}
	}
	if p.o.ListRefresh <= 0 {
		p.o.ListRefresh = 5 * time.Second
	}
	if p.o.MaxStreams <= 0 {
		p.o.MaxStreams = DefaultMaxStreams
	}
	p.streams = make(chan struct{}, p.o.MaxStreams)
	p.hub = newStreamHub(s, p.o)
	s.pages = p
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/incidents") })
	e.GET("/incidents", p.incidents)
	e.GET("/incidents/:id", p.incident)
	e.GET("/postmortems", p.postmortems)
	e.GET("/postmortems/:id", p.postmortem)
	p.editorRoutes(e)
	p.reviewPageRoutes(e)
	e.GET(assetsPrefix+":name", p.asset)
	e.HEAD(assetsPrefix+":name", p.asset)
	api.GET("/incidents/:id/events", p.events)
}

// pages serves the HTML pages and the event stream.
type pages struct {
	s     *Server
	o     PageOptions
	hub   *streamHub
	roles roleCache // the incident list's roles column
	rows  rowCache  // decoded event rows of the incident pages
	// streams holds a token per open event stream (PageOptions.MaxStreams).
	streams chan struct{}
}

// render executes a page into a buffer first, so a template error becomes a clean 500 rather than a
// half-written page.
func (p *pages) render(c echo.Context, name string, data any, size int) error {
	return p.renderStatus(c, http.StatusOK, name, data, size)
}

// renderStatus is render with another status than 200.
func (p *pages) renderStatus(c echo.Context, code int, name string, data any, size int) error {
	var buf bytes.Buffer
	buf.Grow(size)
	lang := p.lang(c.Request())
	if err := pageTemplates[lang][name].Execute(&buf, data); err != nil {
		return fmt.Errorf("render %s page: %w", name, err)
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	if p.o.Lang == "" {
		h.Add("Vary", "Accept-Language")
	}
	if buf.Len() >= gzipMinBytes && acceptsGzip(c.Request()) {
		var z bytes.Buffer
		z.Grow(buf.Len() / 4)
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		if _, err := zw.Write(buf.Bytes()); err == nil && zw.Close() == nil {
			h.Set("Content-Encoding", "gzip")
			return c.Blob(code, echo.MIMETextHTMLCharsetUTF8, z.Bytes())
		}
	}
	return c.HTMLBlob(code, buf.Bytes())
}

// errorPage is what a browser sees instead of a JSON error on a page route.
type errorPage struct {
	Title   string
	Status  int
	Message string
	// Technical is the API's English detail, shown folded under Message when Message is a
	// generic sentence in another language and the detail says what to correct.
	Technical string
	// SignIn shows the sign-in form (reading needs a token); Next is where it returns to.
	SignIn bool
	Next   string
}

// wantsPage reports whether a failed request came from a browser asking for a page rather than from
// an API client: a GET or HEAD of a page path with text/html acceptable.
func wantsPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	for _, prefix := range []string{"/api/", "/webhook/", "/-/", "/metrics", assetsPrefix} {
		if strings.HasPrefix(p, prefix) {
			return false
		}
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// errorHTML answers a page request's error as a page; false when it is not a page request.
func (p *pages) errorHTML(c echo.Context, code int, msg string, err error) bool {
	r := c.Request()
	if p == nil || !wantsPage(r) {
		return false
	}
	pr := i18n.For(p.lang(r))
	data := errorPage{Title: http.StatusText(code), Status: code, Message: msg}
	if pr.Lang() != i18n.English {
		data.Message, data.Technical = errorDetail(pr, code, msg, err)
	}
	if id := "http." + strconv.Itoa(code); pr.Has(id) {
		data.Title = pr.T(id)
	}
	if code == http.StatusUnauthorized {
		data.Title, data.SignIn, data.Next = pr.T("ui.signin"), true, r.URL.RequestURI()
	}
	if err := p.renderStatus(c, code, "error", data, 4<<10); err != nil {
		return false
	}
	return true
}

// errorDetail says why a page request failed in p's language: the reason itself when the error
// carries one (i18n.Reason), else a sentence for the status, with the API's English detail beside
// it when that detail says what to correct (a bad value) rather than what happened (not found,
// unavailable, an internal error).
func errorDetail(p i18n.Printer, code int, msg string, err error) (detail, technical string) {
	if r, ok := i18n.ReasonOf(err); ok {
		return p.Say(r.Message), ""
	}
	detail = p.T("http.detail.other")
	if id := "http.detail." + strconv.Itoa(code); p.Has(id) {
		detail = p.T(id)
	}
	switch code {
	case http.StatusBadRequest, http.StatusConflict, http.StatusPreconditionFailed, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		technical = msg
	}
	return detail, technical
}

// gzipMinBytes is the page size from which pages are sent compressed: a long timeline's page is
// mostly repeated markup and shrinks tenfold, which matters on a phone.
const gzipMinBytes = 32 << 10

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func (p *pages) asset(c echo.Context) error {
	a, ok := assets[c.Param("name")]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such asset")
	}
	h := c.Response().Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if c.QueryParam("v") == strings.Trim(a.etag, `"`) {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(a.body))
	return nil
}

// incidentRow is one line of the incident list.
type incidentRow struct {
	timeline.Incident
	Age string
	// Roles are the roles the systems reported on the incident's timeline (not notes' typed roles).
	Roles []timeline.Role
}

// roleCache keeps each listed incident's roles while its record is unchanged, so the list reads a
// timeline only when it changed since the last view.
type roleCache struct {
	mu sync.Mutex
	m  map[string]cachedRoles
}

type cachedRoles struct {
	updated time.Time
	count   int64
	roles   []timeline.Role
}

// rolesOf returns the roles the systems reported on inc's timeline (notes' roles left out).
func (p *pages) rolesOf(ctx context.Context, inc timeline.Incident) ([]timeline.Role, error) {
	p.roles.mu.Lock()
	c, ok := p.roles.m[inc.ID]
	p.roles.mu.Unlock()
	if ok && c.updated.Equal(inc.UpdatedAt) && c.count == inc.EventCount {
		return c.roles, nil
	}
	entries, err := p.s.store.Entries(ctx, inc.ID)
	if err != nil {
		return nil, err
	}
	reported := roleSet{}
	for _, e := range entries {
		var ev struct {
			Role timeline.Role `json:"role"`
			Kind timeline.Kind `json:"kind"`
		}
		if json.Unmarshal(e.JSON, &ev) == nil {
			reported.add(ev.Role, ev.Kind)
		}
	}
	roles := reported.sorted()
	p.roles.mu.Lock()
	if p.roles.m == nil {
		p.roles.m = map[string]cachedRoles{}
	}
	p.roles.m[inc.ID] = cachedRoles{updated: inc.UpdatedAt, count: inc.EventCount, roles: roles}
	p.roles.mu.Unlock()
	return roles, nil
}

// roleSet collects the roles the systems reported on a timeline, for the incident list and the
// incident page alike.
type roleSet map[timeline.Role]bool

// add adds an event's role if a system reported it: a note's role is whatever someone typed, and
// must not be listed or suggested to everyone else.
func (s roleSet) add(role timeline.Role, kind timeline.Kind) {
	if role != "" && kind != timeline.KindContext {
		s[role] = true
	}
}

// sorted returns the roles in order, nil if there are none.
func (s roleSet) sorted() []timeline.Role {
	return slices.Sorted(maps.Keys(s))
}

// forgetRolesExcept drops the cached roles of incidents no longer listed.
func (p *pages) forgetRolesExcept(listed map[string]bool) {
	p.roles.mu.Lock()
	defer p.roles.mu.Unlock()
	for id := range p.roles.m {
		if !listed[id] {
			delete(p.roles.m, id)
		}
	}
}

type incidentsPage struct {
	Title  string
	Open   []incidentRow
	Recent []incidentRow
	// RefreshMillis is how often the page's script reloads the lists.
	RefreshMillis int64
}

func (p *pages) incidents(c echo.Context) error {
	ctx, cancel := p.s.storeCtx(c)
	defer cancel()
	open, err := p.s.store.Incidents(ctx, timeline.ListOptions{Status: timeline.StatusOpen, Limit: pageOpenLimit})
	if err != nil {
		return fmt.Errorf("list open incidents: %w", err)
	}
	recent, err := p.s.store.Incidents(ctx, timeline.ListOptions{Status: timeline.StatusResolved, Limit: pageRecentLimit})
	if err != nil {
		return fmt.Errorf("list resolved incidents: %w", err)
	}
	now := p.o.Now()
	pr := i18n.For(p.lang(c.Request()))
	listed := map[string]bool{}
	rows := func(incs []timeline.Incident) []incidentRow {
		out := make([]incidentRow, len(incs))
		for i, inc := range incs {
			listed[inc.ID] = true
			out[i] = incidentRow{Incident: inc, Age: age(pr, now.Sub(inc.StartedAt))}
			roles, err := p.rolesOf(ctx, inc)
			if err != nil {
				// The list is still worth showing; the incident's own page will say what failed.
				p.s.log.Warn("cannot read an incident's roles for the list", "incident_id", inc.ID, "err", err)
				continue
			}
			out[i].Roles = roles
		}
		return out
	}
	defer p.forgetRolesExcept(listed)
	return p.render(c, "incidents", incidentsPage{Title: pr.T("ui.incidents"), Open: rows(open), Recent: rows(recent),
		RefreshMillis: p.o.ListRefresh.Milliseconds()}, 64<<10)
}

// age says how long ago something started, in the two largest units, in p's language.
func age(p i18n.Printer, d time.Duration) string {
	if d < time.Minute {
		return p.T("ui.just_now")
	}
	days, hours, mins := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60
	switch {
	case days > 0:
		return p.T("ui.age_days", "Days", days, "Hours", hours)
	case hours > 0:
		return p.T("ui.age_hours", "Hours", hours, "Minutes", mins)
	}
	return p.T("ui.age_minutes", "Minutes", mins)
}

// eventRow is one event as the incident page shows it. Every string is untrusted (writeEventRows
// escapes it); times are formatted once here, not by template functions per row.
type eventRow struct {
	Cursor   string
	ID       string
	AtISO    string
	AtUTC    string
	AtMillis int64
	Source   timeline.Source
	Type     timeline.Type
	Role     timeline.Role
	Fact     string
	Summary  string
	Link     string
	// Flags are the blameless guardrail's findings on a note, shown with it.
	Flags []noteFlag
}

// noteFlag is one guardrail finding as a note's attributes carry it (a lint.Finding); Rule is
// empty in flags stored before findings carried their rule id.
type noteFlag struct {
	Rule       string `json:"rule"`
	Match      string `json:"match"`
	Message    string `json:"message"`
	Suggestion string `json:"suggestion"`
}

// pageEvent is what the page decodes of a stored event, in one pass.
type pageEvent struct {
	ID         string          `json:"id"`
	At         time.Time       `json:"at"`
	Source     timeline.Source `json:"source"`
	Type       timeline.Type   `json:"type"`
	Kind       timeline.Kind   `json:"kind"`
	Role       timeline.Role   `json:"role"`
	Fact       string          `json:"fact"`
	Attributes struct {
		Annotations struct {
			Summary     string `json:"summary"`
			Description string `json:"description"`
		} `json:"annotations"`
		GeneratorURL string     `json:"generator_url"`
		HTMLURL      string     `json:"html_url"`
		Flags        []noteFlag `json:"flags"`
	} `json:"attributes"`
}

type sourceLink struct {
	Name, URL string
}

type incidentPage struct {
	Title    string
	Incident timeline.Incident
	// Facts and Context are the rendered event lists (see writeEventRows).
	Facts, Context template.HTML
	HasContext     bool
	Roles          []timeline.Role
	LastCursor     string
	Sources        []sourceLink
	Draft          *draftLink
	Review         *ReviewLink
	CSRFToken      string
	HasCSRF        bool
	// CanWrite is false when notes need a token this browser has not signed in with: the page
	// shows the sign-in form instead of the note form.
	CanWrite bool
	// NotesOn is false when the server takes no notes (no NoteOptions.Annotator).
	NotesOn bool
	// MaxRole and MaxText are the note form's limits, the notes handler's.
	MaxRole, MaxText int
	IdempotencyKey   string
	StreamURL        string
	Now              time.Time
}

type draftLink struct {
	URL, Status string
}

func (p *pages) incident(c echo.Context) error {
	id := c.Param("id")
	ctx, cancel := p.s.storeCtx(c)
	defer cancel()
	inc, err := p.s.store.Incident(ctx, id)
	if err != nil {
		return err
	}
	entries, err := p.s.store.Entries(ctx, id)
	if err != nil {
		return err
	}
	data := incidentPage{Title: inc.Title, Incident: inc, LastCursor: "0-0",
		MaxRole: MaxNoteRoleChars, MaxText: MaxNoteTextChars,
		StreamURL: "/api/v1/incidents/" + url.PathEscape(inc.ID) + "/events"}
	if data.Title == "" {
		data.Title = inc.ID
	}
	for _, e := range entries {
		if cursorAfter(e.Cursor, data.LastCursor) {
			data.LastCursor = e.Cursor
		}
	}
	timeline.SortEntries(entries)
	pr := i18n.For(p.lang(c.Request()))
	words := readerWords(pr, entries)
	roles := roleSet{}
	var facts, context []eventRow
	for i, d := range p.rows.decode(id, entries) {
		row, kind, err := d.row, d.kind, d.err
		if err != nil {
			p.s.log.Warn("incident page: undecodable event skipped", "incident_id", id, "err", err)
			continue
		}
		roles.add(row.Role, kind) // the note form suggests the canonical roles
		if words != nil {
			row.Fact, row.Role = words[i].fact, timeline.Role(words[i].role)
		}
		if kind == timeline.KindContext {
			context = append(context, row)
		} else {
			facts = append(facts, row)
		}
	}
	rw := eventRowWords(pr)
	data.Facts, data.Context, data.HasContext = writeEventRows(facts, rw), writeEventRows(context, rw), len(context) > 0
	data.Roles = roles.sorted()
	for _, k := range []struct{ key, name string }{
		{timeline.SourceKeyAlertmanagerExternal, "Alertmanager"},
		{timeline.SourceKeyPagerDutyIncidentHTML, i18n.For(p.lang(c.Request())).T("ui.pagerduty_incident")},
	} {
		if u := webURL(inc.Sources[k.key]); u != "" {
			data.Sources = append(data.Sources, sourceLink{Name: k.name, URL: u})
		}
	}
	if lib := p.s.opts.Postmortems.Library; lib != nil {
		doc, err := lib.Get(inc.ID)
		switch {
		case err == nil:
			data.Draft = &draftLink{URL: "/postmortems/" + url.PathEscape(inc.ID), Status: doc.Status}
		case !errors.Is(err, timeline.ErrNotFound):
			p.s.log.Warn("incident page: draft lookup failed", "incident_id", inc.ID, "err", err)
		}
	}
	if p.o.Review != nil {
		rv, err := p.o.Review(ctx, inc.ID)
		if err != nil && !errors.Is(err, timeline.ErrNotFound) {
			p.s.log.Warn("incident page: review lookup failed", "incident_id", inc.ID, "err", err)
		}
		data.Review = rv
	}
	data.NotesOn = p.s.opts.Notes.Annotator != nil
	data.CanWrite = p.s.notes().writeAuth(c.Request()) != authNone
	if p.o.CSRFToken != nil && data.NotesOn && data.CanWrite {
		data.CSRFToken, data.HasCSRF = p.o.CSRFToken(c), true
	}
	data.IdempotencyKey = newIdempotencyKey()
	return p.render(c, "incident", data, 8<<10+len(entries)*600)
}

// readerWord is an event's fact and role in the reader's language.
type readerWord struct{ fact, role string }

// readerWords renders each entry's fact and role in p's language (facts from their types and
// attributes, see internal/i18n), in entries' order; nil for English, which shows the stored
// sentences. An entry that does not decode keeps its stored words.
func readerWords(p i18n.Printer, entries []timeline.Entry) []readerWord {
	if p.Lang() == i18n.English {
		return nil
	}
	evs := make([]timeline.Event, len(entries))
	for i, e := range entries {
		if json.Unmarshal(e.JSON, &evs[i]) != nil {
			var bare struct {
				Fact string        `json:"fact"`
				Role timeline.Role `json:"role"`
				Kind timeline.Kind `json:"kind"`
			}
			_ = json.Unmarshal(e.JSON, &bare)
			evs[i] = timeline.Event{Fact: bare.Fact, Role: bare.Role, Kind: bare.Kind, Source: timeline.SourceManual}
		}
	}
	facts := p.Facts(evs)
	out := make([]readerWord, len(evs))
	for i, e := range evs {
		out[i] = readerWord{fact: facts[i], role: p.Role(e.Role)}
		if e.Role == "" {
			out[i].role = ""
		}
	}
	return out
}

type decodedRow struct {
	row  eventRow
	kind timeline.Kind
	err  error
}

// decodeEventRows decodes a timeline's events for the page, a long timeline on every CPU: decoding
// is most of the time a 5,000-event page takes.
func decodeEventRows(entries []timeline.Entry) []decodedRow {
	out := make([]decodedRow, len(entries))
	workers := min(runtime.GOMAXPROCS(0), len(entries)/500+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(entries); i += workers {
				out[i].row, out[i].kind, out[i].err = newEventRow(entries[i])
			}
		})
	}
	wg.Wait()
	return out
}

// maxCachedRows bounds the row cache: about 2 KB a row, so some 100 MB at most.
const maxCachedRows = 50_000

// rowCache keeps the incident pages' decoded event rows by incident, cursor and a hash of the
// entry's JSON: a 5,000-event page then decodes only what is new since it was last shown, and a
// refined role (which changes the JSON) is decoded again.
type rowCache struct {
	mu   sync.Mutex
	seed maphash.Seed
	rows map[string]cachedRow
}

type cachedRow struct {
	sum uint64
	d   decodedRow
}

// decode returns the rows of entries, in their order, decoding only those not cached.
func (rc *rowCache) decode(incidentID string, entries []timeline.Entry) []decodedRow {
	out := make([]decodedRow, len(entries))
	keys := make([]string, len(entries))
	sums := make([]uint64, len(entries))
	var missIdx []int
	rc.mu.Lock()
	if rc.rows == nil {
		rc.seed, rc.rows = maphash.MakeSeed(), map[string]cachedRow{}
	}
	seed := rc.seed
	for i, e := range entries {
		keys[i] = incidentID + "\x00" + e.Cursor
		sums[i] = maphash.Bytes(seed, e.JSON)
		if c, ok := rc.rows[keys[i]]; ok && c.sum == sums[i] {
			out[i] = c.d
		} else {
			missIdx = append(missIdx, i)
		}
	}
	rc.mu.Unlock()
	if len(missIdx) == 0 {
		return out
	}
	missing := make([]timeline.Entry, len(missIdx))
	for k, i := range missIdx {
		missing[k] = entries[i]
	}
	decoded := decodeEventRows(missing)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.rows)+len(missIdx) > maxCachedRows {
		clear(rc.rows) // simple and rare: the next views decode again
	}
	for k, i := range missIdx {
		out[i] = decoded[k]
		if decoded[k].err == nil {
			rc.rows[keys[i]] = cachedRow{sum: sums[i], d: decoded[k]}
		}
	}
	return out
}

func newEventRow(e timeline.Entry) (eventRow, timeline.Kind, error) {
	var ev pageEvent
	if err := json.Unmarshal(e.JSON, &ev); err != nil {
		// Attributes of an unexpected shape must not hide the event: decode it without them.
		var bare struct {
			pageEvent
			Attributes json.RawMessage `json:"attributes"`
		}
		if err := json.Unmarshal(e.JSON, &bare); err != nil {
			return eventRow{}, "", fmt.Errorf("event at %s: %w", e.Cursor, err)
		}
		ev = bare.pageEvent
	}
	at := ev.At.UTC()
	row := eventRow{Cursor: e.Cursor, ID: ev.ID, AtISO: at.Format(time.RFC3339), AtUTC: at.Format("2006-01-02 15:04:05 UTC"),
		AtMillis: at.UnixMilli(), Source: ev.Source, Type: ev.Type, Role: ev.Role, Fact: ev.Fact,
		Summary: ev.Attributes.Annotations.Summary, Flags: ev.Attributes.Flags}
	if row.Summary == "" {
		row.Summary = ev.Attributes.Annotations.Description
	}
	if strings.Contains(row.Fact, row.Summary) { // Alertmanager's facts already quote the summary
		row.Summary = ""
	}
	if row.Link = webURL(ev.Attributes.GeneratorURL); row.Link == "" {
		row.Link = webURL(ev.Attributes.HTMLURL)
	}
	return row, ev.Kind, nil
}

// rowWords are the words of an event row that are postmortemd's own, in the reader's language;
// the row cache keeps decoded rows only, so one cached row serves every language.
type rowWords struct {
	Lang    i18n.Lang // the reader's: flags of postmortemd's own rules are said in it (ownFinding)
	Flagged string    // the flags list's aria-label
	Instead string    // before a suggested wording
	Source  string    // the text of the link to the sender's page
}

func eventRowWords(p i18n.Printer) rowWords {
	return rowWords{Lang: p.Lang(), Flagged: p.T("ui.row_flagged"), Instead: p.T("ui.instead"), Source: p.T("ui.row_source")}
}

// writeEventRows renders events as the list items of the incident page, with w's words.
//
// It is the one piece of HTML not written by html/template, because it is the one that repeats
// thousands of times: html/template spends most of a 5,000-event page in reflection. Every value
// goes through template.HTMLEscapeString (which escapes < > & ' " and NUL, safe in element content
// and in quoted attribute values alike), the only link is an http(s) URL (webURL), and a test
// checks that the output is byte for byte what html/template makes of the same row.
func writeEventRows(rows []eventRow, w rowWords) template.HTML {
	var b strings.Builder
	size := 0
	for i := range rows {
		r := &rows[i]
		size += 300 + len(r.ID) + 2*len(r.Cursor) + len(r.Role) + len(r.Fact) + len(r.Summary) + len(r.Link)
	}
	b.Grow(size)
	esc := template.HTMLEscapeString
	for i := range rows {
		r := &rows[i]
		cur := esc(r.Cursor)
		b.WriteString(`<li class="event" id="ev-` + cur + `" data-id="` + esc(r.ID) + `" data-cursor="` + cur +
			`" data-at="` + strconv.FormatInt(r.AtMillis, 10) + `">` + "\n")
		b.WriteString(`<time datetime="` + esc(r.AtISO) + `" title="` + esc(r.AtUTC) + `">` + esc(r.AtUTC) + "</time>\n")
		b.WriteString(`<span class="meta"><span class="source">` + esc(string(r.Source)) + `</span> · <span class="type">` +
			esc(string(r.Type)) + `</span>`)
		if r.Role != "" {
			b.WriteString(` · <span class="role">` + esc(string(r.Role)) + `</span>`)
		}
		b.WriteString("</span>\n" + `<p class="fact">` + esc(r.Fact) + "</p>\n")
		if r.Summary != "" {
			b.WriteString(`<p class="summary">` + esc(r.Summary) + "</p>\n")
		}
		if len(r.Flags) > 0 {
			b.WriteString(`<ul class="flags" aria-label="` + esc(w.Flagged) + `">` + "\n")
			for _, f := range r.Flags {
				msg, sugg := ownFinding(i18n.For(w.Lang), f.Rule, f.Message, f.Suggestion)
				b.WriteString(`<li>` + esc(findingText(f.Match, msg)))
				if sugg != "" {
					b.WriteString(` <span class="suggestion">` + esc(w.Instead) + ` ` + esc(sugg) + `</span>`)
				}
				b.WriteString("</li>\n")
			}
			b.WriteString("</ul>\n")
		}
		if r.Link != "" {
			b.WriteString(`<a class="source-link" href="` + esc(r.Link) + `" rel="noopener noreferrer" target="_blank">` + esc(w.Source) + `</a>` + "\n")
		}
		b.WriteString("</li>\n")
	}
	return template.HTML(b.String()) // #nosec G203 -- every value escaped above
}

// webURL returns u if it is an absolute http or https URL, and "" otherwise: links from senders are
// untrusted and must not become javascript: or data: links.
func webURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return ""
	}
	return pu.String()
}

func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cursorAfter reports whether stream position a comes after b. Positions are Redis stream ids,
// "milliseconds-sequence", compared numerically part by part ("10-0" is after "9-5"); an id
// without a sequence counts as sequence 0, and "" comes before everything.
func cursorAfter(a, b string) bool {
	am, as := splitCursor(a)
	bm, bs := splitCursor(b)
	if am != bm {
		return am > bm
	}
	return as > bs
}

func splitCursor(c string) (ms, seq uint64) {
	if c == "" {
		return 0, 0
	}
	m, s, _ := strings.Cut(c, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}

// validCursor reports whether c looks like a stream id a client may resume after.
func validCursor(c string) bool {
	m, s, ok := strings.Cut(c, "-")
	if _, err := strconv.ParseUint(m, 10, 64); err != nil {
		return false
	}
	if ok {
		if _, err := strconv.ParseUint(s, 10, 64); err != nil {
			return false
		}
	}
	return true
}

// The postmortem pages: the library's list with filters, and one postmortem as HTML.

type postmortemsPage struct {
	Title       string
	Items       []drafts.Summary
	Statuses    []string
	Filter      postmortemFilter
	Unavailable bool
}

// postmortemFilter is the list's query as the filter form shows it back.
type postmortemFilter struct {
	Status, Service, Severity, Tag, Recommended, Q string
}

func (p *pages) postmortems(c echo.Context) error {
	lib := p.s.opts.Postmortems.Library
	if lib == nil {
		return fmt.Errorf("postmortems: %w: no drafts directory is configured", timeline.ErrNotFound)
	}
	f := postmortemFilter{Status: c.QueryParam("status"), Service: c.QueryParam("service"),
		Severity: c.QueryParam("severity"), Tag: c.QueryParam("tag"), Recommended: c.QueryParam("recommended"),
		Q: c.QueryParam("q")}
	q := drafts.Query{Status: f.Status, Service: f.Service, Severity: f.Severity, Tag: f.Tag, Text: f.Q}
	switch f.Recommended {
	case "":
	case "yes", "true":
		yes := true
		q.Recommended, f.Recommended = &yes, "yes"
	case "no", "false":
		no := false
		q.Recommended, f.Recommended = &no, "no"
	default:
		return fmt.Errorf("recommended: %w: want yes or no, got %q", timeline.ErrInvalid, f.Recommended)
	}
	items, err := lib.List(q)
	if err != nil {
		return fmt.Errorf("list postmortems: %w", err)
	}
	return p.render(c, "postmortems", postmortemsPage{Title: i18n.For(p.lang(c.Request())).T("ui.postmortems"), Items: items, Statuses: drafts.Statuses, Filter: f}, 16<<10+len(items)*600)
}

// frontMatterField is one line of a postmortem's attributes table.
type frontMatterField struct {
	Key, Value string
}

type postmortemPage struct {
	Title  string
	Doc    drafts.Summary
	Header postmortemHeader
	// Attributes are the front matter fields the header does not show.
	Attributes []frontMatterField
	// RawFrontMatter is front matter that is not valid YAML, shown as written.
	RawFrontMatter string
	Body           template.HTML
	Findings       []pageFinding
	IncidentURL    string
	EditURL        string
	// IncidentGone is set when the store no longer has the incident (the embedded store restarted,
	// or the incident expired): the page says so instead of linking to a 404.
	IncidentGone bool
	// ReviewURL is the review meeting's page, when review meetings are on.
	ReviewURL string
	// Saved is set after the editor's plain form saved; NamesReplaced is what the save replaced.
	Saved         bool
	NamesReplaced int
}

// markdown renders GitHub-flavoured Markdown (tables, task lists, strikethrough, autolinks); raw
// HTML in a postmortem is dropped by goldmark and whatever remains is sanitised again.
var (
	markdown  = goldmark.New(goldmark.WithExtensions(extension.GFM))
	sanitizer = bluemonday.UGCPolicy()
)

func (p *pages) postmortem(c echo.Context) error {
	lib := p.s.opts.Postmortems.Library
	if lib == nil {
		return fmt.Errorf("postmortems: %w: no drafts directory is configured", timeline.ErrNotFound)
	}
	doc, err := lib.Get(c.Param("id"))
	if err != nil {
		return err
	}
	fields, raw, body := splitFrontMatter(doc.Content)
	html, err := renderMarkdown(body)
	if err != nil {
		return fmt.Errorf("render postmortem %s: %w", doc.ID, err)
	}
	esc := url.PathEscape(doc.ID)
	data := postmortemPage{Title: doc.Title, Doc: doc.Summary, Attributes: otherFields(fields), RawFrontMatter: raw,
		Body: html, IncidentURL: "/incidents/" + esc, EditURL: "/postmortems/" + esc + "/edit"}
	if head, _, ok := drafts.SplitFrontMatter(doc.Content); ok && raw == "" {
		data.Header = newPostmortemHeader(frontMatterMap(head))
	}
	if data.Header.Title == "" {
		data.Header.Title = doc.Title
	}
	if data.Title == "" {
		data.Title = doc.ID
	}
	ctx, cancel := p.s.storeCtx(c)
	defer cancel()
	people, found, err := p.s.peopleOf(ctx, doc.ID)
	if err != nil {
		p.s.log.Warn("postmortem page: incident lookup failed", "postmortem", doc.ID, "err", err)
		found = true // unknown: keep the link
	}
	data.IncidentGone = !found
	if p.s.opts.Review.Reviews != nil {
		data.ReviewURL = "/incidents/" + esc + "/review"
	}
	data.Findings = p.s.postmortemFindings(string(doc.Content), people)
	if c.QueryParam("saved") == "1" {
		data.Saved = true
		data.NamesReplaced, _ = strconv.Atoi(c.QueryParam("names"))
	}
	return p.render(c, "postmortem", data, 8<<10+2*len(doc.Content))
}

// splitFrontMatter separates a postmortem's YAML front matter, as key/value lines in file order,
// from its Markdown body. Front matter that is not a YAML mapping comes back as raw text, to be
// shown as it is; a file without front matter is all body.
func splitFrontMatter(content []byte) (fields []frontMatterField, raw string, body []byte) {
	head, body, ok := drafts.SplitFrontMatter(content)
	if !ok {
		return nil, "", content
	}
	head = bytes.TrimSuffix(head, []byte("\n")) // the front matter's last line break
	var doc yaml.Node
	if err := yaml.Unmarshal(head, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, string(head), body
	}
	m := doc.Content[0]
	fields = make([]frontMatterField, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		fields = append(fields, frontMatterField{Key: m.Content[i].Value, Value: yamlText(m.Content[i+1])})
	}
	return fields, "", body
}

// yamlText shows a front matter value as one line of text: scalars as they are, lists of scalars
// joined with commas, anything else as compact YAML.
func yamlText(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				parts = nil
				break
			}
			parts = append(parts, c.Value)
		}
		if parts != nil || len(n.Content) == 0 {
			return strings.Join(parts, ", ")
		}
	}
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	b, err := yaml.Marshal(n)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// pageDuration writes a duration from a front matter field ("1h17m49s", "2d3h") in p's language;
// English, and anything that is not a duration, is shown as written.
func pageDuration(p i18n.Printer, s string) string {
	if p.Lang() == i18n.English {
		return s
	}
	var days time.Duration
	rest := s
	if d, r, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return s
		}
		days, rest = time.Duration(n)*24*time.Hour, r
	}
	if rest == "" {
		return p.Duration(days)
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return s
	}
	return p.Duration(days + d)
}

// pageWord is a value from a closed set (a postmortem's status, message id "pmstatus.draft"; an
// incident's, "status.open") in p's language; a value the catalogue does not know is shown as
// written.
func pageWord(p i18n.Printer, prefix, s string) string {
	if id := prefix + s; s != "" && p.Has(id) {
		return p.T(id)
	}
	return s
}

// pageDay writes a calendar date given as "2006-01-02" in p's language; anything else is shown as
// written.
func pageDay(p i18n.Printer, s string) string {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	return p.Date(d)
}

// actionProblems says an action item's problems (drafts/actions' stable English strings) in p's
// language, joined as a list; a problem the catalogue does not know is said as written.
func actionProblems(p i18n.Printer, ps []string) string {
	out := make([]string, len(ps))
	for i, pr := range ps {
		out[i] = pr
		if code, v := actions.ProblemCode(pr); code != "" {
			out[i] = p.T(code, "Value", v)
		}
	}
	return strings.Join(out, p.T("list.semicolon"))
}

// insightFigures are the insights' figure names as problems name them, and their words.
var insightFigures = map[string]string{"time_to_detect": "ui.ttd", "time_to_acknowledge": "ui.tta", "time_to_resolve": "ui.ttr"}

// insightProblem says an insights problem in p's language from its code, else as written.
func insightProblem(p i18n.Printer, pr insights.Problem) string {
	if pr.Code == "" || !p.Has(pr.Code) {
		return pr.Problem
	}
	m := i18n.Message{Code: pr.Code, Args: maps.Clone(pr.Args)}
	if id, ok := insightFigures[m.Args["Figure"]]; ok && p.Lang() != i18n.English {
		m.Args["Figure"] = p.T(id)
	}
	if code := m.Args["Code"]; code != "" && p.Has(code) { // a reason the document's store gave
		m.Args["Err"] = p.Say(i18n.Message{Code: code, Args: m.Args})
	}
	return p.Say(m)
}
