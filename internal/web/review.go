package web

import "github.com/labstack/echo/v4"

// ReviewOptions configures the review meeting endpoints (issue #5).
type ReviewOptions struct{}

// reviewRoutes registers the review meeting endpoints (issue #5).
func (s *Server) reviewRoutes(e *echo.Echo, api *echo.Group) {}
