package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postmortemd/postmortemd/drafts/actions"
	"github.com/postmortemd/postmortemd/drafts/lint"
	"github.com/postmortemd/postmortemd/timeline"
)

// Limits of a note. The form's maxlength attributes should match them.
const (
	MaxNoteRoleChars = 200
	MaxNoteTextChars = 8192
	maxNoteBody      = 128 << 10
	maxLintBody      = 1 << 20 // linting is linear; this bounds one request to well under a second
	maxIdemKeyLen    = 200
	// noteFutureSlack is how far ahead of the server's clock a note's time may be (clock skew).
	noteFutureSlack = 5 * time.Minute
	// notePastSlack is how long before the incident started a note's time may be: what led up to
	// it, not a typo of the year.
	notePastSlack = 24 * time.Hour
)

// Form fields and cookies of the write side.
const (
	csrfField     = "csrf_token"
	csrfHeader    = "X-CSRF-Token"
	csrfCookie    = "postmortemd_csrf"
	tokenCookie   = "postmortemd_token"
	idemField     = "idempotency_key"
	idemHeader    = "Idempotency-Key"
	replayHeader  = "Idempotent-Replayed"
	sessionPath   = "/api/v1/session"
	noteDedupeTag = "note:"
)

// NoteOptions configures notes, the lint endpoints and access control (issue #6).
type NoteOptions struct {
	// Annotator stores notes; nil leaves POST /api/v1/incidents/{id}/notes out.
	Annotator timeline.Annotator
	// Participants tells whose names to replace in a note (keyed by the incident's PagerDuty id).
	Participants timeline.Participants
	// People is a directory of people whose names are replaced by their roles in every incident's
	// notes, merged with the incident's PagerDuty participants; it covers incidents PagerDuty never
	// saw (Alertmanager only). It is kept in memory and never served. With neither People nor
	// Participants, only e-mail addresses are replaced.
	People []timeline.Participant
	// Linter flags wording that blames people; nil uses the embedded rules.
	Linter *lint.Linter
	// SecureCookies marks the sign-in and CSRF cookies Secure on every response, not only on
	// requests that arrived over TLS or with X-Forwarded-Proto: https.
	SecureCookies bool
	// WriteToken, when set, is the bearer token writes need (notes, draft edits, review waivers).
	WriteToken string
	// WriteAuthHeader, when set, names a header an authenticating proxy sets (X-Forwarded-User): a
	// request carrying it, non-empty, may write.
	WriteAuthHeader string
	// ReadToken, when set, is needed to read anything but health, metrics and webhooks (the write
	// token and the proxy header also grant reading). Empty leaves reading open.
	ReadToken string
	// CSRF issues and checks form tokens; give the same one's Token method to
	// PageOptions.CSRFToken. Nil makes NewCSRF(WriteToken).
	CSRF *CSRF
	// Now is the clock for a note's recorded time. Default time.Now.
	Now func() time.Time

	state *noteState
}

// noteState is what the note routes and the access middlewares share, built once by noteRoutes.
type noteState struct {
	o       NoteOptions
	log     *slog.Logger
	linter  *lint.Linter
	csrf    *CSRF
	now     func() time.Time
	added   *prometheus.CounterVec
	flags   *prometheus.CounterVec
	renamed prometheus.Counter
}

// WritesOpen reports whether anyone can write (no token and no proxy header configured), so
// cmd/postmortemd can warn at start-up.
func (o NoteOptions) WritesOpen() bool { return o.WriteToken == "" && o.WriteAuthHeader == "" }

// noteRoutes registers notes, the lint endpoints and the access checks (issue #6).
func (s *Server) noteRoutes(e *echo.Echo, api *echo.Group) {
	n := s.notes()
	if n.o.ReadToken != "" {
		e.Use(s.requireRead)
	}
	e.POST(sessionPath, s.signIn)
	e.DELETE(sessionPath, s.signOut)
	api.POST("/lint", s.lintText)
	if s.opts.Postmortems.Library != nil {
		api.GET("/postmortems/:id/lint", s.lintPostmortem)
		api.POST("/postmortems/:id/lint", s.lintPostmortem)
	}
	if n.o.Annotator != nil {
		api.POST("/incidents/:id/notes", s.addNote, s.requireWrite)
	}
}

// notes returns the shared state, building it on first use (route registration, before serving).
func (s *Server) notes() *noteState {
	if s.opts.Notes.state != nil {
		return s.opts.Notes.state
	}
	o := s.opts.Notes
	base := s.opts.Logger // unscoped: s.log already carries component=web, and a key is given once
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	n := &noteState{o: o, log: base.With("component", "notes"), linter: o.Linter, csrf: o.CSRF, now: o.Now}
	if n.linter == nil {
		n.linter = lint.Default()
	}
	if n.csrf == nil {
		n.csrf = NewCSRF(o.WriteToken)
	}
	if o.SecureCookies {
		n.csrf.secure = true
	}
	if n.now == nil {
		n.now = time.Now
	}
	n.added = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postmortemd_notes_added_total",
		Help: "Notes posted, by outcome (added, duplicate: an idempotent retry).",
	}, []string{"outcome"})
	n.flags = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postmortemd_lint_findings_total",
		Help: "Blameless-guardrail findings, by rule and where the text came from (note, lint, postmortem).",
	}, []string{"rule", "origin"})
	n.renamed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "postmortemd_note_names_replaced_total",
		Help: "Names and e-mail addresses replaced by roles in notes before storage.",
	})
	if reg := s.opts.Registry; reg != nil {
		// A second server on the same registry (tests, a restart in process) shares the counters.
		register := func(c prometheus.Collector) prometheus.Collector {
			var are prometheus.AlreadyRegisteredError
			if err := reg.Register(c); errors.As(err, &are) {
				return are.ExistingCollector
			} else if err != nil {
				s.log.Error("notes metrics not registered", "err", err)
			}
			return c
		}
		n.added = register(n.added).(*prometheus.CounterVec)
		n.flags = register(n.flags).(*prometheus.CounterVec)
		n.renamed = register(n.renamed).(prometheus.Counter)
	}
	s.opts.Notes.state = n
	return n
}

// noteRequest is POST /api/v1/incidents/{id}/notes as JSON.
type noteRequest struct {
	Role string `json:"role"`
	Text string `json:"text"`
	// At is the time the note refers to (RFC 3339); empty means now.
	At string `json:"at"`
}

// noteAttributes are a note's Attributes.
type noteAttributes struct {
	// Flags are the guardrail's findings on the stored text.
	Flags []lint.Finding `json:"flags"`
	// RoleFlags are the guardrail's findings on the stored role (offsets into the role).
	RoleFlags []lint.Finding `json:"role_flags,omitempty"`
	// NamesReplaced counts names and addresses replaced by roles (never which).
	NamesReplaced int `json:"names_replaced,omitempty"`
	// RequestHash identifies the content first posted under the note's idempotency key (role, text
	// and at as stored or asked), so a reuse of the key for other content is refused, not dropped.
	RequestHash string `json:"request_hash,omitempty"`
}

// requestHash is what a retry of the same note must reproduce.
func requestHash(role, text, at string) string {
	h := sha256.New()
	for _, v := range []string{role, text, at} {
		h.Write([]byte(strconv.Itoa(len(v)) + ":" + v))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Server) addNote(c echo.Context) error {
	n := s.notes()
	form, req, idem, err := decodeNote(c)
	if err != nil {
		return err
	}
	role, text, err := validateNote(req)
	if err != nil {
		return err
	}
	now := n.now().UTC()
	at := now
	if req.At != "" {
		if at, err = time.Parse(time.RFC3339Nano, req.At); err != nil {
			return fmt.Errorf("at: %w: want an RFC 3339 time such as 2026-11-23T10:02:00Z, got %q", timeline.ErrInvalid, req.At)
		}
		if at.After(now.Add(noteFutureSlack)) {
			return fmt.Errorf("at: %w: %s is in the future", timeline.ErrInvalid, req.At)
		}
	}

	ctx, cancel := s.storeCtx(c)
	defer cancel()
	inc, err := s.store.Incident(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if req.At != "" && at.Before(inc.StartedAt.Add(-notePastSlack)) {
		return fmt.Errorf("at: %w: %s is more than %s before the incident started (%s)", timeline.ErrInvalid,
			req.At, "24h", inc.StartedAt.UTC().Format(time.RFC3339))
	}
	people, err := n.people(ctx, inc)
	if err != nil {
		return err
	}
	text, replacedText := lint.ReplaceNames(text, people)
	role, replacedRole := lint.ReplaceNames(role, people)
	// A name in the role became a role phrase and may now be too long.
	if utf8.RuneCountInString(role) > MaxNoteRoleChars {
		return fmt.Errorf("role: %w: at most %d characters once names are replaced by roles", timeline.ErrInvalid, MaxNoteRoleChars)
	}
	findings := n.linter.Text(text)
	roleFindings := n.linter.Text(role)
	hash := requestHash(role, text, req.At)
	attrs, err := json.Marshal(noteAttributes{Flags: findings, RoleFlags: roleFindings,
		NamesReplaced: replacedText + replacedRole, RequestHash: hash})
	if err != nil {
		return err
	}
	if idem == "" {
		idem = randomToken(16)
	}
	key := noteDedupeTag + idem
	ev := timeline.Event{
		ID:         timeline.EventID(timeline.SourceManual, inc.ID+"\x00"+key),
		At:         at.UTC(),
		RecordedAt: now,
		Source:     timeline.SourceManual,
		Type:       timeline.TypeNote,
		Kind:       timeline.KindContext,
		Role:       timeline.Role(role),
		Fact:       text,
		Attributes: attrs,
	}
	stored, added, err := n.o.Annotator.AddContext(ctx, inc.ID, timeline.KeyedEvent{DedupeKey: key, Event: ev})
	if err != nil {
		return fmt.Errorf("add note: %w", err)
	}
	if !added {
		var first noteAttributes
		if json.Unmarshal(stored.Attributes, &first) == nil && first.RequestHash != "" && first.RequestHash != hash {
			n.added.WithLabelValues("key_reused").Inc()
			n.log.Warn("idempotency key reused for another note; refused", "incident_id", inc.ID, "event_id", stored.ID)
			return echo.NewHTTPError(http.StatusUnprocessableEntity,
				"Idempotency-Key: this key was already used for a note with other content (role, text or at); send a new key for a new note")
		}
	}
	if added {
		n.added.WithLabelValues("added").Inc()
		n.renamed.Add(float64(replacedText + replacedRole))
		for _, f := range append(slices.Clone(findings), roleFindings...) {
			n.flags.WithLabelValues(f.Rule, "note").Inc()
		}
		n.log.Info("note added", "incident_id", inc.ID, "event_id", stored.ID, "flags", len(findings),
			"names_replaced", replacedText+replacedRole)
	} else {
		n.added.WithLabelValues("duplicate").Inc()
		n.log.Info("note retried; kept the first", "incident_id", inc.ID, "event_id", stored.ID)
		c.Response().Header().Set(replayHeader, "true")
	}
	if form {
		return c.Redirect(http.StatusSeeOther, "/incidents/"+url.PathEscape(inc.ID)+"#context")
	}
	if added {
		return c.JSON(http.StatusCreated, stored)
	}
	return c.JSON(http.StatusOK, stored)
}

// people returns the participants whose names a note about inc must not carry.
func (n *noteState) people(ctx context.Context, inc timeline.Incident) ([]timeline.Participant, error) {
	out := slices.Clone(n.o.People)
	key := inc.Sources[timeline.SourceKeyPagerDutyIncidentID]
	if n.o.Participants == nil || key == "" {
		return out, nil
	}
	m, err := n.o.Participants.Participants(ctx, key)
	if err != nil {
		// Storing the text unscrubbed is not an option: ask for a retry.
		return nil, fmt.Errorf("participants of %s: %w", inc.ID, err)
	}
	for _, p := range m {
		out = append(out, p)
	}
	return out, nil
}

// peopleOf returns the participants of incident id whose names text about it must not carry;
// found is false, with no error, when the store no longer has the incident.
func (s *Server) peopleOf(ctx context.Context, id string) (people []timeline.Participant, found bool, err error) {
	inc, err := s.store.Incident(ctx, id)
	if errors.Is(err, timeline.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	people, err = s.notes().people(ctx, inc)
	return people, err == nil, err
}

// decodeNote reads a note from JSON or a form post; form reports the latter (answered with a
// redirect). idem is the Idempotency-Key header or the form's idempotency_key field.
func decodeNote(c echo.Context) (form bool, req noteRequest, idem string, err error) {
	r := c.Request()
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	idem = strings.TrimSpace(r.Header.Get(idemHeader))
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxNoteBody)
	switch mt {
	case echo.MIMEApplicationJSON:
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return false, req, "", bodyError("note", err)
		}
	case echo.MIMEApplicationForm, echo.MIMEMultipartForm:
		form = true
		if err := r.ParseMultipartForm(maxNoteBody); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return true, req, "", bodyError("note", err)
		}
		req.Role, req.Text, req.At = r.PostFormValue("role"), r.PostFormValue("text"), r.PostFormValue("at")
		if req.At == "" && r.PostFormValue("at_local") != "" {
			if req.At, err = localTime(r.PostFormValue("at_local"), r.PostFormValue("tz_offset")); err != nil {
				return true, req, "", err
			}
		}
		if idem == "" {
			idem = strings.TrimSpace(r.PostFormValue(idemField))
		}
	default:
		return false, req, "", echo.NewHTTPError(http.StatusUnsupportedMediaType,
			"a note is application/json or a form post (application/x-www-form-urlencoded)")
	}
	if len(idem) > maxIdemKeyLen || strings.ContainsFunc(idem, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return form, req, "", fmt.Errorf("idempotency key: %w: at most %d visible ASCII characters", timeline.ErrInvalid, maxIdemKeyLen)
	}
	return form, req, idem, nil
}

// localTime reads a datetime-local field (no zone) with the browser's offset in minutes as
// JavaScript's getTimezoneOffset gives it (UTC minus local); without an offset it is UTC.
func localTime(v, offset string) (string, error) {
	var t time.Time
	var err error
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err = time.Parse(layout, v); err == nil {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("at_local: %w: want YYYY-MM-DDTHH:MM, got %q", timeline.ErrInvalid, v)
	}
	if offset != "" {
		m, err := strconv.Atoi(offset)
		if err != nil || m < -16*60 || m > 16*60 {
			return "", fmt.Errorf("tz_offset: %w: want minutes, got %q", timeline.ErrInvalid, offset)
		}
		t = t.Add(time.Duration(m) * time.Minute)
	}
	return t.Format(time.RFC3339), nil
}

func bodyError(what string, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("%s: the body is larger than %d bytes", what, mbe.Limit))
	}
	return fmt.Errorf("%s: %w: %v", what, timeline.ErrInvalid, err)
}

// validateNote checks the role and text a person typed and normalizes line endings.
func validateNote(req noteRequest) (role, text string, err error) {
	role = strings.Join(strings.Fields(req.Role), " ")
	switch {
	case role == "":
		return "", "", fmt.Errorf("role: %w: say in which role you write (e.g. primary on-call for checkout-api)", timeline.ErrInvalid)
	case !utf8.ValidString(role) || strings.ContainsFunc(role, unicode.IsControl):
		return "", "", fmt.Errorf("role: %w: control characters or invalid UTF-8", timeline.ErrInvalid)
	}
	text = strings.TrimSpace(strings.ReplaceAll(req.Text, "\r\n", "\n"))
	switch {
	case text == "":
		return "", "", fmt.Errorf("text: %w: the note is empty", timeline.ErrInvalid)
	case utf8.RuneCountInString(text) > MaxNoteTextChars:
		return "", "", fmt.Errorf("text: %w: at most %d characters, got %d", timeline.ErrInvalid, MaxNoteTextChars, utf8.RuneCountInString(text))
	case !utf8.ValidString(text) || strings.ContainsFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
		return "", "", fmt.Errorf("text: %w: control characters or invalid UTF-8", timeline.ErrInvalid)
	}
	return role, text, nil
}

// lintResult is what the lint endpoints answer.
type lintResult struct {
	Findings []lint.Finding `json:"findings"`
	Warnings int            `json:"warnings"`
	Hints    int            `json:"hints"`
	// Truncated says the text had more than lint.MaxFindings findings; the first are listed.
	Truncated bool `json:"truncated,omitempty"`
}

func newLintResult(fs []lint.Finding) lintResult {
	r := lintResult{Findings: fs}
	if len(fs) > lint.MaxFindings {
		r.Findings, r.Truncated = fs[:lint.MaxFindings], true
	}
	for _, f := range r.Findings {
		if f.Severity == lint.SeverityHint {
			r.Hints++
		} else {
			r.Warnings++
		}
	}
	return r
}

// lintRequest is POST /api/v1/lint as JSON.
type lintRequest struct {
	Text string `json:"text"`
	// Format is "markdown" (default: front matter, code and comments skipped) or "text".
	Format string `json:"format"`
}

// lintText is POST /api/v1/lint: a text/markdown, text/plain or JSON body in, findings out. It
// stores nothing, so reading access suffices.
func (s *Server) lintText(c echo.Context) error {
	text, markdown, err := readLintBody(c)
	if err != nil {
		return err
	}
	return s.answerLint(c, text, markdown, "lint")
}

// lintPostmortem lints a postmortem's file (GET) or a candidate new content for it (POST, before
// saving), as Markdown, and flags where it names the incident's known participants (without
// repeating the names). The file is never changed.
func (s *Server) lintPostmortem(c echo.Context) error {
	id := c.Param("id")
	doc, err := s.opts.Postmortems.Library.Get(id)
	if err != nil {
		return err
	}
	text := string(doc.Content)
	if c.Request().Method == http.MethodPost {
		if text, _, err = readLintBody(c); err != nil {
			return err
		}
	}
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	people, _, err := s.peopleOf(ctx, id) // a draft whose incident expired: addresses only
	if err != nil {
		return err
	}
	fs := slices.DeleteFunc(s.notes().linter.Markdown(text), func(f lint.Finding) bool { return f.Rule == "email-address" })
	fs = append(fs, lint.Names(text, people)...)
	fs = append(fs, actions.Parser{People: people}.Lint([]byte(text))...)
	slices.SortStableFunc(fs, func(a, b lint.Finding) int { return a.Offset - b.Offset })
	return s.answerFindings(c, fs, "postmortem")
}

func (s *Server) answerLint(c echo.Context, text string, markdown bool, origin string) error {
	n := s.notes()
	var res lint.Result
	if markdown {
		res = n.linter.MarkdownResult(text)
	} else {
		res = n.linter.TextResult(text)
	}
	if res.Truncated {
		out := newLintResult(res.Findings)
		out.Truncated = true
		for _, f := range res.Findings {
			n.flags.WithLabelValues(f.Rule, origin).Inc()
		}
		return c.JSON(http.StatusOK, out)
	}
	return s.answerFindings(c, res.Findings, origin)
}

func (s *Server) answerFindings(c echo.Context, fs []lint.Finding, origin string) error {
	n := s.notes()
	for _, f := range fs {
		n.flags.WithLabelValues(f.Rule, origin).Inc()
	}
	return c.JSON(http.StatusOK, newLintResult(fs))
}

func readLintBody(c echo.Context) (text string, markdown bool, err error) {
	r := c.Request()
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	b, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, maxLintBody))
	if err != nil {
		return "", false, bodyError("lint", err)
	}
	switch mt {
	case "text/markdown", "text/x-markdown":
		markdown = true
	case echo.MIMETextPlain:
	case echo.MIMEApplicationJSON:
		var req lintRequest
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return "", false, bodyError("lint", err)
		}
		switch req.Format {
		case "", "markdown":
			markdown = true
		case "text":
		default:
			return "", false, fmt.Errorf("format: %w: want markdown or text, got %q", timeline.ErrInvalid, req.Format)
		}
		b = []byte(req.Text)
	default:
		return "", false, echo.NewHTTPError(http.StatusUnsupportedMediaType,
			"lint takes text/markdown, text/plain or application/json ({\"text\": ...})")
	}
	if !utf8.Valid(b) {
		return "", false, fmt.Errorf("lint: %w: the text is not UTF-8", timeline.ErrInvalid)
	}
	return string(b), markdown, nil
}

// Access control.

// authMethod is how a request proved it may write.
type authMethod int

const (
	authNone   authMethod = iota
	authOpen              // no write token or proxy header configured
	authBearer            // Authorization: Bearer <write token>: not subject to CSRF checks
	authCookie            // the session cookie holds the write token
	authProxy             // the authenticating proxy's header
)

// requireWrite lets a request through only if it may write: the write token as a bearer token, the
// session cookie or the proxy's header (or anyone, when none is configured). Form posts and other
// requests a browser could send cross-site without a bearer token must also come from this origin
// and carry the CSRF token.
func (s *Server) requireWrite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		n := s.notes()
		how := n.writeAuth(c.Request())
		if how == authNone {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="postmortemd"`)
			return echo.NewHTTPError(http.StatusUnauthorized,
				"writing needs Authorization: Bearer <write token> (POSTMORTEMD_WRITE_TOKEN)")
		}
		if how != authBearer {
			if err := n.csrf.check(c); err != nil {
				n.log.Warn("write refused: CSRF check failed", "path", c.Request().URL.Path, "err", err)
				return echo.NewHTTPError(http.StatusForbidden, "cross-site request refused: "+err.Error())
			}
		}
		return next(c)
	}
}

func (n *noteState) writeAuth(r *http.Request) authMethod {
	if n.o.WriteToken != "" {
		if tokenEqual(bearer(r), n.o.WriteToken) {
			return authBearer
		}
		if ck, err := r.Cookie(tokenCookie); err == nil && validSession(ck.Value, n.o.WriteToken, n.now()) {
			return authCookie
		}
	}
	if n.o.WriteAuthHeader != "" && strings.TrimSpace(r.Header.Get(n.o.WriteAuthHeader)) != "" {
		return authProxy
	}
	if n.o.WritesOpen() {
		return authOpen
	}
	return authNone
}

// requireRead guards everything but health, metrics, webhooks and signing in when a read token is
// configured: the read or write token as a bearer token or in the session cookie, or the proxy's
// header.
func (s *Server) requireRead(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := c.Request().URL.Path
		// Assets are the pages' embedded CSS and script: no data, and the sign-in page needs them.
		if strings.HasPrefix(p, "/-/") || p == "/metrics" || strings.HasPrefix(p, "/webhook/") || p == sessionPath ||
			strings.HasPrefix(p, assetsPrefix) {
			return next(c)
		}
		n := s.notes()
		r := c.Request()
		tok, session := bearer(r), ""
		if ck, err := r.Cookie(tokenCookie); err == nil {
			session = ck.Value
		}
		ok := tokenEqual(tok, n.o.ReadToken) || tokenEqual(tok, n.o.WriteToken) ||
			validSession(session, n.o.ReadToken, n.now()) || validSession(session, n.o.WriteToken, n.now()) ||
			(n.o.WriteAuthHeader != "" && strings.TrimSpace(r.Header.Get(n.o.WriteAuthHeader)) != "")
		if !ok {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="postmortemd"`)
			return echo.NewHTTPError(http.StatusUnauthorized,
				"reading needs Authorization: Bearer <read token> (POSTMORTEMD_READ_TOKEN), or sign in at POST "+sessionPath)
		}
		return next(c)
	}
}

// signIn is POST /api/v1/session: a token (form field or JSON {"token": ...}) that is the read or
// write token is kept in an HttpOnly cookie, so a browser can read and post forms. A form post is
// redirected to its "next" path (same site only).
func (s *Server) signIn(c echo.Context) error {
	n := s.notes()
	if err := n.csrf.sameOrigin(c.Request()); err != nil {
		return echo.NewHTTPError(http.StatusForbidden, "cross-site request refused: "+err.Error())
	}
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, 16<<10)
	var tok, next string
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if mt == echo.MIMEApplicationJSON {
		var req struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return bodyError("session", err)
		}
		tok = req.Token
	} else {
		tok, next = r.PostFormValue("token"), r.PostFormValue("next")
	}
	if tok == "" || !(tokenEqual(tok, n.o.ReadToken) || tokenEqual(tok, n.o.WriteToken)) {
		return echo.NewHTTPError(http.StatusUnauthorized, "unknown token")
	}
	c.SetCookie(&http.Cookie{Name: tokenCookie, Value: sessionValue(tok, n.now()), Path: "/", HttpOnly: true,
		Secure: n.o.SecureCookies || secureRequest(r), SameSite: http.SameSiteLaxMode, MaxAge: int(sessionLifetime / time.Second)})
	if mt == echo.MIMEApplicationJSON {
		return c.NoContent(http.StatusNoContent)
	}
	if !localPath(next) {
		next = "/incidents"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// signOut is DELETE /api/v1/session.
func (s *Server) signOut(c echo.Context) error {
	c.SetCookie(&http.Cookie{Name: tokenCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1,
		Secure: s.notes().o.SecureCookies || secureRequest(c.Request()), SameSite: http.SameSiteLaxMode})
	return c.NoContent(http.StatusNoContent)
}

// sessionValue is what the session cookie keeps for a token signed in at issued: the time and an
// HMAC of it keyed by the token, so the cookie does not carry the token itself and expires;
// "" for no token.
func sessionValue(token string, issued time.Time) string {
	if token == "" {
		return ""
	}
	at := strconv.FormatInt(issued.Unix(), 10)
	return at + "." + sessionMAC(token, at)
}

// sessionLifetime is how long a sign-in lasts; the cookie says when it was issued, so a leaked
// cookie stops working then even if the token is not rotated.
const sessionLifetime = 30 * 24 * time.Hour

func sessionMAC(token, at string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("postmortemd session " + at))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validSession reports whether a session cookie was issued for token less than sessionLifetime ago.
func validSession(cookie, token string, now time.Time) bool {
	at, mac, ok := strings.Cut(cookie, ".")
	if token == "" || !ok {
		return false
	}
	unix, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return false
	}
	issued := time.Unix(unix, 0)
	if now.Sub(issued) > sessionLifetime || issued.Sub(now) > 5*time.Minute {
		return false
	}
	return tokenEqual(mac, sessionMAC(token, at))
}

func bearer(r *http.Request) string {
	h := r.Header.Get(echo.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func tokenEqual(got, want string) bool {
	if want == "" || got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CSRF issues and checks the tokens that make form posts safe from other sites: a signed
// double-submit cookie. The browser keeps a random value in an HttpOnly, SameSite=Strict cookie;
// the form carries an HMAC of it, which another site can neither read nor forge. Requests must
// also come from this origin (Sec-Fetch-Site, or Origin against Host).
type CSRF struct {
	key []byte
	// secure marks its cookie Secure on every response (NoteOptions.SecureCookies).
	secure bool
}

// NewCSRF returns a CSRF whose key is derived from secret (pass the write token, so replicas
// sharing it accept each other's forms). An empty secret picks a random key: tokens then last as
// long as the process.
func NewCSRF(secret string) *CSRF {
	if secret == "" {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		return &CSRF{key: key}
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("postmortemd csrf key"))
	return &CSRF{key: m.Sum(nil)}
}

// Token returns the token a form rendered for c must carry in its csrf_token field (or an
// X-CSRF-Token header), setting the browser's cookie if it has none.
func (x *CSRF) Token(c echo.Context) string {
	if ck, err := c.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
		return x.sign(ck.Value)
	}
	v := randomToken(24)
	c.SetCookie(&http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true,
		Secure: x.secure || secureRequest(c.Request()), SameSite: http.SameSiteStrictMode})
	// A second call while rendering the same response must agree with the cookie just set.
	c.Request().AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	return x.sign(v)
}

func (x *CSRF) sign(v string) string {
	m := hmac.New(sha256.New, x.key)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// check accepts a request from this origin that, if another site could have made a browser send
// it without asking first (a POST form or text/plain body), carries a token matching its cookie.
// JSON bodies and other methods need a CORS preflight, which this server never grants.
func (x *CSRF) check(c echo.Context) error {
	r := c.Request()
	if err := x.sameOrigin(r); err != nil {
		return err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch {
	case r.Method != http.MethodPost:
		return nil
	case mt == echo.MIMEApplicationForm || mt == echo.MIMEMultipartForm:
		r.Body = http.MaxBytesReader(c.Response(), r.Body, maxLintBody)
	case mt == "" || mt == echo.MIMETextPlain:
	default:
		return nil
	}
	ck, err := r.Cookie(csrfCookie)
	if err != nil || ck.Value == "" {
		return errors.New("no CSRF cookie: this looks like a browser form post (Content-Type " + mt +
			"); API clients send JSON with Content-Type: application/json (and the write token, if set); in a browser, reload the page and post again")
	}
	tok := r.Header.Get(csrfHeader)
	if tok == "" {
		tok = r.PostFormValue(csrfField)
	}
	if tok == "" {
		return errors.New("no CSRF token: reload the page and post again")
	}
	if !hmac.Equal([]byte(tok), []byte(x.sign(ck.Value))) {
		return errors.New("the CSRF token does not match: reload the page and post again")
	}
	return nil
}

// sameOrigin refuses requests a browser marks as cross-site, or whose Origin is not this host.
func (x *CSRF) sameOrigin(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("Sec-Fetch-Site is %q", r.Header.Get("Sec-Fetch-Site"))
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || origin == "null" || !strings.EqualFold(u.Host, r.Host) {
		return fmt.Errorf("origin %q is not %q", origin, r.Host)
	}
	return nil
}

// localPath reports whether next is a path on this site that a redirect may go to: absolute, with
// no scheme or host, and none of the characters browsers drop or turn into a slash (tabs, line
// breaks, backslashes), which would make "/\t/evil.example" a link to another host.
func localPath(next string) bool {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return false
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == "" && !strings.HasPrefix(u.Path, "//")
}
