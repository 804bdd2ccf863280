package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTimelineRetentionSetting(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want time.Duration
		err  string
	}{
		{name: "default 400 days", want: 400 * 24 * time.Hour},
		{name: "days by flag", args: []string{"--timeline-retention", "90d"}, want: 90 * 24 * time.Hour},
		{name: "duration by environment", env: map[string]string{"POSTMORTEMD_TIMELINE_RETENTION": "720h"}, want: 720 * time.Hour},
		{name: "days in the file", file: "timeline_retention: 30d\n", want: 30 * 24 * time.Hour},
		{name: "zero keeps for ever", args: []string{"--timeline-retention", "0"}, want: 0},
		{name: "flag wins over environment", args: []string{"--timeline-retention", "2d"},
			env: map[string]string{"POSTMORTEMD_TIMELINE_RETENTION": "3d"}, want: 48 * time.Hour},
		{name: "too short", args: []string{"--timeline-retention", "1h"}, err: "timeline-retention: want 0"},
		{name: "not a duration", env: map[string]string{"POSTMORTEMD_TIMELINE_RETENTION": "a year"}, err: "POSTMORTEMD_TIMELINE_RETENTION"},
		{name: "negative", args: []string{"--timeline-retention", "-1d"}, err: "--timeline-retention"},
		{name: "bad in the file", file: "timeline_retention: soon\n", err: "timeline_retention"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, "c.yml", tt.file))
			}
			cfg, err := loadConfig(args, env(tt.env), &bytes.Buffer{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one naming %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(cfg.TimelineRetention); got != tt.want {
				t.Fatalf("retention %v, want %v", got, tt.want)
			}
		})
	}
	if got := Retention(400 * 24 * time.Hour).String(); got != "400d" {
		t.Errorf("String() = %q, want 400d", got)
	}
}

// A token file that holds nothing (a secret mounted without its key's value) stops start-up rather
// than leaving writes or reads open.
func TestEmptyTokenFileStopsStartUp(t *testing.T) {
	empty := writeFile(t, "token", "\n")
	for _, flag := range []string{"--write-token-file", "--read-token-file"} {
		_, err := loadConfig([]string{flag, empty}, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(flag, "--")+": ") || !strings.Contains(err.Error(), "empty") {
			t.Errorf("%s with an empty file: %v, want an error naming it", flag, err)
		}
	}
}

// The service starts the retention sweep (it sweeps once at start-up, counted in /metrics) unless
// --timeline-retention is 0, and says which at start-up.
func TestRetentionSweepIsWired(t *testing.T) {
	metric := func(t *testing.T, base string) string {
		t.Helper()
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	t.Run("on by default", func(t *testing.T) {
		base, _, log := startRun(t)
		if !strings.Contains(log.String(), "timeline retention on") || !strings.Contains(log.String(), "retention=400d") {
			t.Errorf("start-up log does not say retention is on for 400d:\n%s", log)
		}
		e2eEventually(t, 10*time.Second, "first retention sweep", func() error {
			if m := metric(t, base); !strings.Contains(m, `postmortemd_retention_sweeps_total{result="ok"} 1`) {
				return fmt.Errorf("no successful sweep counted yet")
			}
			return nil
		})
		if m := metric(t, base); !strings.Contains(m, "postmortemd_timelines_removed_total 0") {
			t.Errorf("/metrics lacks postmortemd_timelines_removed_total 0")
		}
	})
	t.Run("off with 0", func(t *testing.T) {
		base, _, log := startRun(t, "--timeline-retention", "0")
		if !strings.Contains(log.String(), "timeline retention is off") {
			t.Errorf("start-up log does not say retention is off:\n%s", log)
		}
		if m := metric(t, base); strings.Contains(m, "postmortemd_retention_sweeps_total") {
			t.Errorf("retention sweeps counted while retention is off")
		}
	})
}
