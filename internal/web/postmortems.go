package web

import "github.com/labstack/echo/v4"

// PostmortemOptions configures the postmortems API and pages (issue #4).
type PostmortemOptions struct{}

// postmortemRoutes registers the postmortems API and pages (issue #4).
func (s *Server) postmortemRoutes(e *echo.Echo, api *echo.Group) {}
