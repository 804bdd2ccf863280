package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/lint"
	"github.com/postmortemd/postmortemd/timeline"
)

// Postmortems is what the postmortem routes need from the drafts directory (drafts.Store).
type Postmortems interface {
	// List returns the postmortems matching q, newest first.
	List(q drafts.Query) ([]drafts.Summary, error)
	// Get returns one postmortem, or an error wrapping timeline.ErrNotFound.
	Get(id string) (drafts.Document, error)
	// Save replaces a postmortem if ifMatch is its current ETag; errors wrap timeline.ErrPrecondition,
	// ErrInvalid or ErrNotFound.
	Save(id string, content []byte, ifMatch string) (drafts.Document, error)
}

// PostmortemOptions configures the postmortems API and pages (issue #4).
type PostmortemOptions struct {
	// Library is the drafts directory; nil leaves the postmortem routes out.
	Library Postmortems
	// MaxBodySize bounds an edit sent with PUT; larger gets 413. Default 4 MiB.
	MaxBodySize int64
}

const defaultPostmortemBody = 4 << 20

// postmortemRoutes registers the postmortems API (issue #4). The HTML pages are in pages.go.
func (s *Server) postmortemRoutes(e *echo.Echo, api *echo.Group) {
	if s.opts.Postmortems.Library == nil {
		return
	}
	api.GET("/postmortems", s.listPostmortems)
	api.GET("/postmortems/:id", s.getPostmortem)
	api.HEAD("/postmortems/:id", s.getPostmortem)
	api.PUT("/postmortems/:id", s.putPostmortem, s.requireWrite) // notes.go: the write token
}

// postmortemList is GET /api/v1/postmortems.
type postmortemList struct {
	Postmortems []postmortemItem `json:"postmortems"`
	Total       int              `json:"total"`
}

// postmortemItem is one postmortem in a listing, with where to read it.
type postmortemItem struct {
	drafts.Summary
	URL     string `json:"url"`
	HTMLURL string `json:"html_url"`
}

func postmortemItemOf(sum drafts.Summary) postmortemItem {
	return postmortemItem{Summary: sum, URL: "/api/v1/postmortems/" + url.PathEscape(sum.ID), HTMLURL: "/postmortems/" + url.PathEscape(sum.ID)}
}

// postmortemQuery reads the API listing's filters, strictly (the HTML list in pages.go reads its own
// and shows them back in its form).
func postmortemQuery(c echo.Context) (drafts.Query, error) {
	q := drafts.Query{Status: c.QueryParam("status"), Service: c.QueryParam("service"), Severity: c.QueryParam("severity"),
		Tag: c.QueryParam("tag"), Text: c.QueryParam("q")}
	if q.Status != "" && !slices.Contains(drafts.Statuses, q.Status) {
		return q, fmt.Errorf("status: %w: want one of %s, got %q", timeline.ErrInvalid, strings.Join(drafts.Statuses, ", "), q.Status)
	}
	if v := c.QueryParam("recommended"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return q, fmt.Errorf("recommended: %w: want true or false, got %q", timeline.ErrInvalid, v)
		}
		q.Recommended = &b
	}
	return q, nil
}

func (s *Server) listPostmortems(c echo.Context) error {
	q, err := postmortemQuery(c)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", defaultListLimit, 1, maxListLimit)
	if err != nil {
		return err
	}
	offset, err := intParam(c, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	all, err := s.opts.Postmortems.Library.List(q)
	if err != nil {
		return fmt.Errorf("list postmortems: %w", err)
	}
	out := postmortemList{Postmortems: []postmortemItem{}, Total: len(all)}
	for i := offset; i < len(all) && i < offset+limit; i++ {
		out.Postmortems = append(out.Postmortems, postmortemItemOf(all[i]))
	}
	return c.JSON(http.StatusOK, out)
}

// getPostmortem serves the Markdown with its ETag; If-None-Match with the current ETag gets 304.
func (s *Server) getPostmortem(c echo.Context) error {
	doc, err := s.opts.Postmortems.Library.Get(c.Param("id"))
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("ETag", doc.ETag)
	h.Set("Cache-Control", "no-cache")
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && etagListHas(inm, doc.ETag) {
		return c.NoContent(http.StatusNotModified)
	}
	if c.Request().Method == http.MethodHead {
		h.Set("Content-Type", "text/markdown; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(doc.Content)))
		return c.NoContent(http.StatusOK)
	}
	return c.Blob(http.StatusOK, "text/markdown; charset=utf-8", doc.Content)
}

// putPostmortem saves an edit. If-Match is required (428 without it), so an edit made on a stale
// copy gets 412 instead of silently overwriting someone else's.
func (s *Server) putPostmortem(c echo.Context) error {
	ifMatch := c.Request().Header.Get("If-Match")
	if ifMatch == "" {
		return echo.NewHTTPError(http.StatusPreconditionRequired,
			"If-Match is required: send the ETag from GET /api/v1/postmortems/{id}, so no one's edit is lost")
	}
	limit := s.opts.Postmortems.MaxBodySize
	if limit <= 0 {
		limit = defaultPostmortemBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the postmortem is larger than %d bytes", limit))
	}
	if err != nil {
		return fmt.Errorf("read postmortem body: %w", err)
	}
	id := c.Param("id")
	body, replaced, err := s.withoutNames(c, id, body)
	if err != nil {
		return err
	}
	doc, err := s.opts.Postmortems.Library.Save(id, body, ifMatch)
	if err != nil {
		if errors.Is(err, timeline.ErrPrecondition) || errors.Is(err, timeline.ErrInvalid) {
			s.log.Info("postmortem edit refused", "postmortem", id, "err", err)
		}
		return err
	}
	s.log.Info("postmortem saved", "postmortem", id, "etag", doc.ETag, "names_replaced", replaced)
	c.Response().Header().Set("ETag", doc.ETag)
	return c.JSON(http.StatusOK, savedPostmortem{postmortemItem: postmortemItemOf(doc.Summary), NamesReplaced: replaced})
}

// savedPostmortem answers a PUT.
type savedPostmortem struct {
	postmortemItem
	// NamesReplaced counts the participants' names and e-mail addresses replaced by roles before the
	// edit was stored: the file differs from what was sent, so read it again before the next edit.
	NamesReplaced int `json:"names_replaced"`
}

// withoutNames replaces the incident's participants' names and any e-mail address in an edited
// postmortem by roles, as notes are: a name must never reach the draft. A postmortem whose
// incident the store no longer has is stored as sent (its people are not known any more).
func (s *Server) withoutNames(c echo.Context, id string, body []byte) ([]byte, int, error) {
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	people, found, err := s.peopleOf(ctx, id)
	if err != nil {
		return nil, 0, fmt.Errorf("keep names out of postmortem %s: %w", id, err)
	}
	if !found {
		return body, 0, nil
	}
	out, n := lint.ReplaceNames(string(body), people)
	return []byte(out), n, nil
}

func etagListHas(header, etag string) bool {
	if header == "*" {
		return true
	}
	for _, t := range strings.Split(header, ",") {
		if t = strings.TrimSpace(t); t == etag || t == "W/"+etag {
			return true
		}
	}
	return false
}
