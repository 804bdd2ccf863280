package main

import (
	"io"
	"strings"
	"testing"
)

func TestLimitSettings(t *testing.T) {
	cfg, err := loadConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Limits; l.WriteRate != 5 || l.WriteBurst != 30 || l.WebhookRate != 0 || l.MinBodyRate != 16<<10 {
		t.Errorf("default limits %+v: want writes limited, webhooks not, 16KiB/s minimum body rate", l)
	}
	getenv := func(k string) string { return map[string]string{"POSTMORTEMD_WEBHOOK_RATE_LIMIT": "50"}[k] }
	cfg, err = loadConfig([]string{"--write-rate-limit", "0.5", "--write-rate-burst", "3", "--min-body-rate", "1MiB"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Limits.web(); w.WriteRate != 0.5 || w.WriteBurst != 3 || w.WebhookRate != 50 || w.WebhookBurst != 200 || w.MinBodyRate != 1<<20 {
		t.Errorf("limits %+v", w)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--write-rate-limit", "-1"}, "write-rate-limit"},
		{[]string{"--webhook-rate-limit", "lots"}, "webhook-rate-limit"},
		{[]string{"--webhook-rate-limit", "10", "--webhook-rate-burst", "0"}, "webhook-rate-burst"},
		{[]string{"--min-body-rate", "fast"}, "min-body-rate"},
	} {
		if _, err := loadConfig(tt.args, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("loadConfig(%v) = %v, want an error naming %s", tt.args, err, tt.want)
		}
	}
}
