package main

import (
	"time"

	"github.com/postmortemd/postmortemd/internal/web"
)

// libraryOptions wires the reading list and feeds: their links use the external URL the review
// invitations use (review base_url / --review-base-url), else the request's host.
func libraryOptions(cfg Config) web.LibraryOptions {
	return web.LibraryOptions{BaseURL: cfg.Review.BaseURL, Now: clock()}
}

// insightsOptions wires the insights: the service's time zone (the review's, review-timezone)
// decides when an action item is overdue.
func insightsOptions(cfg Config) web.InsightsOptions {
	loc := time.UTC
	if tz := cfg.Review.TimeZone; tz != "" {
		if l, err := time.LoadLocation(tz); err == nil { // Validate has already named a bad zone
			loc = l
		}
	}
	return web.InsightsOptions{Location: loc, Now: clock()}
}
