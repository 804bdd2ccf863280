package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReviewSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "postmortemd.yml")
	if err := os.WriteFile(file, []byte(`review:
  time_zone: Asia/Tokyo
  working_hours: "09:30-17:00"
  holidays: ["2026-11-23"]
  policy:
    matchers: ['team="payments"']
  owners:
    labels: {team: {payments: [payments@example.com]}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		return map[string]string{"POSTMORTEMD_REVIEW_HOLIDAY": "2026-12-31,2027-01-01", "POSTMORTEMD_REVIEW_WORKING_DAYS": "mon,tue,wed"}[k]
	}
	cfg, err := loadConfig([]string{"--config", file, "--review-match", `severity="page"`, "--review-lead", "3h",
		"--review-single-facilitator", "--smtp-addr", "127.0.0.1:25", "--review-organizer", "pm@example.com"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Review
	if r.TimeZone != "Asia/Tokyo" || r.Lead != 3*time.Hour || !r.SingleFacilitator ||
		strings.Join(r.Holidays, ",") != "2026-11-23,2026-12-31,2027-01-01" ||
		strings.Join(r.Policy.Matchers, ",") != `team="payments",severity="page"` ||
		r.Owners.Labels["team"]["payments"][0] != "payments@example.com" {
		t.Errorf("review config = %+v", r)
	}
	h, err := r.hours()
	if err != nil || h.Start != 9*time.Hour+30*time.Minute || h.End != 17*time.Hour || len(h.Days) != 3 || h.Location.String() != "Asia/Tokyo" {
		t.Errorf("hours = %+v, %v", h, err)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--review-timezone", "Mars/Olympus"}, "review-timezone"},
		{[]string{"--review-working-hours", "18:00-09:00"}, "review-working-hours"},
		{[]string{"--review-working-hours", "nine to five"}, "review-working-hours"},
		{[]string{"--review-working-days", "mon,funday"}, "review-working-days"},
		{[]string{"--review-holiday", "23/11/2026"}, "review-holiday"},
		{[]string{"--review-match", `severity=~"(`}, "review-match"},
		{[]string{"--smtp-addr", "127.0.0.1:25"}, "smtp-from"},
		{[]string{"--review-working-hours", "09:00-10:00", "--review-duration", "2h"}, "longer than the working day"},
	}
	for _, tt := range bad {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := loadConfig(tt.args, func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("loadConfig(%v) = %v, want an error naming %s", tt.args, err, tt.want)
			}
		})
	}
}
