package main

import (
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/internal/web"
)

// libraryOptions wires the reading list and feeds: their links use the external URL the review
// invitations use (review base_url / --review-base-url), else the request's host; the feeds speak
// the team's language (--draft-lang), as its drafts and invitations do.
func libraryOptions(cfg Config) web.LibraryOptions {
	return web.LibraryOptions{BaseURL: cfg.Review.BaseURL, Now: clock(), Lang: i18n.Lang(cfg.DraftLang)}
}

// insightsOptions wires the insights: action items are overdue, and done by their due date, in the
// same time zone as the action-item list and reminders use.
func insightsOptions(cfg Config) web.InsightsOptions {
	return web.InsightsOptions{Location: cfg.actionItemsLocation(), Now: clock()}
}
