package drafts

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/postmortemd/postmortemd/timeline"
)

// statusPrefix is a leading "[FIRING:2]" or "[RESOLVED]" (Alertmanager's default notification
// titles), which says nothing about the incident.
var statusPrefix = regexp.MustCompile(`^\s*\[(?i:firing|resolved)(?::\d+)?\]\s*`)

// receiverID is the id format the receiver gives incidents: date, slug, 8 random hex digits.
var receiverID = regexp.MustCompile(`^[0-9]{8}-[a-z0-9-]{1,64}-([0-9a-f]{8})$`)

// FileName is the draft's file name for inc: the UTC start date, a slug of the title's first part
// and a short id, e.g. "2026-11-23-highlatency-9f86d081.md". The short id is the random suffix of
// the receiver's incident ids, or else the first 8 hex digits of the SHA-256 of the id. The name is
// stable (the same incident always gets the same name), uses only [a-z0-9.-], is at most 63 bytes,
// and cannot name another directory, whatever the labels and title contain.
func FileName(inc timeline.Incident) string {
	date := inc.StartedAt.UTC().Format("2006-01-02")
	if y := inc.StartedAt.UTC().Year(); y < 1 || y > 9999 {
		date = "0000-00-00"
	}
	// Alertmanager's PagerDuty description starts "[FIRING:1] ": the name is what follows.
	name, _, _ := strings.Cut(statusPrefix.ReplaceAllString(inc.Title, ""), ":")
	s := timeline.Slug(name, 40)
	if s == "" {
		s = "incident"
	}
	short := ""
	if m := receiverID.FindStringSubmatch(inc.ID); m != nil {
		short = m[1]
	} else {
		sum := sha256.Sum256([]byte(inc.ID))
		short = hex.EncodeToString(sum[:4])
	}
	return date + "-" + s + "-" + short + ".md"
}
