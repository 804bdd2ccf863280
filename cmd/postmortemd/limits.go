package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/postmortemd/postmortemd/internal/web"
)

// LimitsConfig protects the server from one client (web.LimitOptions): rate limits per source
// address and the slowest a request body may arrive.
type LimitsConfig struct {
	// WriteRate is writes per second per source address (notes, edits, waivers, sign-in); 0 is
	// no limit. WriteBurst is how many may come at once.
	WriteRate  float64 `yaml:"write_rate_limit"`
	WriteBurst int     `yaml:"write_rate_burst"`
	// WebhookRate limits webhook deliveries per source address; 0 (the default) is no limit.
	WebhookRate  float64 `yaml:"webhook_rate_limit"`
	WebhookBurst int     `yaml:"webhook_rate_burst"`
	// MinBodyRate is the slowest a request body may arrive after the first 10 seconds; 0 is no
	// minimum (then a request may take 60 s in all).
	MinBodyRate ByteSize `yaml:"min_body_rate"`
}

func defaultLimits() LimitsConfig {
	return LimitsConfig{WriteRate: 5, WriteBurst: 30, WebhookBurst: 200, MinBodyRate: 16 << 10}
}

func init() { settings = append(settings, limitSettings...) }

func float(p func(*Config) *float64) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", v)
		}
		*p(c) = f
		return nil
	}
}

func integer(p func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", v)
		}
		*p(c) = n
		return nil
	}
}

var limitSettings = []setting{
	{name: "write-rate-limit", usage: "writes (notes, edits, waivers, sign-in) per second per source address; over it, 429 with Retry-After; 0 is no limit",
		set: float(func(c *Config) *float64 { return &c.Limits.WriteRate }),
		def: func(c Config) string { return strconv.FormatFloat(c.Limits.WriteRate, 'g', -1, 64) }},
	{name: "write-rate-burst", usage: "writes one source address may make at once before --write-rate-limit applies",
		set: integer(func(c *Config) *int { return &c.Limits.WriteBurst }),
		def: func(c Config) string { return strconv.Itoa(c.Limits.WriteBurst) }},
	{name: "webhook-rate-limit", usage: "webhook deliveries per second per source address; over it, 429 with Retry-After (senders retry); 0 (default) is no limit",
		set: float(func(c *Config) *float64 { return &c.Limits.WebhookRate }),
		def: func(c Config) string { return strconv.FormatFloat(c.Limits.WebhookRate, 'g', -1, 64) }},
	{name: "webhook-rate-burst", usage: "webhook deliveries one source address may make at once before --webhook-rate-limit applies",
		set: integer(func(c *Config) *int { return &c.Limits.WebhookBurst }),
		def: func(c Config) string { return strconv.Itoa(c.Limits.WebhookBurst) }},
	{name: "min-body-rate", usage: "slowest a request body may arrive after its first 10s (e.g. 16KiB, per second); a slower client is cut off; 0 is no minimum",
		set: func(c *Config, v string) error {
			b, err := parseByteSize(v)
			c.Limits.MinBodyRate = b
			return err
		}, def: func(c Config) string { return c.Limits.MinBodyRate.String() }},
}

// validate names the first bad limit.
func (l LimitsConfig) validate() error {
	switch {
	case l.WriteRate < 0:
		return fmt.Errorf("write-rate-limit: must not be negative, got %g", l.WriteRate)
	case l.WebhookRate < 0:
		return fmt.Errorf("webhook-rate-limit: must not be negative, got %g", l.WebhookRate)
	case l.WriteBurst < 1 && l.WriteRate > 0:
		return fmt.Errorf("write-rate-burst: must be at least 1, got %d", l.WriteBurst)
	case l.WebhookBurst < 1 && l.WebhookRate > 0:
		return fmt.Errorf("webhook-rate-burst: must be at least 1, got %d", l.WebhookBurst)
	case l.MinBodyRate < 0:
		return fmt.Errorf("min-body-rate: must not be negative")
	}
	return nil
}

// web is what the HTTP server enforces.
func (l LimitsConfig) web() web.LimitOptions {
	return web.LimitOptions{WriteRate: l.WriteRate, WriteBurst: l.WriteBurst, WebhookRate: l.WebhookRate,
		WebhookBurst: l.WebhookBurst, MinBodyRate: int64(l.MinBodyRate)}
}
