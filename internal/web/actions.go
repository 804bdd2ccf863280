package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/actions"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/timeline"
)

// ActionItemOptions configures the action-item API and page. They read the postmortems of
// PostmortemOptions.Library; without it the routes are left out.
type ActionItemOptions struct {
	// Location is the service's time zone: an item is overdue from the day after its due date
	// there. Default UTC.
	Location *time.Location
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxAttempts bounds how often a PATCH reapplies itself to a postmortem another edit changed
	// meanwhile. Default 5.
	MaxAttempts int
}

// actionItemState is the routes' state: where each item was last seen, so a PATCH reads one
// postmortem instead of all.
type actionItemState struct {
	mu    sync.Mutex
	where map[string]string // item id -> postmortem id
}

func (s *Server) actionOpts() ActionItemOptions {
	o := s.opts.ActionItems
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	return o
}

// actionItemRoutes registers GET /api/v1/action-items, PATCH /api/v1/action-items/{id} and the
// GET /action-items page.
func (s *Server) actionItemRoutes(e *echo.Echo, api *echo.Group) {
	if s.opts.Postmortems.Library == nil {
		return
	}
	s.actions = &actionItemState{where: map[string]string{}}
	api.GET("/action-items", s.listActionItems)
	api.PATCH("/action-items/:id", s.patchActionItem, s.requireWrite)
	e.GET("/action-items", s.actionItemsPage)
}

// listedItem is an item in a listing: the item and where to read its postmortem.
type listedItem struct {
	actions.Item
	PostmortemTitle string   `json:"postmortem_title"`
	Services        []string `json:"services"`
	URL             string   `json:"url"`
	HTMLURL         string   `json:"html_url"`
}

// MarshalJSON writes the item's fields and the listing's beside them.
func (l listedItem) MarshalJSON() ([]byte, error) {
	item, err := json.Marshal(l.Item)
	if err != nil {
		return nil, err
	}
	more, err := json.Marshal(struct {
		PostmortemTitle string   `json:"postmortem_title"`
		Services        []string `json:"services"`
		URL             string   `json:"url"`
		HTMLURL         string   `json:"html_url"`
	}{l.PostmortemTitle, l.Services, l.URL, l.HTMLURL})
	if err != nil {
		return nil, err
	}
	return append(append(bytes.TrimSuffix(item, []byte("}")), ','), more[1:]...), nil
}

// actionItemList is GET /api/v1/action-items.
type actionItemList struct {
	ActionItems []listedItem `json:"action_items"`
	Total       int          `json:"total"`
}

// actionFilter is the listing's filters; empty fields match everything.
type actionFilter struct {
	status     actions.Status
	owner      string
	overdue    *bool
	dueBefore  string
	service    string
	horizon    actions.Horizon
	postmortem string
}

func actionFilterOf(c echo.Context) (actionFilter, error) {
	f := actionFilter{owner: strings.TrimSpace(c.QueryParam("owner")), service: c.QueryParam("service"),
		postmortem: c.QueryParam("postmortem")}
	if v := c.QueryParam("status"); v != "" {
		if !slices.Contains(actions.Statuses, actions.Status(v)) {
			return f, fmt.Errorf("status: %w: want open, done or wont_do, got %q", timeline.ErrInvalid, v)
		}
		f.status = actions.Status(v)
	}
	if v := c.QueryParam("overdue"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, fmt.Errorf("overdue: %w: want true or false, got %q", timeline.ErrInvalid, v)
		}
		f.overdue = &b
	}
	if v := c.QueryParam("due_before"); v != "" {
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return f, fmt.Errorf("due_before: %w: want YYYY-MM-DD, got %q", timeline.ErrInvalid, v)
		}
		f.dueBefore = v
	}
	if v := c.QueryParam("horizon"); v != "" {
		if v != string(actions.HorizonShort) && v != string(actions.HorizonLong) {
			return f, fmt.Errorf("horizon: %w: want short or long, got %q", timeline.ErrInvalid, v)
		}
		f.horizon = actions.Horizon(v)
	}
	return f, nil
}

func (f actionFilter) matches(it actions.Item) bool {
	switch {
	case f.status != "" && it.Status != f.status,
		f.owner != "" && !strings.EqualFold(it.Owner, f.owner),
		f.overdue != nil && it.Overdue != *f.overdue,
		f.dueBefore != "" && (it.Due == "" || it.Due >= f.dueBefore),
		f.horizon != "" && it.Horizon != f.horizon:
		return false
	}
	return true
}

// collectItems reads the items of every postmortem matching q (or of one postmortem), filtered.
// A postmortem that cannot be read is logged and left out: one bad file never breaks the list.
func (s *Server) collectItems(f actionFilter) ([]listedItem, error) {
	o := s.actionOpts()
	lib := s.opts.Postmortems.Library
	sums, err := lib.List(drafts.Query{Service: f.service})
	if err != nil {
		return nil, err
	}
	now := o.Now()
	p := actions.Parser{People: s.opts.Notes.People}
	out := []listedItem{}
	seen := map[string]string{}
	for _, sum := range sums {
		if f.postmortem != "" && sum.ID != f.postmortem {
			continue
		}
		doc, err := lib.Get(sum.ID)
		if errors.Is(err, timeline.ErrNotFound) {
			continue // removed since the listing
		}
		if err != nil {
			s.log.Warn("action items: postmortem not readable", "postmortem", sum.ID, "err", err)
			continue
		}
		items, err := p.Parse(sum.ID, doc.Content, now, o.Location)
		if err != nil {
			s.log.Warn("action items: postmortem not parsed", "postmortem", sum.ID, "err", err)
			continue
		}
		for _, it := range items {
			seen[it.ID] = sum.ID
			if f.matches(it) {
				out = append(out, listedItem{Item: it, PostmortemTitle: doc.Title, Services: nonNilStrings(doc.Services),
					URL: "/api/v1/postmortems/" + url.PathEscape(sum.ID), HTMLURL: "/postmortems/" + url.PathEscape(sum.ID)})
			}
		}
	}
	s.actions.mu.Lock()
	for id, pm := range seen {
		s.actions.where[id] = pm
	}
	s.actions.mu.Unlock()
	sortItems(out)
	return out, nil
}

// sortItems puts overdue items first, then orders by due date (none last), postmortem and row.
func sortItems(items []listedItem) {
	slices.SortStableFunc(items, func(a, b listedItem) int {
		if a.Overdue != b.Overdue {
			if a.Overdue {
				return -1
			}
			return 1
		}
		if a.Due != b.Due {
			switch {
			case a.Due == "":
				return 1
			case b.Due == "":
				return -1
			}
			return strings.Compare(a.Due, b.Due)
		}
		if c := strings.Compare(a.PostmortemID, b.PostmortemID); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) listActionItems(c echo.Context) error {
	f, err := actionFilterOf(c)
	if err != nil {
		return err
	}
	items, err := s.collectItems(f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, actionItemList{ActionItems: items, Total: len(items)})
}

// actionPatch is PATCH /api/v1/action-items/{id}: any of status, due (null removes it), owner,
// reason.
type actionPatch struct {
	Status *string          `json:"status"`
	Due    *json.RawMessage `json:"due"`
	Owner  *string          `json:"owner"`
	Reason *string          `json:"reason"`
}

const maxActionPatchBody = 64 << 10

func (s *Server) patchActionItem(c echo.Context) error {
	id := c.Param("id")
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxActionPatchBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var body actionPatch
	if err := dec.Decode(&body); err != nil {
		return bodyError("action item", err)
	}
	var patch actions.Patch
	if body.Status != nil {
		st := actions.Status(*body.Status)
		patch.Status = &st
	}
	if body.Due != nil {
		due := ""
		if string(*body.Due) != "null" {
			if err := json.Unmarshal(*body.Due, &due); err != nil {
				return fmt.Errorf("due: %w: want a date as \"YYYY-MM-DD\" or null", timeline.ErrInvalid)
			}
			if due == "" {
				return fmt.Errorf("due: %w: want a date as \"YYYY-MM-DD\" or null, got \"\"", timeline.ErrInvalid)
			}
		}
		patch.Due = &due
	}
	patch.Owner, patch.Reason = body.Owner, body.Reason
	if patch == (actions.Patch{}) {
		return fmt.Errorf("action item: %w: send at least one of status, due, owner, reason", timeline.ErrInvalid)
	}
	pm, err := s.postmortemOfItem(id)
	if err != nil {
		return err
	}
	ctx, cancel := s.storeCtx(c)
	defer cancel()
	people, found, err := s.peopleOf(ctx, pm)
	if err != nil {
		return fmt.Errorf("keep names out of postmortem %s: %w", pm, err)
	}
	if !found {
		people = s.opts.Notes.People
	}
	o := s.actionOpts()
	p := actions.Parser{People: people}
	lib := s.opts.Postmortems.Library
	// Read, change, save if nobody changed the file meanwhile; otherwise read the new version and
	// apply the change to it, so a concurrent edit and this one both stay.
	for attempt := 1; ; attempt++ {
		doc, err := lib.Get(pm)
		if err != nil {
			return err
		}
		out, item, err := p.Apply(pm, doc.Content, id, patch, o.Now(), o.Location)
		if err != nil {
			return err
		}
		if !bytes.Equal(out, doc.Content) {
			saved, err := lib.Save(pm, out, doc.ETag)
			if errors.Is(err, timeline.ErrPrecondition) && attempt < o.MaxAttempts {
				s.log.Info("action item: postmortem changed meanwhile; applying the change again", "postmortem", pm, "item", id, "attempt", attempt)
				continue
			}
			if errors.Is(err, timeline.ErrPrecondition) {
				// Many edits in a row won every time: the client may retry; nothing was lost.
				return echo.NewHTTPError(http.StatusServiceUnavailable, "the postmortem kept changing while the action item was written; retry").SetInternal(err)
			}
			if err != nil {
				return err
			}
			c.Response().Header().Set("ETag", saved.ETag)
			s.log.Info("action item changed", "postmortem", pm, "item", id, "etag", saved.ETag)
		}
		return c.JSON(http.StatusOK, listedItem{Item: item, PostmortemTitle: doc.Title, Services: nonNilStrings(doc.Services),
			URL: "/api/v1/postmortems/" + url.PathEscape(pm), HTMLURL: "/postmortems/" + url.PathEscape(pm)})
	}
}

// postmortemOfItem finds the postmortem holding item id: where it was last seen, or, when it was
// not there, by reading them all.
func (s *Server) postmortemOfItem(id string) (string, error) {
	s.actions.mu.Lock()
	pm, ok := s.actions.where[id]
	s.actions.mu.Unlock()
	if ok {
		if doc, err := s.opts.Postmortems.Library.Get(pm); err == nil {
			if items, err := actions.Parse(pm, doc.Content, time.Time{}, nil); err == nil &&
				slices.ContainsFunc(items, func(it actions.Item) bool { return it.ID == id }) {
				return pm, nil
			}
		}
	}
	if _, err := s.collectItems(actionFilter{}); err != nil {
		return "", err
	}
	s.actions.mu.Lock()
	pm, ok = s.actions.where[id]
	s.actions.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w: no postmortem has the action item %q", timeline.ErrNotFound, id)
	}
	return pm, nil
}

// actionItemsPageData is the /action-items page: open items by owner role.
type actionItemsPageData struct {
	Title   string
	Groups  []actionGroup
	Overdue int
	Total   int
	Today   string
}

type actionGroup struct {
	Owner   string
	Items   []pageItem
	Overdue int
}

// pageItem is an item on the page, with its action rendered from Markdown.
type pageItem struct {
	listedItem
	ActionHTML template.HTML
}

// inlineMarkdown renders a table cell's Markdown (emphasis, code, links) as sanitised inline HTML.
func inlineMarkdown(s string) template.HTML {
	var b bytes.Buffer
	if err := markdown.Convert([]byte(s), &b); err != nil {
		return template.HTML(template.HTMLEscapeString(s)) // #nosec G203 -- escaped
	}
	out := strings.TrimSpace(b.String())
	out = strings.TrimSuffix(strings.TrimPrefix(out, "<p>"), "</p>")
	return template.HTML(sanitizer.Sanitize(out)) // #nosec G203 -- sanitised just now
}

// actionItemsPage is GET /action-items: the open items of every postmortem (overdue first),
// grouped by owner role; items with no owner form their own group, last.
func (s *Server) actionItemsPage(c echo.Context) error {
	items, err := s.collectItems(actionFilter{status: actions.StatusOpen})
	if err != nil {
		return err
	}
	o := s.actionOpts()
	data := actionItemsPageData{Title: i18n.For(s.pages.lang(c.Request())).T("ui.action_items"), Total: len(items), Today: o.Now().In(o.Location).Format(time.DateOnly)}
	byOwner := map[string]int{}
	for _, it := range items {
		key := strings.ToLower(it.Owner)
		i, ok := byOwner[key]
		if !ok {
			i = len(data.Groups)
			byOwner[key] = i
			data.Groups = append(data.Groups, actionGroup{Owner: it.Owner})
		}
		data.Groups[i].Items = append(data.Groups[i].Items, pageItem{listedItem: it, ActionHTML: inlineMarkdown(it.Action)})
		if it.Overdue {
			data.Groups[i].Overdue++
			data.Overdue++
		}
	}
	slices.SortStableFunc(data.Groups, func(a, b actionGroup) int {
		switch {
		case a.Owner == "" && b.Owner != "":
			return 1
		case b.Owner == "" && a.Owner != "":
			return -1
		case a.Overdue != b.Overdue:
			return b.Overdue - a.Overdue
		}
		return strings.Compare(strings.ToLower(a.Owner), strings.ToLower(b.Owner))
	})
	return s.pages.render(c, "action-items", data, 8<<10)
}

func init() {
	for lang, pages := range mustParsePages("action-items") {
		maps.Copy(pageTemplates[lang], pages)
	}
}
