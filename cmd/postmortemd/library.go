package main

import (
	"github.com/postmortemd/postmortemd/internal/web"
)

// libraryOptions wires the reading list and feeds: their links use the external URL the review
// invitations use (review base_url / --review-base-url), else the request's host.
func libraryOptions(cfg Config) web.LibraryOptions {
	return web.LibraryOptions{BaseURL: cfg.Review.BaseURL, Now: clock()}
}

// insightsOptions wires the insights: action items are overdue, and done by their due date, in the
// same time zone as the action-item list and reminders use.
func insightsOptions(cfg Config) web.InsightsOptions {
	return web.InsightsOptions{Location: cfg.actionItemsLocation(), Now: clock()}
}
