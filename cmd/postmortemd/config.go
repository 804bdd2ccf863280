package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/drafts/readinggroup"
	"github.com/postmortemd/postmortemd/receiver"
	"github.com/postmortemd/postmortemd/timeline"
)

// envPrefix starts every environment variable postmortemd reads.
const envPrefix = "POSTMORTEMD_"

// Config is every setting, filled in this order, later winning: defaults, the YAML file named by
// --config, POSTMORTEMD_* environment variables, flags.
type Config struct {
	Listen   string `yaml:"listen"`
	RedisURL string `yaml:"redis_url"`
	// Redis configures Sentinel or Cluster (and standalone options a URL cannot say).
	Redis     RedisConfig `yaml:"redis"`
	KeyPrefix string      `yaml:"key_prefix"`
	DraftsDir string      `yaml:"drafts_dir"`
	// PostmortemsStore is where postmortem documents live: files (in DraftsDir) or redis (shared by
	// every replica; DraftsDir, when given, is then a mirror).
	PostmortemsStore string `yaml:"postmortems_store"`
	// draftsDirGiven: DraftsDir was set by a flag, the environment or the file, not by default.
	draftsDirGiven bool
	// DraftLang picks the embedded draft template (en or ja); DraftTemplate, when set, is a
	// text/template file used instead.
	DraftLang string `yaml:"draft_lang"`
	// UILang pins the HTML pages' language (en or ja); "" follows each browser's Accept-Language.
	// Review invitations, reminders and calendar events are written in DraftLang.
	UILang          string             `yaml:"ui_lang"`
	DraftTemplate   string             `yaml:"draft_template"`
	MaxBodyBytes    ByteSize           `yaml:"max_body_size"`
	StoreTimeout    time.Duration      `yaml:"store_timeout"`
	ShutdownTimeout time.Duration      `yaml:"shutdown_timeout"`
	LogLevel        string             `yaml:"log_level"`
	LogFormat       string             `yaml:"log_format"`
	Alertmanager    AlertmanagerConfig `yaml:"alertmanager"`
	PagerDuty       PagerDutyConfig    `yaml:"pagerduty"`
	// ResolveGrace is how long after a resolution an incident counts as resolved for the postmortem
	// and review steps.
	ResolveGrace time.Duration `yaml:"resolve_grace"`
	// ParticipantsRetention is how long who-took-part records are kept for review invitations.
	ParticipantsRetention time.Duration `yaml:"participants_retention"`
	// TimelineRetention is how long after its resolution an incident's timeline stays in Redis once
	// its postmortem exists; 0 keeps timelines for ever.
	TimelineRetention Retention `yaml:"timeline_retention"`
	// Review schedules postmortem review meetings (review.go).
	Review ReviewConfig `yaml:"review"`
	// Access says who may read and write over HTTP (notes, draft edits, review waivers).
	Access AccessConfig `yaml:"access"`
	// LintWords is a words file for the blameless guardrails: rules to add, defaults to disable.
	LintWords string `yaml:"lint_words"`
	// People is the people directory whose names and addresses notes replace by roles in every
	// incident (with the incident's PagerDuty participants). Kept in memory, never served.
	People []Person `yaml:"people"`
	// PeopleFile is a YAML file holding a list of the same form, added to People at start-up.
	PeopleFile string `yaml:"people_file"`
	// ActionItems announces action items as they come due (actions.go).
	ActionItems ActionItemsConfig `yaml:"action_items"`
	// Limits are rate limits per source address and the minimum body rate (limits.go).
	Limits LimitsConfig `yaml:"limits"`
	// ReadingGroup plans the reading group's sessions (config file only; readinggroup.go).
	ReadingGroup readinggroup.Config `yaml:"reading_group"`
}

// Person is one entry of the people directory.
type Person struct {
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
	// Role is what notes write instead of the name ("primary on-call for payments").
	Role string `yaml:"role"`
}

// participants is the people directory as notes take it.
func (c Config) participants() []timeline.Participant {
	out := make([]timeline.Participant, 0, len(c.People))
	for _, p := range c.People {
		out = append(out, timeline.Participant{Name: p.Name, Email: p.Email, Role: timeline.Role(p.Role)})
	}
	return out
}

// AccessConfig is the HTTP side's access control. With no write token and no proxy header,
// anyone who can reach the server may write (a warning says so at start-up).
type AccessConfig struct {
	WriteToken     string `yaml:"write_token"`
	WriteTokenFile string `yaml:"write_token_file"`
	ReadToken      string `yaml:"read_token"`
	ReadTokenFile  string `yaml:"read_token_file"`
	// WriteAuthHeader names a header an authenticating proxy sets (X-Forwarded-User); a request
	// with it non-empty may write. Only set it when the proxy strips the header from clients.
	WriteAuthHeader string `yaml:"write_auth_header"`
	// SecureCookies marks the sign-in and CSRF cookies Secure on every response: set it behind a
	// TLS-terminating proxy that does not send X-Forwarded-Proto.
	SecureCookies bool `yaml:"secure_cookies"`
}

// PagerDutyConfig configures PagerDuty V3 webhooks.
type PagerDutyConfig struct {
	// Secrets are the webhook subscriptions' signing secrets (one per subscription).
	Secrets []string `yaml:"secrets"`
	// SecretsFile holds more secrets, one per line.
	SecretsFile   string           `yaml:"secrets_file"`
	AllowUnsigned bool             `yaml:"allow_unsigned"`
	Roles         receiver.RoleMap `yaml:"roles"`
	// APIToken enables REST enrichment (on-call levels, trimmed notes, backfill); read-only scopes
	// suffice: incidents.read, oncalls.read, users.read, escalation_policies.read.
	APIToken     string `yaml:"api_token"`
	APITokenFile string `yaml:"api_token_file"`
	// APIURL is PagerDuty's REST API (https://api.eu.pagerduty.com for the EU service region).
	APIURL string `yaml:"api_url"`
}

// enabled reports whether PagerDuty webhooks are accepted at all.
func (p PagerDutyConfig) enabled() bool { return len(p.Secrets) > 0 || p.AllowUnsigned }

// RedisConfig is the YAML file's redis block: go-redis's universal client options.
type RedisConfig struct {
	// Mode is standalone (default), sentinel or cluster.
	Mode string `yaml:"mode"`
	// Addrs are host:port pairs: Sentinel addresses in sentinel mode, seed nodes in cluster mode.
	Addrs            []string `yaml:"addrs"`
	MasterName       string   `yaml:"master_name"`
	Username         string   `yaml:"username"`
	Password         string   `yaml:"password"`
	SentinelUsername string   `yaml:"sentinel_username"`
	SentinelPassword string   `yaml:"sentinel_password"`
	DB               int      `yaml:"db"`
	TLS              bool     `yaml:"tls"`
	// WaitReplicas, when positive, acknowledges a write only once that many replicas have it
	// (Redis WAIT, at most WaitTimeout): a Sentinel failover then loses nothing acknowledged.
	WaitReplicas int           `yaml:"wait_replicas"`
	WaitTimeout  time.Duration `yaml:"wait_timeout"`
}

// AlertmanagerConfig is how Alertmanager deliveries authenticate (its http_config).
type AlertmanagerConfig struct {
	BearerToken     string `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	Username        string `yaml:"username"`
	Password        string `yaml:"password"`
	PasswordFile    string `yaml:"password_file"`
}

// ByteSize is a size in bytes that reads "16MiB", "512KiB", "1GB" or a plain number.
type ByteSize int64

// UnmarshalYAML reads a ByteSize from a number or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String writes the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		suffix string
		mult   ByteSize
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b >= u.mult && b%u.mult == 0 {
			return strconv.FormatInt(int64(b/u.mult), 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

func parseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size such as 16MiB or 1048576, got %q", s)
	}
	return ByteSize(n * mult), nil
}

func defaultConfig() Config {
	return Config{
		Listen:           ":9095",
		KeyPrefix:        "{pm}",
		DraftsDir:        "postmortems",
		PostmortemsStore: "files",
		DraftLang:        "en",
		MaxBodyBytes:     receiver.DefaultMaxBodyBytes,
		StoreTimeout:     5 * time.Second,
		Redis:            RedisConfig{WaitTimeout: time.Second},
		ShutdownTimeout:  15 * time.Second,
		LogLevel:         "info",
		LogFormat:        "text",

		ParticipantsRetention: 30 * 24 * time.Hour,
		TimelineRetention:     Retention(400 * 24 * time.Hour),
		PagerDuty:             PagerDutyConfig{APIURL: "https://api.pagerduty.com"},
		ResolveGrace:          time.Minute,
		Limits:                defaultLimits(),
	}
}

// setting is one flag with its environment variable.
type setting struct {
	name, usage string
	set         func(c *Config, v string) error
	def         func(c Config) string
	secret      bool
	// repeat: the flag may be given several times and the environment variable holds a
	// comma-separated list; set is called once per value.
	repeat bool
	// boolean flags take no value on the command line.
	boolean bool
}

func (s setting) env() string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

func str(p func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = v; return nil }
}

func dur(p func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("want a duration such as 5s or 1m, got %q", v)
		}
		*p(c) = d
		return nil
	}
}

// parseRetention reads a retention as a Go duration (9600h) or a number of days (400d).
func parseRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err == nil && n >= 0 && n <= 100*365 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("want days such as 400d, a duration such as 9600h, or 0, got %q", v)
}

// Retention is a duration that also reads a number of days ("400d"), in flags, the environment and
// the YAML file alike.
type Retention time.Duration

// UnmarshalYAML reads a Retention as parseRetention does.
func (r *Retention) UnmarshalYAML(n *yaml.Node) error {
	d, err := parseRetention(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: timeline_retention: %w", n.Line, err)
	}
	*r = Retention(d)
	return nil
}

// String writes whole days as days ("400d").
func (r Retention) String() string {
	d := time.Duration(r)
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// boolean sets a boolean setting (a flag given alone passes "true").
func boolean(p func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		*p(c) = b
		return nil
	}
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "yes", "on":
		return true, nil
	case "0", "f", "false", "no", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", v)
}

var settings = []setting{
	{name: "listen", usage: "address to serve HTTP on", set: str(func(c *Config) *string { return &c.Listen }),
		def: func(c Config) string { return c.Listen }},
	{name: "redis-url", usage: "standalone Redis as redis:// or rediss:// URL; empty starts an embedded in-memory Redis (data lost on exit). Sentinel and Cluster: see the config file's redis block",
		set: str(func(c *Config) *string { return &c.RedisURL }), def: func(c Config) string { return c.RedisURL }},
	{name: "redis-sentinel-addr", usage: "a Redis Sentinel's host:port (repeat the flag, or comma-separate the variable, for several): use Sentinel to find the primary; needs --redis-sentinel-master",
		repeat: true, def: func(Config) string { return "" },
		set: func(c *Config, v string) error {
			if v = strings.TrimSpace(v); v != "" {
				c.Redis.Mode = "sentinel"
				c.Redis.Addrs = append(c.Redis.Addrs, v)
			}
			return nil
		}},
	{name: "redis-sentinel-master", usage: "the name Sentinel monitors the primary under (sentinel monitor NAME ...)",
		set: str(func(c *Config) *string { return &c.Redis.MasterName }), def: func(Config) string { return "" }},
	{name: "redis-wait-replicas", usage: "acknowledge a write only once this many Redis replicas have it (WAIT): a Sentinel failover then loses nothing acknowledged; fewer within --redis-wait-timeout answers 503. Keep more replicas than this, or a failover leaves too few to write. 0: off",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want a number of replicas such as 1, got %q", v)
			}
			c.Redis.WaitReplicas = n
			return nil
		}, def: func(c Config) string { return strconv.Itoa(c.Redis.WaitReplicas) }},
	{name: "redis-wait-timeout", usage: "longest a write waits for --redis-wait-replicas replicas (never longer than --store-timeout leaves)",
		set: dur(func(c *Config) *time.Duration { return &c.Redis.WaitTimeout }), def: func(c Config) string { return c.Redis.WaitTimeout.String() }},
	{name: "redis-key-prefix", usage: "prefix of every Redis key (a Cluster hash tag); lets deployments share a Redis",
		set: str(func(c *Config) *string { return &c.KeyPrefix }), def: func(c Config) string { return c.KeyPrefix }},
	{name: "drafts-dir", usage: "directory for draft postmortems; with --postmortems-store redis, a mirror (only when given) that one replica at a time keeps up to date and takes edits from",
		set: func(c *Config, v string) error { c.DraftsDir, c.draftsDirGiven = v, true; return nil },
		def: func(c Config) string { return c.DraftsDir }},
	{name: "postmortems-store", usage: "where postmortem documents live: files (in --drafts-dir) or redis (shared by every replica, no shared disk needed)",
		set: str(func(c *Config) *string { return &c.PostmortemsStore }), def: func(c Config) string { return c.PostmortemsStore }},
	{name: "draft-lang", usage: "language of the embedded draft postmortem template: " + strings.Join(drafts.Languages, " or "),
		set: str(func(c *Config) *string { return &c.DraftLang }), def: func(c Config) string { return c.DraftLang }},
	{name: "ui-lang", usage: "pin the HTML pages' language (en or ja); empty follows each browser's Accept-Language",
		set: str(func(c *Config) *string { return &c.UILang }), def: func(c Config) string { return c.UILang }},
	{name: "draft-template", usage: "a text/template file that replaces the embedded draft template (checked at start-up)",
		set: str(func(c *Config) *string { return &c.DraftTemplate }), def: func(Config) string { return "" }},
	{name: "max-body-size", usage: "largest webhook body accepted (e.g. 16MiB); larger gets 413",
		set: func(c *Config, v string) error {
			b, err := parseByteSize(v)
			c.MaxBodyBytes = b
			return err
		}, def: func(c Config) string { return c.MaxBodyBytes.String() }},
	{name: "store-timeout", usage: "longest a webhook waits for Redis before answering 503",
		set: dur(func(c *Config) *time.Duration { return &c.StoreTimeout }), def: func(c Config) string { return c.StoreTimeout.String() }},
	{name: "shutdown-timeout", usage: "longest graceful shutdown waits for in-flight requests",
		set: dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout }), def: func(c Config) string { return c.ShutdownTimeout.String() }},
	{name: "log-level", usage: "debug, info, warn or error", set: str(func(c *Config) *string { return &c.LogLevel }),
		def: func(c Config) string { return c.LogLevel }},
	{name: "log-format", usage: "text or json", set: str(func(c *Config) *string { return &c.LogFormat }),
		def: func(c Config) string { return c.LogFormat }},
	{name: "alertmanager-bearer-token", usage: "require this bearer token on Alertmanager webhooks (http_config.authorization)", secret: true,
		set: str(func(c *Config) *string { return &c.Alertmanager.BearerToken }), def: func(Config) string { return "" }},
	{name: "alertmanager-bearer-token-file", usage: "read the Alertmanager bearer token from this file",
		set: str(func(c *Config) *string { return &c.Alertmanager.BearerTokenFile }), def: func(Config) string { return "" }},
	{name: "alertmanager-username", usage: "require basic auth with this user on Alertmanager webhooks (http_config.basic_auth)",
		set: str(func(c *Config) *string { return &c.Alertmanager.Username }), def: func(Config) string { return "" }},
	{name: "alertmanager-password", usage: "the basic auth password", secret: true,
		set: str(func(c *Config) *string { return &c.Alertmanager.Password }), def: func(Config) string { return "" }},
	{name: "alertmanager-password-file", usage: "read the basic auth password from this file",
		set: str(func(c *Config) *string { return &c.Alertmanager.PasswordFile }), def: func(Config) string { return "" }},
	{name: "pagerduty-secret", usage: "a PagerDuty V3 webhook subscription's signing secret; repeat the flag (or comma-separate the variable) for several subscriptions or a rotation",
		secret: true, repeat: true, def: func(Config) string { return "" },
		set: func(c *Config, v string) error {
			if v = strings.TrimSpace(v); v != "" {
				c.PagerDuty.Secrets = append(c.PagerDuty.Secrets, v)
			}
			return nil
		}},
	{name: "pagerduty-secrets-file", usage: "read PagerDuty signing secrets from this file, one per line",
		set: str(func(c *Config) *string { return &c.PagerDuty.SecretsFile }), def: func(Config) string { return "" }},
	{name: "pagerduty-allow-unsigned", usage: "accept PagerDuty webhooks without checking signatures (local trials only)", boolean: true,
		set: boolean(func(c *Config) *bool { return &c.PagerDuty.AllowUnsigned }), def: func(Config) string { return "" }},
	{name: "resolve-grace", usage: "how long after a resolution (Alertmanager or PagerDuty) an incident counts as resolved for the postmortem and review steps; a reopen within it cancels that",
		set: dur(func(c *Config) *time.Duration { return &c.ResolveGrace }), def: func(c Config) string { return c.ResolveGrace.String() }},
	{name: "pagerduty-api-token", usage: "PagerDuty REST API token (read-only) for enrichment: on-call levels for roles, full texts of trimmed notes, backfill of events missed while down", secret: true,
		set: str(func(c *Config) *string { return &c.PagerDuty.APIToken }), def: func(Config) string { return "" }},
	{name: "pagerduty-api-token-file", usage: "read the PagerDuty REST API token from this file",
		set: str(func(c *Config) *string { return &c.PagerDuty.APITokenFile }), def: func(Config) string { return "" }},
	{name: "pagerduty-api-url", usage: "PagerDuty REST API base URL (EU: https://api.eu.pagerduty.com)",
		set: str(func(c *Config) *string { return &c.PagerDuty.APIURL }), def: func(c Config) string { return c.PagerDuty.APIURL }},
	{name: "participants-retention", usage: "how long who-took-part records (kept apart from timelines, for review invitations) are kept",
		set: dur(func(c *Config) *time.Duration { return &c.ParticipantsRetention }), def: func(c Config) string { return c.ParticipantsRetention.String() }},
	{name: "timeline-retention", usage: "how long after its resolution an incident's timeline stays in Redis once its postmortem exists (e.g. 400d or 9600h; 0 keeps timelines for ever); the postmortem stays",
		set: func(c *Config, v string) error {
			d, err := parseRetention(v)
			c.TimelineRetention = Retention(d)
			return err
		}, def: func(c Config) string { return c.TimelineRetention.String() }},
	{name: "write-token", usage: "bearer token that writing needs (notes, draft edits, review waivers); empty with no --write-auth-header leaves writes open", secret: true,
		set: str(func(c *Config) *string { return &c.Access.WriteToken }), def: func(Config) string { return "" }},
	{name: "write-token-file", usage: "read the write token from this file",
		set: str(func(c *Config) *string { return &c.Access.WriteTokenFile }), def: func(Config) string { return "" }},
	{name: "read-token", usage: "bearer token that reading the API and pages needs; empty leaves reading open", secret: true,
		set: str(func(c *Config) *string { return &c.Access.ReadToken }), def: func(Config) string { return "" }},
	{name: "read-token-file", usage: "read the read token from this file",
		set: str(func(c *Config) *string { return &c.Access.ReadTokenFile }), def: func(Config) string { return "" }},
	{name: "write-auth-header", usage: "header an authenticating proxy sets (e.g. X-Forwarded-User): a request carrying it may read and write",
		set: str(func(c *Config) *string { return &c.Access.WriteAuthHeader }), def: func(Config) string { return "" }},
	{name: "secure-cookies", usage: "mark the sign-in and form cookies Secure always (behind a TLS proxy that sends no X-Forwarded-Proto)", boolean: true,
		set: boolean(func(c *Config) *bool { return &c.Access.SecureCookies }), def: func(Config) string { return "" }},
	{name: "lint-words", usage: "YAML words file for the blameless guardrails: rules to add, default rules to disable",
		set: str(func(c *Config) *string { return &c.LintWords }), def: func(Config) string { return "" }},
	{name: "people-file", usage: "YAML file listing people ({name, email, role}) whose names notes replace by their roles in every incident",
		set: str(func(c *Config) *string { return &c.PeopleFile }), def: func(Config) string { return "" }},
}

// boolFlag is a flag.Value that needs no argument ("--pagerduty-allow-unsigned").
type boolFlag struct{ set func(string) error }

func (b boolFlag) String() string     { return "" }
func (b boolFlag) Set(v string) error { return b.set(v) }
func (b boolFlag) IsBoolFlag() bool   { return true }

// errHelp and errVersion end start-up without an error after printing what was asked.
var (
	errHelp    = errors.New("help requested")
	errVersion = errors.New("version requested")
)

// loadConfig reads flags, the environment and the optional YAML file into a validated Config.
func loadConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("postmortemd", flag.ContinueOnError)
	fs.SetOutput(out)
	flagVals := map[string][]string{}
	for _, s := range settings {
		name, repeat := s.name, s.repeat
		record := func(v string) error {
			if repeat {
				flagVals[name] = append(flagVals[name], v)
			} else {
				flagVals[name] = []string{v}
			}
			return nil
		}
		if s.boolean {
			fs.Var(boolFlag{record}, name, s.usage)
		} else {
			fs.Func(name, s.usage, record)
		}
	}
	configFile := fs.String("config", getenv(envPrefix+"CONFIG"), "YAML configuration file (env "+envPrefix+"CONFIG)")
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() { usage(fs, out) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, errHelp
		}
		return cfg, err
	}
	if *version {
		return cfg, errVersion
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (settings are flags: see --help)", fs.Arg(0))
	}
	if *configFile != "" {
		raw, err := os.ReadFile(*configFile)
		if err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config file %s: %w", *configFile, err)
		}
		var probe struct {
			DraftsDir *string `yaml:"drafts_dir"`
		}
		if yaml.Unmarshal(raw, &probe) == nil && probe.DraftsDir != nil {
			cfg.draftsDirGiven = true
		}
	}
	for _, s := range settings {
		if v := getenv(s.env()); v != "" {
			vals := []string{v}
			if s.repeat {
				vals = strings.Split(v, ",")
			}
			for _, v := range vals {
				if err := s.set(&cfg, v); err != nil {
					return cfg, fmt.Errorf("%s: %w", s.env(), err)
				}
			}
		}
	}
	for _, s := range settings {
		for _, v := range flagVals[s.name] {
			if err := s.set(&cfg, v); err != nil {
				return cfg, fmt.Errorf("--%s: %w", s.name, err)
			}
		}
	}
	if err := cfg.readSecretFiles(); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func (c *Config) readSecretFiles() error {
	read := func(name, path string, dst *string) error {
		if path == "" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		*dst = strings.TrimSpace(string(b))
		return nil
	}
	if err := read("alertmanager-bearer-token-file", c.Alertmanager.BearerTokenFile, &c.Alertmanager.BearerToken); err != nil {
		return err
	}
	if err := read("alertmanager-password-file", c.Alertmanager.PasswordFile, &c.Alertmanager.Password); err != nil {
		return err
	}
	if err := read("pagerduty-api-token-file", c.PagerDuty.APITokenFile, &c.PagerDuty.APIToken); err != nil {
		return err
	}
	if err := read("write-token-file", c.Access.WriteTokenFile, &c.Access.WriteToken); err != nil {
		return err
	}
	if err := read("read-token-file", c.Access.ReadTokenFile, &c.Access.ReadToken); err != nil {
		return err
	}
	// A token file that is empty (a secret mounted without its value) must not leave access open.
	if c.Access.WriteTokenFile != "" && c.Access.WriteToken == "" {
		return fmt.Errorf("write-token-file: %s is empty; an empty write token would leave writes open", c.Access.WriteTokenFile)
	}
	if c.Access.ReadTokenFile != "" && c.Access.ReadToken == "" {
		return fmt.Errorf("read-token-file: %s is empty; an empty read token would leave reading open", c.Access.ReadTokenFile)
	}
	if err := read("caldav-password-file", c.Review.CalDAV.PasswordFile, &c.Review.CalDAV.Password); err != nil {
		return err
	}
	if err := read("smtp-password-file", c.Review.SMTP.PasswordFile, &c.Review.SMTP.Password); err != nil {
		return err
	}
	if c.PeopleFile != "" {
		b, err := os.ReadFile(c.PeopleFile)
		if err != nil {
			return fmt.Errorf("people-file: %w", err)
		}
		var ps []Person
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&ps); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("people-file %s: want a list of {name, email, role}: %w", c.PeopleFile, err)
		}
		c.People = append(c.People, ps...)
	}
	if c.PagerDuty.SecretsFile != "" {
		var all string
		if err := read("pagerduty-secrets-file", c.PagerDuty.SecretsFile, &all); err != nil {
			return err
		}
		for _, line := range strings.Split(all, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				c.PagerDuty.Secrets = append(c.PagerDuty.Secrets, line)
			}
		}
	}
	return nil
}

// Validate names the first bad setting.
func (c Config) Validate() error {
	if err := c.ActionItems.validate(); err != nil {
		return err
	}
	if c.ReadingGroup.Enabled() {
		if err := c.ReadingGroup.Validate(); err != nil {
			return err
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port: %w", c.Listen, err)
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			return fmt.Errorf("redis-url: %w", err)
		}
		if c.Redis.Mode != "" && c.Redis.Mode != "standalone" {
			return fmt.Errorf("redis-url: a URL is standalone Redis; remove it to use redis.mode %q", c.Redis.Mode)
		}
	}
	switch c.Redis.Mode {
	case "", "standalone":
		if c.RedisURL == "" && len(c.Redis.Addrs) > 1 {
			return errors.New("redis.addrs: several addresses need redis.mode sentinel or cluster")
		}
	case "sentinel":
		if c.Redis.MasterName == "" {
			return errors.New("redis.master_name (--redis-sentinel-master): required in sentinel mode")
		}
		if len(c.Redis.Addrs) == 0 {
			return errors.New("redis.addrs: sentinel mode needs the Sentinel addresses")
		}
	case "cluster":
		if len(c.Redis.Addrs) == 0 {
			return errors.New("redis.addrs: cluster mode needs at least one node address")
		}
	default:
		return fmt.Errorf("redis.mode: want standalone, sentinel or cluster, got %q", c.Redis.Mode)
	}
	switch {
	case c.Redis.WaitReplicas < 0:
		return fmt.Errorf("redis-wait-replicas: must be 0 (off) or more, got %d", c.Redis.WaitReplicas)
	case c.Redis.WaitReplicas > 0 && c.embedded():
		return errors.New("redis-wait-replicas: the embedded Redis has no replicas; set --redis-url or Sentinel")
	case c.Redis.WaitReplicas > 0 && c.Redis.Mode == "cluster":
		return errors.New("redis-wait-replicas: not supported in cluster mode (each shard has its own replicas); use standalone or Sentinel")
	case c.Redis.WaitTimeout <= 0:
		return errors.New("redis-wait-timeout: must be positive")
	}
	if c.KeyPrefix == "" {
		return errors.New("redis-key-prefix: must not be empty")
	}
	if c.DraftsDir == "" {
		return errors.New("drafts-dir: must not be empty")
	}
	if c.PostmortemsStore != "files" && c.PostmortemsStore != "redis" {
		return fmt.Errorf("postmortems-store: want files or redis, got %q", c.PostmortemsStore)
	}
	if !slices.Contains(drafts.Languages, c.DraftLang) {
		return fmt.Errorf("draft-lang: want one of %s, got %q", strings.Join(drafts.Languages, ", "), c.DraftLang)
	}
	if c.UILang != "" && !slices.Contains(drafts.Languages, c.UILang) {
		return fmt.Errorf("ui-lang: want one of %s, or empty to follow Accept-Language, got %q", strings.Join(drafts.Languages, ", "), c.UILang)
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("max-body-size: %d bytes is too small for any webhook (minimum 1KiB)", c.MaxBodyBytes)
	}
	if c.StoreTimeout <= 0 {
		return errors.New("store-timeout: must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		return errors.New("shutdown-timeout: must be positive")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level: want debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log-format: want text or json, got %q", c.LogFormat)
	}
	pdRoles := c.PagerDuty.Roles
	if !c.PagerDuty.enabled() && c.PagerDuty.APIToken != "" {
		return errors.New("pagerduty-secret: a PagerDuty API token is configured but no signing secret; " +
			"set --pagerduty-secret (or --pagerduty-allow-unsigned for a local trial)")
	}
	if u, err := url.Parse(c.PagerDuty.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		strings.HasSuffix(c.PagerDuty.APIURL, "/") {
		return fmt.Errorf("pagerduty-api-url: want an http(s) URL without a trailing slash, got %q", c.PagerDuty.APIURL)
	}
	if !c.PagerDuty.enabled() && len(pdRoles.Users)+len(pdRoles.Teams)+len(pdRoles.EscalationPolicies) > 0 {
		return errors.New("pagerduty-secret: PagerDuty roles are configured but no signing secret; " +
			"set --pagerduty-secret (or --pagerduty-allow-unsigned for a local trial)")
	}
	if c.ResolveGrace < 0 || c.ResolveGrace > 24*time.Hour {
		return errors.New("resolve-grace: want a duration from 0s to 24h")
	}
	if c.ParticipantsRetention < time.Hour {
		return errors.New("participants-retention: must be at least 1h (the review needs the participants)")
	}
	if c.TimelineRetention != 0 && time.Duration(c.TimelineRetention) < 24*time.Hour {
		return errors.New("timeline-retention: want 0 (keep for ever) or at least 24h (the postmortem is drafted from the timeline)")
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if err := c.Review.validate(); err != nil {
		return err
	}
	if (c.Alertmanager.Username == "") != (c.Alertmanager.Password == "") {
		return errors.New("alertmanager-username: basic auth needs both a username and a password")
	}
	if h := c.Access.WriteAuthHeader; h != "" && (strings.ContainsAny(h, " :\t\r\n") || strings.EqualFold(h, "Authorization")) {
		return fmt.Errorf("write-auth-header: %q is not a header name a proxy would set", h)
	}
	if c.Access.ReadToken != "" && c.Access.ReadToken == c.Access.WriteToken {
		return errors.New("read-token: must differ from the write token")
	}
	for i, p := range c.People {
		switch {
		case strings.TrimSpace(p.Role) == "":
			return fmt.Errorf("people[%d]: role is required (what notes write instead of the name)", i)
		case strings.TrimSpace(p.Name) == "" && strings.TrimSpace(p.Email) == "":
			return fmt.Errorf("people[%d]: give a name or an email", i)
		}
	}
	return nil
}

// mirrorDir is the directory the redis postmortems store mirrors into: the drafts directory when
// it was given, "" for none.
func (c Config) mirrorDir() string {
	if c.PostmortemsStore == "redis" && c.draftsDirGiven {
		return c.DraftsDir
	}
	return ""
}

// embedded reports whether no Redis is configured, so an in-process one is started.
func (c Config) embedded() bool { return c.RedisURL == "" && len(c.Redis.Addrs) == 0 }

// redisOptions is the universal client's configuration for the configured Redis.
func (c Config) redisOptions() (*redis.UniversalOptions, error) {
	if c.RedisURL != "" {
		o, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return nil, err
		}
		return &redis.UniversalOptions{Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password,
			DB: o.DB, TLSConfig: o.TLSConfig, Protocol: o.Protocol}, nil
	}
	r := c.Redis
	o := &redis.UniversalOptions{Addrs: r.Addrs, Username: r.Username, Password: r.Password, DB: r.DB,
		MasterName: r.MasterName, SentinelUsername: r.SentinelUsername, SentinelPassword: r.SentinelPassword,
		IsClusterMode: r.Mode == "cluster"}
	if r.Mode == "standalone" || r.Mode == "" {
		o.MasterName = ""
	}
	if r.TLS {
		o.TLSConfig = tlsConfig()
	}
	return o, nil
}

func usage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintf(out, `postmortemd records Alertmanager and PagerDuty webhooks as a fact-only, role-based incident
timeline in Redis and serves it over HTTP.

Usage: postmortemd [flags]
       postmortemd lint [--words FILE] [--format text|json] FILE...   (blameless wording check)
       postmortemd export --dir DIR [flags]   (write every postmortem of the store into DIR once)

Every flag can also be set with the environment variable shown, or in the YAML file given by
--config (keys in the README). Flags win over the environment, which wins over the file.

`)
	def := defaultConfig()
	names := make([]string, 0, len(settings))
	byName := map[string]setting{}
	for _, s := range settings {
		names = append(names, s.name)
		byName[s.name] = s
	}
	sort.Strings(names)
	fmt.Fprintf(out, "  --config FILE\n        YAML configuration file (env %sCONFIG)\n", envPrefix)
	for _, n := range names {
		s := byName[n]
		d := s.def(def)
		if d != "" && !s.secret {
			d = fmt.Sprintf(" (default %q)", d)
		} else {
			d = ""
		}
		arg := " VALUE"
		if s.boolean {
			arg = ""
		}
		fmt.Fprintf(out, "  --%s%s\n        %s%s (env %s)\n", n, arg, s.usage, d, s.env())
	}
	fmt.Fprintf(out, "  --version\n        print the version and exit\n  --help\n        print this help\n")
	_ = fs
}
