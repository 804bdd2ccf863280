package web

import "github.com/labstack/echo/v4"

// nosniff keeps browsers from guessing a response's type: the raw Markdown, the JSON API and the
// calendars carry people's text, which must never run as HTML or script. Set before the handler
// runs, so error responses carry it too.
func nosniff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
		return next(c)
	}
}
