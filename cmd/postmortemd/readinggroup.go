package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/readinggroup"
	"github.com/postmortemd/postmortemd/drafts/review"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// The reading group's needs, satisfied by the Redis store and the group.
var (
	_ readinggroup.Store  = (*redisstore.Store)(nil)
	_ web.ReadingGroup    = (*readinggroup.Group)(nil)
	_ readinggroup.Claims = (*redisstore.Store)(nil)
)

// readingGroupSweep is how often a replica checks whether a session started, to record it.
const readingGroupSweep = time.Minute

// startReadingGroup builds the reading group when the configuration has one (nil otherwise) and
// records each session when it starts, and sends each session's invitation through the review's
// transports (CalDAV, e-mail) once; stop ends the sweep and waits.
func startReadingGroup(cfg Config, store *redisstore.Store, files drafts.Postmortems, transports []review.Transport, log *slog.Logger) (*readinggroup.Group, func(), error) {
	if !cfg.ReadingGroup.Enabled() {
		return nil, func() {}, nil
	}
	g, err := readinggroup.New(readinggroup.Options{Config: cfg.ReadingGroup, Postmortems: files, Store: store,
		BaseURL: cfg.Review.BaseURL, Lang: i18n.Lang(cfg.DraftLang), Now: clock(), Logger: log})
	if err != nil {
		return nil, nil, err
	}
	delivery := readinggroup.Delivery{Transports: transports, Claims: store, Organizer: cfg.Review.Organizer}
	interval := readingGroupSweep
	if clockHook != nil {
		interval = 200 * time.Millisecond // tests move the clock and want to see the result soon
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if _, err := g.Record(ctx); err != nil && ctx.Err() == nil {
				log.Warn("reading group: recording the session failed; retrying", "component", "readinggroup", "err", err)
			}
			if err := g.Deliver(ctx, delivery); err != nil && ctx.Err() == nil {
				log.Warn("reading group: delivering the invitation failed; retrying", "component", "readinggroup", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	next, ok, err := g.Next(ctx)
	if err == nil && ok {
		log.Info("reading group on", "next_session", next.Start, "time_zone", next.TimeZone, "postmortems", len(next.Postmortems))
	}
	return g, func() { cancel(); <-done }, nil
}
