package web

import "github.com/labstack/echo/v4"

// PageOptions configures the browser pages and the live event stream (issue #6).
type PageOptions struct{}

// pageRoutes registers the browser pages and the live event stream (issue #6).
func (s *Server) pageRoutes(e *echo.Echo, api *echo.Group) {}
