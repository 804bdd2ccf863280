package web

import (
	"github.com/labstack/echo/v4"

	"github.com/postmortemd/postmortemd/drafts"
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
}

// postmortemRoutes registers the postmortems API and pages (issue #4).
func (s *Server) postmortemRoutes(e *echo.Echo, api *echo.Group) {}
