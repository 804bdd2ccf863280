// Command postmortemd receives Alertmanager webhooks, keeps each incident's fact-only timeline in
// Redis, serves it over HTTP and writes a draft postmortem for each resolved incident.
//
// This is the only place that reads the environment, chooses the Redis (or starts the embedded one),
// wires concrete stores into their consumers and handles signals.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/i18n"
	"github.com/postmortemd/postmortemd/internal/web"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
	"github.com/postmortemd/postmortemd/timeline/redisstore"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// The consumers' interfaces, satisfied by the Redis store.
var (
	_ timeline.Recorder = (*redisstore.Store)(nil)
	_ timeline.Reader   = (*redisstore.Store)(nil)
	_ web.Pinger        = (*redisstore.Store)(nil)
	_ web.Webhooks      = (*receiver.Handler)(nil)

	_ timeline.Participants = (*redisstore.Store)(nil)
	_ timeline.Annotator    = (*redisstore.Store)(nil)
	_ receiver.EnrichStore  = (*redisstore.Store)(nil)

	_ drafts.Records           = (*redisstore.Store)(nil)
	_ web.Postmortems          = (drafts.Postmortems)(nil)
	_ drafts.Postmortems       = (*drafts.SharedStore)(nil)
	_ drafts.ExpiringTimelines = (*redisstore.Store)(nil)
	_ drafts.PostmortemGetter  = (drafts.Postmortems)(nil)
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "lint" { // a subcommand with its own exit codes (0, 1, 2)
		os.Exit(runLint(os.Args[2:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "export" { // export.go
		os.Exit(runExport(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "demo" { // demo.go: the whole loop on an in-memory store
		if err := runDemo(ctx, os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "postmortemd demo:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "postmortemd:", err)
		os.Exit(1)
	}
}

// run starts the service and blocks until ctx is done, then shuts down in order: stop accepting,
// finish in-flight requests (bounded by the shutdown timeout), close the store.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stdout)
	switch {
	case errors.Is(err, errHelp):
		return nil
	case errors.Is(err, errVersion):
		fmt.Fprintf(stdout, "postmortemd %s\n", version)
		return nil
	case err != nil:
		return err
	}
	// The port first: a taken port is one clear line, before any warning and before anything is
	// created (the drafts directory, the embedded store).
	ln, err := listen(cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close() // Serve closes it too; this covers the returns before serving starts
	log := newLogger(cfg, stderr)
	renderer, err := newRenderer(cfg)
	if err != nil {
		return err
	}
	if cfg.PostmortemsStore == "files" || cfg.mirrorDir() != "" {
		if err := prepareDraftsDir(cfg.DraftsDir); err != nil {
			return err
		}
	}

	rdb, closeRedis, err := openRedis(cfg, log)
	if err != nil {
		return err
	}
	defer closeRedis()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	storeLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "postmortemd_store_duration_seconds",
		Help:    "Latency of store operations by operation and result.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"op", "result"})
	reg.MustRegister(storeLatency)
	notReplicated := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "postmortemd_redis_writes_not_replicated_total",
		Help: "Writes fewer Redis replicas acknowledged than --redis-wait-replicas asks within --redis-wait-timeout (answered as unavailable).",
	})
	reg.MustRegister(notReplicated)
	var lastNotReplicatedLog atomic.Int64
	if cfg.Redis.WaitReplicas > 0 {
		log.Info("writes wait for Redis replicas", "replicas", cfg.Redis.WaitReplicas, "timeout", cfg.Redis.WaitTimeout)
	}

	store := redisstore.New(rdb, redisstore.Options{
		WaitReplicas: cfg.Redis.WaitReplicas,
		WaitTimeout:  cfg.Redis.WaitTimeout,
		NotReplicated: func(acked int, err error) {
			notReplicated.Inc()
			// While no replica answers every write lands here: one line a second is enough.
			now := time.Now().UnixNano()
			if now-lastNotReplicatedLog.Load() < int64(time.Second) {
				return
			}
			lastNotReplicatedLog.Store(now)
			log.Warn("a write was not acknowledged by enough Redis replicas; answered as unavailable, the sender retries",
				"component", "store", "acked", acked, "want", cfg.Redis.WaitReplicas, "err", err)
		},
		Prefix:          cfg.KeyPrefix,
		ParticipantsTTL: cfg.ParticipantsRetention,
		ResolveGrace:    cfg.ResolveGrace,
		Now:             clock(), // time.Now; a test hook in review.go
		Observe: func(op string, d time.Duration, err error) {
			result := "ok"
			switch {
			case errors.Is(err, timeline.ErrUnavailable):
				result = "unavailable"
			case errors.Is(err, timeline.ErrNotFound):
				result = "not_found"
			case err != nil:
				result = "error"
			}
			storeLatency.WithLabelValues(op, result).Observe(d.Seconds())
		},
	})
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = store.Ping(pingCtx)
	cancel()
	if err != nil {
		// Start anyway: /-/ready says not ready and webhooks answer 503 until Redis is back, so
		// senders retry rather than lose anything.
		log.Error("redis does not answer yet; serving 503 until it does", "err", err)
	}

	var enricher *receiver.PagerDutyEnricher
	if cfg.PagerDuty.APIToken != "" {
		enricher = receiver.NewPagerDutyEnricher(receiver.EnricherOptions{
			Client:  pagerduty.NewClient(cfg.PagerDuty.APIToken, pagerduty.WithAPIEndpoint(cfg.PagerDuty.APIURL)),
			Store:   store,
			Roles:   cfg.PagerDuty.Roles,
			Logger:  log,
			Metrics: reg,
		})
		log.Info("PagerDuty REST enrichment on", "api", cfg.PagerDuty.APIURL)
	}
	var pdEnricher receiver.Enricher
	if enricher != nil {
		pdEnricher = enricher
	}
	// Alert annotations are free text: the people directory's names, and any e-mail address, become
	// roles before they are stored, as in notes.
	people := cfg.participants()
	redact := func(text string) timeline.Redacted { return timeline.FindNames(text, people) }
	rcv := receiver.New(receiver.Options{Redact: redact,
		Store:        store,
		Logger:       log,
		Metrics:      receiver.NewMetrics(reg),
		MaxBodyBytes: int64(cfg.MaxBodyBytes),
		StoreTimeout: cfg.StoreTimeout,
		Alertmanager: receiver.Auth{BearerToken: cfg.Alertmanager.BearerToken,
			Username: cfg.Alertmanager.Username, Password: cfg.Alertmanager.Password},
		PagerDuty: receiver.PagerDutyOptions{Secrets: cfg.PagerDuty.Secrets,
			AllowUnsigned: cfg.PagerDuty.AllowUnsigned, Roles: cfg.PagerDuty.Roles, Participants: store,
			Enricher: pdEnricher},
	})
	switch {
	case cfg.PagerDuty.AllowUnsigned:
		log.Warn("PAGERDUTY SIGNATURES ARE NOT CHECKED (--pagerduty-allow-unsigned): anyone who can reach /webhook/pagerduty can write to timelines. For local trials only.")
	case len(cfg.PagerDuty.Secrets) == 0:
		log.Info("PagerDuty webhooks are off: /webhook/pagerduty answers 503 until --pagerduty-secret is set")
	default:
		log.Info("PagerDuty webhooks on", "secrets", len(cfg.PagerDuty.Secrets))
	}
	if cfg.Alertmanager.BearerToken == "" && cfg.Alertmanager.Username == "" {
		log.Warn("Alertmanager webhooks are not authenticated; set --alertmanager-bearer-token or basic auth in production")
	}
	// Notes, the blameless guardrails and access control (issue #6).
	linter, err := newLinter(cfg.LintWords)
	if err != nil {
		return fmt.Errorf("lint-words: %w", err)
	}
	notes := web.NoteOptions{Annotator: store, Participants: store, People: people, Linter: linter, CSRF: web.NewCSRF(cfg.Access.WriteToken),
		WriteToken: cfg.Access.WriteToken, ReadToken: cfg.Access.ReadToken, WriteAuthHeader: cfg.Access.WriteAuthHeader,
		SecureCookies: cfg.Access.SecureCookies}
	if len(notes.People) == 0 {
		log.Warn("no people directory (people: / --people-file): in notes and edits on incidents without PagerDuty participants only e-mail addresses are replaced by roles, not names")
	}
	if notes.WritesOpen() {
		log.Warn("WRITES ARE OPEN: anyone who can reach postmortemd can add notes and edit drafts; set --write-token (POSTMORTEMD_WRITE_TOKEN) or --write-auth-header behind an authenticating proxy")
	}
	if cfg.Access.ReadToken == "" {
		log.Info("reading is open (timelines name roles, not people); set --read-token to require a token")
	}
	reviews, stopReviews, err := startReviews(cfg, store, reg, log) // review meetings (issue #5), review.go
	if err != nil {
		return err
	}
	defer stopReviews()
	files, mirror := postmortemsStore(cfg, store, log) // one, so the worker and the API share its lock and cache
	mirrorCtx, stopMirror := context.WithCancel(context.Background())
	mirrorDone := make(chan struct{})
	go func() {
		defer close(mirrorDone)
		if mirror != nil {
			mirror.Run(mirrorCtx)
		}
	}()
	defer func() { stopMirror(); <-mirrorDone }()
	// Action items: ids and hand changes recorded, metrics, reminders (actions.go).
	actionItems, stopActionItems, err := startActionItems(cfg, store, files, reg, log)
	if err != nil {
		return err
	}
	defer stopActionItems()
	// The reading group: sessions in /calendar.ics and /api/v1/reading-group (readinggroup.go).
	group, stopGroup, err := startReadingGroup(cfg, store, files, reviews.transports, log)
	if err != nil {
		return err
	}
	defer stopGroup()
	readingGroup := web.ReadingGroupOptions{Config: cfg.ReadingGroup}
	if group != nil {
		readingGroup.Group = group
		reviews.web.Reviews = reviewAPI{s: reviews.scheduler, group: group, log: log}
	}
	streamsDone := make(chan struct{})
	handler := web.New(web.Options{Store: store, Ready: store, Webhooks: rcv, Logger: log,
		Registry: reg, Version: version, StoreTimeout: cfg.StoreTimeout,
		Postmortems: web.PostmortemOptions{Library: files}, Notes: notes, Review: reviews.web, ActionItems: actionItems,
		Library: libraryOptions(cfg), Insights: insightsOptions(cfg), // library.go
		ReadingGroup: readingGroup,
		// The note form's token, checked by the notes handler; live event streams end when
		// shutdown begins, so they do not hold it for its whole timeout.
		Pages: web.PageOptions{CSRFToken: notes.CSRF.Token, Shutdown: streamsDone, Lang: i18n.Lang(cfg.UILang)}, Limits: cfg.Limits.web()})

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second, // a body may take longer at --min-body-rate or faster (limits.go)
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(streamsDone) })
	enrichCtx, stopEnrich := context.WithCancel(context.Background())
	enrichDone := make(chan struct{})
	go func() {
		defer close(enrichDone)
		if enricher != nil {
			enricher.Run(enrichCtx)
		}
	}()
	defer func() { stopEnrich(); <-enrichDone }() // after the server: in-flight webhooks may enqueue
	worker := drafts.NewWorker(drafts.WorkerOptions{Store: store, Renderer: renderer,
		Files: files, Logger: log, Interval: draftInterval(cfg.ResolveGrace), Reviews: reviews.scheduler, Now: clock(), Registerer: reg})
	draftCtx, stopDrafts := context.WithCancel(context.Background())
	draftDone := make(chan struct{})
	go func() {
		defer close(draftDone)
		if mirror != nil { // files left in the mirror directory are taken in before drafting over them
			select {
			case <-mirror.FirstPass():
			case <-time.After(2 * cfg.StoreTimeout):
			case <-draftCtx.Done():
				return
			}
		}
		worker.Run(draftCtx)
	}()
	defer func() { stopDrafts(); <-draftDone }() // after the server, like the enricher; a sweep in progress ends at its next store call
	stopRetention := startRetention(cfg, store, files, reg, log)
	defer stopRetention()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("postmortemd listening", "addr", ln.Addr().String(), "version", version)
	log.Info("draft postmortems on", "store", cfg.PostmortemsStore, "dir", cfg.DraftsDir, "mirror", cfg.mirrorDir(),
		"lang", cfg.DraftLang, "template", cfg.DraftTemplate, "after", cfg.ResolveGrace)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// postmortemsStore is the configured postmortem store, and the mirror to run with it (nil for none).
func postmortemsStore(cfg Config, store *redisstore.Store, log *slog.Logger) (drafts.Postmortems, *drafts.Mirror) {
	if cfg.PostmortemsStore != "redis" {
		return &drafts.Store{Dir: cfg.DraftsDir, Logger: log}, nil
	}
	if cfg.embedded() {
		log.Warn("--postmortems-store redis with the embedded in-memory Redis: every postmortem is LOST when postmortemd stops")
	}
	shared := &drafts.SharedStore{Records: store, Logger: log, Timeout: cfg.StoreTimeout}
	dir := cfg.mirrorDir()
	if dir == "" {
		return shared, nil
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d/%d", host, os.Getpid(), time.Now().UnixNano())
	const interval = 2 * time.Second
	return shared, drafts.NewMirror(drafts.MirrorOptions{Dir: dir, Store: shared, Logger: log, Interval: interval,
		Lease: func(ctx context.Context) (bool, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.StoreTimeout)
			defer cancel()
			// A holder that stops renewing (it died) loses the lease after three missed passes.
			return store.Lease(ctx, "mirror", holder, 3*interval)
		},
		Release: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = store.ReleaseLease(ctx, "mirror", holder)
		}})
}

// startRetention starts the timeline retention sweep (--timeline-retention; 0 turns it off) and
// returns the function that stops it and waits for it.
func startRetention(cfg Config, store *redisstore.Store, postmortems drafts.PostmortemGetter, reg prometheus.Registerer, log *slog.Logger) (stop func()) {
	if cfg.TimelineRetention == 0 {
		log.Info("timeline retention is off: timelines stay in Redis for ever (--timeline-retention 0)")
		return func() {}
	}
	r := drafts.NewRetention(drafts.RetentionOptions{Timelines: store, Postmortems: postmortems,
		Retention: time.Duration(cfg.TimelineRetention), Now: clock(), Logger: log, Registerer: reg})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	log.Info("timeline retention on: resolved incidents' timelines are removed from Redis once older and their postmortem exists",
		"retention", cfg.TimelineRetention.String())
	return func() { cancel(); <-done }
}

// draftInterval is how often the drafts worker looks for settled incidents: a quarter of the grace
// window, so a draft follows its incident's settling closely, within 1s to drafts.DefaultInterval.
func draftInterval(grace time.Duration) time.Duration {
	return min(max(grace/4, time.Second), drafts.DefaultInterval)
}

// newRenderer parses the draft template, naming the setting that chose it when it fails.
func newRenderer(cfg Config) (*drafts.Renderer, error) {
	r, err := drafts.NewRenderer(cfg.DraftLang, cfg.DraftTemplate)
	switch {
	case err != nil && cfg.DraftTemplate != "":
		return nil, fmt.Errorf("draft-template: %w", err)
	case err != nil:
		return nil, fmt.Errorf("draft-lang: %w", err)
	}
	return r, nil
}

// listen opens the HTTP port, saying in one line what to do when it is taken.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen: %s is already in use (another postmortemd, or another service): stop it, or choose another address with --listen or POSTMORTEMD_LISTEN", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

// prepareDraftsDir creates the drafts directory if it is missing and checks that a draft can be
// written there, so a wrong --drafts-dir stops start-up rather than failing every sweep.
func prepareDraftsDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("drafts-dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".postmortemd-write-check-*")
	if err != nil {
		return fmt.Errorf("drafts-dir: %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("drafts-dir: %w", err)
	}
	return nil
}

// openRedis connects to the configured Redis, or starts the embedded in-memory one when none is
// configured. It never falls back from a configured Redis to the embedded one.
func openRedis(cfg Config, log *slog.Logger) (redis.UniversalClient, func(), error) {
	timeouts := func(o *redis.UniversalOptions) {
		o.DialTimeout = 2 * time.Second
		// A write waiting for replicas (WAIT) blocks its connection up to --redis-wait-timeout.
		o.ReadTimeout = max(3*time.Second, cfg.Redis.WaitTimeout+time.Second)
		o.WriteTimeout = 3 * time.Second
		o.MaxRetries = 1
		// Webhook bursts hold many deliveries in flight at once; go-redis's default pool (10 per
		// CPU, 20 here) made a third of them wait for a connection in the load test.
		if o.PoolSize == 0 {
			o.PoolSize = max(64, 10*runtime.GOMAXPROCS(0))
		}
		// Without this go-redis ignores context deadlines on socket I/O, so --store-timeout and the
		// readiness probe's bound would not hold against a hung Redis.
		o.ContextTimeoutEnabled = true
	}
	if cfg.embedded() {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("start embedded redis: %w", err)
		}
		log.Warn("NO REDIS CONFIGURED: using an embedded in-memory Redis. Every incident and timeline is LOST when postmortemd stops. Set --redis-url (or POSTMORTEMD_REDIS_URL) for real use.",
			"embedded_addr", mr.Addr())
		o := &redis.UniversalOptions{Addrs: []string{mr.Addr()}}
		timeouts(o)
		rdb := redis.NewUniversalClient(o)
		return rdb, func() { _ = rdb.Close(); mr.Close() }, nil
	}
	o, err := cfg.redisOptions()
	if err != nil {
		return nil, nil, err
	}
	timeouts(o)
	rdb := redis.NewUniversalClient(o)
	log.Info("using redis", "mode", redisMode(cfg), "addrs", strings.Join(o.Addrs, ","))
	return rdb, func() { _ = rdb.Close() }, nil
}

func redisMode(cfg Config) string {
	if cfg.RedisURL != "" || cfg.Redis.Mode == "" {
		return "standalone"
	}
	return cfg.Redis.Mode
}

func tlsConfig() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
