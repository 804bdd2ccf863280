package web

// The postmortem editor: GET /postmortems/{id}/edit is a plain form that works without JavaScript
// (editor.js adds a live preview, lint while typing and saving without a reload), and
// POST /postmortems/{id}/edit saves through the postmortem store's Save, as PUT
// /api/v1/postmortems/{id} does. A save that lost a race is never applied and never discarded: the
// editor comes back with the person's text merged onto the current version (drafts.Merge3).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/actions"
	"github.com/postmortemd/postmortemd/drafts/lint"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// editorRoutes registers the editor; it needs the postmortem store.
func (p *pages) editorRoutes(e *echo.Echo) {
	if p.s.opts.Postmortems.Library == nil {
		return
	}
	e.GET("/postmortems/:id/edit", p.editor)
	e.POST("/postmortems/:id/edit", p.saveEdit, p.s.requireWrite)
	e.POST("/postmortems/:id/preview", p.preview)
}

// editorPage is the editor's template data.
type editorPage struct {
	Title, ID string
	// Markdown is what the text area holds: the loaded document, or the person's text after a
	// refused save, or their text merged onto the current version after a conflict.
	Markdown string
	// Base and ETag are the version Markdown was made from: the next save's If-Match, and the
	// base of the three-way merge if that save loses a race.
	Base, ETag string
	CSRFToken  string
	CanWrite   bool
	Preview    template.HTML
	Findings   []pageFinding
	Problems   []pageProblem
	// Conflict is set when a save found a newer version.
	Conflict *editConflict
	// Error says why the last save was refused.
	Error         string
	PostmortemURL string
	EditURL       string
	IncidentURL   string
}

// editConflict is what the editor shows after a save lost a race.
type editConflict struct {
	// Conflicts counts the regions both sides changed differently (marked in the text area).
	Conflicts int
	// Mine is the person's text as they sent it, kept verbatim beside the merge.
	Mine string
}

// pageFinding is a lint finding as the pages show it.
type pageFinding struct {
	lint.Finding
	// InMachineBlock is set for wording inside a machine-owned block: usually a person's note the
	// draft quotes, to be reworded where it was written, not in the draft.
	InMachineBlock bool `json:"in_machine_block,omitempty"`
	// Text and SuggestionText are Message and Suggestion in the reader's language when
	// postmortemd's own rules wrote them (ownFinding); the editor's script shows them.
	Text           string `json:"text,omitempty"`
	SuggestionText string `json:"suggestion_text,omitempty"`
}

func (p *pages) editor(c echo.Context) error {
	doc, err := p.s.opts.Postmortems.Library.Get(c.Param("id"))
	if err != nil {
		return err
	}
	data := p.newEditorPage(c, doc)
	data.Markdown, data.Base = string(doc.Content), string(doc.Content)
	if err := p.fillEditorChecks(c, &data, nil); err != nil {
		return err
	}
	return p.render(c, "editor", data, 16<<10+3*len(doc.Content))
}

func (p *pages) newEditorPage(c echo.Context, doc drafts.Document) editorPage {
	esc := url.PathEscape(doc.ID)
	title := doc.Title
	if title == "" {
		title = doc.ID
	}
	data := editorPage{Title: i18n.For(p.lang(c.Request())).T("ui.edit_title", "Title", title), ID: doc.ID, ETag: doc.ETag,
		PostmortemURL: "/postmortems/" + esc, EditURL: "/postmortems/" + esc + "/edit", IncidentURL: "/incidents/" + esc}
	n := p.s.notes()
	data.CanWrite = n.writeAuth(c.Request()) != authNone
	if data.CanWrite {
		data.CSRFToken = n.csrf.Token(c)
	}
	return data
}

// fillEditorChecks renders the preview and the findings of data.Markdown, and, unless given, the
// problems of the edit against data.Base.
func (p *pages) fillEditorChecks(c echo.Context, data *editorPage, problems []pageProblem) error {
	ctx, cancel := p.s.storeCtx(c)
	defer cancel()
	chk, err := p.checkEdit(ctx, i18n.For(p.lang(c.Request())), data.ID, data.Base, data.Markdown)
	if err != nil {
		return err
	}
	data.Preview, data.Findings = chk.html, chk.Findings
	if problems == nil {
		problems = chk.Problems
	}
	data.Problems = problems
	return nil
}

// editCheck is what the editor shows about a text: POST /postmortems/{id}/preview answers it as
// JSON.
type editCheck struct {
	html     template.HTML
	HTML     string        `json:"html"`
	Findings []pageFinding `json:"findings"`
	// Problems are what the edit does to the machine-owned blocks (drafts.EditProblems).
	Problems []pageProblem `json:"problems"`
	// Names counts the names and e-mail addresses that saving will replace by roles.
	Names int `json:"names"`
}

// pageProblem is an edit problem as the editor shows it: Text is its reason in the reader's
// language (the English Message and the reason's code stay beside it).
type pageProblem struct {
	drafts.EditProblem
	Text string `json:"text"`
}

func pageProblems(p i18n.Printer, ps []drafts.EditProblem) []pageProblem {
	out := make([]pageProblem, 0, len(ps))
	for _, e := range ps {
		t := e.Message
		if e.Reason.Code != "" {
			t = p.Say(e.Reason)
		}
		out = append(out, pageProblem{EditProblem: e, Text: t})
	}
	return out
}

// checkEdit renders text as the postmortem page does, lints it and compares it with base; the
// problems are said in pr's language.
func (p *pages) checkEdit(ctx context.Context, pr i18n.Printer, id, base, text string) (editCheck, error) {
	out := editCheck{Problems: []pageProblem{}}
	_, _, body := splitFrontMatter([]byte(text))
	h, err := renderMarkdown(body)
	if err != nil {
		return out, fmt.Errorf("render postmortem %s: %w", id, err)
	}
	out.html, out.HTML = h, string(h)
	people, _, err := p.s.peopleOf(ctx, id) // a postmortem whose incident expired: addresses only
	if err != nil {
		return out, fmt.Errorf("keep names out of postmortem %s: %w", id, err)
	}
	out.Findings = p.s.postmortemFindings(text, people)
	for i := range out.Findings {
		f := &out.Findings[i]
		if m, sg := ownFinding(pr, f.Rule, f.Message, f.Suggestion); m != f.Message || sg != f.Suggestion {
			f.Text, f.SuggestionText = m, sg
		}
	}
	_, out.Names = lint.ReplaceNames(text, people)
	if ps := drafts.EditProblems([]byte(base), []byte(text)); ps != nil {
		out.Problems = pageProblems(pr, ps)
	}
	return out, nil
}

// postmortemFindings lints a postmortem as Markdown with the guardrail's rules, flags where it
// names the incident's participants, and also lints the lines inside machine-owned blocks (which
// the Markdown lint skips): a note the draft quotes can carry blaming words, and the people
// reviewing the draft should see them too.
func (s *Server) postmortemFindings(text string, people []timeline.Participant) []pageFinding {
	linter := s.notes().linter
	fs := slices.DeleteFunc(linter.Markdown(text), func(f lint.Finding) bool { return f.Rule == "email-address" })
	fs = append(fs, lint.Names(text, people)...)
	out := make([]pageFinding, 0, len(fs))
	for _, f := range fs {
		out = append(out, pageFinding{Finding: f})
	}
	machine := machineBodyLines(text)
	if len(machine) > 0 {
		for _, f := range linter.Text(text) {
			if machine[f.Line] && f.Rule != "email-address" {
				out = append(out, pageFinding{Finding: f, InMachineBlock: true})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b pageFinding) int { return a.Offset - b.Offset })
	if len(out) > lint.MaxFindings {
		out = out[:lint.MaxFindings]
	}
	return out
}

// machineBodyLines returns the 1-based numbers of the lines inside the Markdown body's
// machine-owned blocks (the marker lines themselves excluded).
func machineBodyLines(text string) map[int]bool {
	out := map[int]bool{}
	in := false
	for n, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "<!-- postmortemd:begin "):
			in = true
		case strings.HasPrefix(t, "<!-- postmortemd:end "):
			in = false
		case in:
			out[n+1] = true
		}
	}
	return out
}

// maxPreviewBody bounds a preview request: the largest postmortem, twice (the text and its base),
// in JSON.
const maxPreviewBody = 3 * defaultPostmortemBody

// preview is POST /postmortems/{id}/preview, JSON {"markdown": ..., "base": ...} in, editCheck
// out. It stores nothing, so reading access suffices.
func (p *pages) preview(c echo.Context) error {
	var req struct {
		Markdown string `json:"markdown"`
		Base     string `json:"base"`
	}
	r := c.Request()
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), r.Body, maxPreviewBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return bodyError("preview", err)
	}
	id := c.Param("id")
	if _, err := p.s.opts.Postmortems.Library.Get(id); err != nil {
		return err
	}
	ctx, cancel := p.s.storeCtx(c)
	defer cancel()
	chk, err := p.checkEdit(ctx, i18n.For(p.lang(r)), id, req.Base, req.Markdown)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, chk)
}

// savedEdit answers a save made by the editor's script.
type savedEdit struct {
	ETag string `json:"etag"`
	// Markdown is the document as stored: it differs from what was sent when names were replaced.
	Markdown      string `json:"markdown"`
	NamesReplaced int    `json:"names_replaced"`
	URL           string `json:"url"`
}

// editRefused answers a save that was not applied, to the editor's script.
type editRefused struct {
	Error    string        `json:"error"`
	Status   int           `json:"status"`
	Problems []pageProblem `json:"problems,omitempty"`
	// A conflict: the version saved meanwhile (ETag, Base) and the person's text merged onto it.
	Conflict  bool   `json:"conflict,omitempty"`
	ETag      string `json:"etag,omitempty"`
	Base      string `json:"base,omitempty"`
	Merged    string `json:"merged,omitempty"`
	Conflicts int    `json:"conflicts,omitempty"`
	Mine      string `json:"mine,omitempty"`
}

// saveEdit is POST /postmortems/{id}/edit: a form (markdown, base, etag, csrf_token). The
// editor's script sends the same form with Accept: application/json and gets JSON; a plain form
// post gets a redirect to the postmortem, or the editor again with what went wrong.
func (p *pages) saveEdit(c echo.Context) error {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxPreviewBody)
	if err := r.ParseForm(); err != nil {
		return bodyError("edit", err)
	}
	wantJSON := strings.Contains(r.Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON)
	// The page is written in the reader's language; the JSON answer keeps its English error text.
	pr := i18n.For(i18n.English)
	if !wantJSON {
		pr = i18n.For(p.lang(r))
	}
	id := c.Param("id")
	lib := p.s.opts.Postmortems.Library
	cur, err := lib.Get(id)
	if err != nil {
		return err
	}
	// Browsers send a text area's line breaks as CRLF; a file written with LF keeps LF.
	crlf := bytes.Contains(cur.Content, []byte("\r\n"))
	norm := func(s string) string {
		if crlf {
			return s
		}
		return strings.ReplaceAll(s, "\r\n", "\n")
	}
	mine, base, etag := norm(r.PostFormValue("markdown")), norm(r.PostFormValue("base")), r.PostFormValue("etag")
	if base == "" {
		base = string(cur.Content) // a client that sends no base: compare with the current version
	}
	if etag == "" {
		return fmt.Errorf("etag: %w: the form carries the version it was loaded with; reload the editor", timeline.ErrInvalid)
	}
	if !utf8.ValidString(mine) {
		return fmt.Errorf("markdown: %w: the text is not UTF-8", timeline.ErrInvalid)
	}
	refuse := func(code int, data editorPage, body editRefused) error {
		body.Status = code
		if wantJSON {
			return c.JSON(code, body)
		}
		data.Error = body.Error
		if err := p.fillEditorChecks(c, &data, body.Problems); err != nil {
			return err
		}
		return p.renderStatus(c, code, "editor", data, 16<<10+3*len(data.Markdown))
	}
	if blocking := blockingProblems(drafts.EditProblems([]byte(base), []byte(mine))); len(blocking) > 0 {
		data := p.newEditorPage(c, drafts.Document{Summary: cur.Summary, ETag: etag})
		data.Markdown, data.Base = mine, base
		ps := pageProblems(pr, blocking)
		return refuse(http.StatusUnprocessableEntity, data, editRefused{Problems: ps,
			Error: pr.T("ui.not_saved", "Reason", ps[0].Text)})
	}
	scrubbed, replaced, err := p.s.withoutNames(c, id, []byte(mine))
	if err != nil {
		return err
	}
	doc, err := lib.Save(id, scrubbed, etag)
	switch {
	case errors.Is(err, timeline.ErrPrecondition):
		now, gerr := lib.Get(id)
		if gerr != nil {
			return gerr
		}
		merged, n := drafts.Merge3([]byte(base), now.Content, scrubbed)
		p.s.log.Info("postmortem edit met a newer version; offered a merge", "postmortem", id, "conflicts", n)
		msg := pr.T("ui.edit_conflict_clean")
		if n > 0 {
			msg = pr.T("ui.edit_conflict_marked", "Count", n, "Start", drafts.ConflictStart, "End", drafts.ConflictEnd)
		}
		data := p.newEditorPage(c, now)
		data.Markdown, data.Base = string(merged), string(now.Content)
		data.Conflict = &editConflict{Conflicts: n, Mine: string(scrubbed)}
		return refuse(http.StatusConflict, data, editRefused{Error: msg, Conflict: true, ETag: now.ETag,
			Base: string(now.Content), Merged: string(merged), Conflicts: n, Mine: string(scrubbed)})
	case errors.Is(err, timeline.ErrInvalid):
		p.s.log.Info("postmortem edit refused", "postmortem", id, "err", err)
		data := p.newEditorPage(c, drafts.Document{Summary: cur.Summary, ETag: etag})
		data.Markdown, data.Base = mine, base
		return refuse(http.StatusUnprocessableEntity, data, editRefused{Error: pr.T("ui.not_saved", "Reason", invalidReason(pr, err))})
	case err != nil:
		return err
	}
	p.s.log.Info("postmortem saved", "postmortem", id, "etag", doc.ETag, "names_replaced", replaced, "via", "editor")
	c.Response().Header().Set("ETag", doc.ETag)
	to := "/postmortems/" + url.PathEscape(id)
	if wantJSON {
		return c.JSON(http.StatusOK, savedEdit{ETag: doc.ETag, Markdown: string(doc.Content), NamesReplaced: replaced, URL: to})
	}
	return c.Redirect(http.StatusSeeOther, to+"?saved=1&names="+strconv.Itoa(replaced))
}

func blockingProblems(ps []drafts.EditProblem) []drafts.EditProblem {
	return slices.DeleteFunc(ps, func(p drafts.EditProblem) bool { return !p.Blocking })
}

// invalidReason is the store's reason for refusing a postmortem, without the prefix naming the
// postmortem and the error class: in p's language when the store gave it as a reason (i18n.Reason).
func invalidReason(p i18n.Printer, err error) string {
	if r, ok := i18n.ReasonOf(err); ok {
		return p.Say(r.Message)
	}
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, timeline.ErrInvalid.Error()+": "); ok {
		return after
	}
	return msg
}

// renderMarkdown renders a postmortem's Markdown body as the postmortem page shows it, sanitised.
func renderMarkdown(body []byte) (template.HTML, error) {
	var html bytes.Buffer
	if err := markdown.Convert(body, &html); err != nil {
		return "", err
	}
	return template.HTML(sanitizer.SanitizeBytes(html.Bytes())), nil // #nosec G203 -- sanitised just now
}

// ownFinding returns a finding's message and suggestion in p's language when postmortemd's own
// name rules or action-item rules wrote them: known by rule id and their English words (a flag stored without a rule id
// is known by its words alone). Configured rules' words are their authors' and come back as they
// are; so does everything in English, which is what the API serves.
func ownFinding(p i18n.Printer, rule, message, suggestion string) (string, string) {
	if p.Lang() == i18n.English {
		return message, suggestion
	}
	switch {
	case (rule == lint.RulePersonName || rule == "") && message == lint.PersonNameMessage:
		message = p.T("lint.person-name")
		if role, ok := strings.CutPrefix(suggestion, lint.PersonNameSuggestion); ok {
			suggestion = p.T("lint.suggestion.person-name", "Role", p.Role(timeline.Role(role)))
		}
	case (rule == lint.RuleEmailAddress || rule == "") && message == lint.EmailAddressMessage:
		message = p.T("lint.email-address")
		if suggestion == lint.EmailAddressSuggestion {
			suggestion = p.T("lint.suggestion.email-address")
		}
	default:
		if action, problem, sugg, ok := actions.FindingCodes(lint.Finding{Rule: rule, Message: message, Suggestion: suggestion}); ok {
			message = p.T("actions.finding", "Action", action, "Problem", actionProblems(p, []string{problem}))
			if sugg != "" {
				suggestion = p.T(sugg)
			}
		}
	}
	return message, suggestion
}

// findingText says a lint finding in one sentence: the words matched, quoted, unless the message
// already quotes them, then the message.
func findingText(match, message string) string {
	msg := strings.TrimSpace(message)
	if msg != "" && !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "。") {
		msg += "."
	}
	if match == "" || strings.HasPrefix(msg, `"`) || strings.HasPrefix(msg, "「") ||
		strings.Contains(strings.ToLower(msg), strings.ToLower(match)) {
		return msg
	}
	return "“" + match + "”: " + msg
}
