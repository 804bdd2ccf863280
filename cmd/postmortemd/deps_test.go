package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/postmortemd/postmortemd"

// TestDependencyRules checks the package map in ../shared/STYLE.md with `go list`: data flows
// webhook -> receiver -> timeline (store) -> drafts; the web side reads; only main wires. It also
// keeps Alertmanager's packages (allowed in tests) out of the binary.
func TestDependencyRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}|{{.Standard}}`,
		"-deps", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		imports, deps []string
		std           bool
	}
	pkgs := map[string]pkg{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		pkgs[f[0]] = pkg{imports: strings.Fields(f[1]), deps: strings.Fields(f[2]), std: f[3] == "true"}
	}
	own := func(p string) bool { return p == module || strings.HasPrefix(p, module+"/") }

	// timeline is the domain: standard library only, and the Go project's Unicode tables
	// (golang.org/x/text) that the name rule needs for NFKC.
	for _, d := range pkgs[module+"/timeline"].deps {
		if !pkgs[d].std && !strings.HasPrefix(d, "golang.org/x/text/") {
			t.Errorf("timeline depends on %s; it may use the standard library and golang.org/x/text only", d)
		}
	}
	rules := []struct {
		pkg       string
		allowOwn  []string // our packages it may import directly
		forbidden []string // import path prefixes it must not import directly
	}{
		{"timeline/redisstore", []string{"timeline"}, []string{"github.com/labstack/echo"}},
		{"receiver", []string{"timeline"}, []string{"github.com/redis/go-redis"}},
		// The web side reads the domain, the drafts directory and the review's types, and applies
		// the blameless guardrails to what people write; it never touches Redis.
		{"internal/web", []string{"timeline", "drafts", "drafts/lint", "drafts/actions", "drafts/insights", "drafts/readinggroup", "internal/i18n"}, []string{"github.com/redis/go-redis"}},
		{"drafts", []string{"timeline", "internal/i18n"}, []string{"github.com/labstack/echo", "github.com/redis/go-redis"}},
		{"drafts/review", []string{"timeline", "drafts", "internal/i18n"}, []string{"github.com/labstack/echo", "github.com/redis/go-redis"}},
		// Action items are text: parsed from and written into documents, with no HTTP or Redis.
		{"drafts/actions", []string{"timeline", "drafts", "drafts/lint", "internal/i18n"}, []string{"net/http", "github.com/labstack/echo", "github.com/redis/go-redis"}},
		// Outgoing delivery (webhooks) knows its wire formats only.
		{"notify", []string{"timeline"}, []string{"github.com/labstack/echo", "github.com/redis/go-redis"}},
		// The catalogues and the renderings of facts: words only, read by drafts, reviews and pages.
		{"internal/i18n", []string{"timeline"}, []string{"github.com/labstack/echo", "github.com/redis/go-redis"}},
		// The reading group plans sessions from the documents' listing and records them through a
		// small interface; it reuses the review's calendar and transports.
		{"drafts/readinggroup", []string{"drafts", "drafts/review", "internal/i18n"}, []string{"net/http", "github.com/labstack/echo", "github.com/redis/go-redis"}},
		{"drafts/lint", []string{"timeline"}, []string{"github.com/labstack/echo", "github.com/redis/go-redis"}},
		// Insights are pure computation over the documents; plotting is at the web edge.
		{"drafts/insights", []string{"drafts", "drafts/actions"}, []string{"github.com/labstack/echo", "github.com/redis/go-redis", "gonum.org/v1/plot"}},
	}
	for _, r := range rules {
		p, ok := pkgs[module+"/"+r.pkg]
		if !ok {
			continue // not written yet
		}
		for _, imp := range p.imports {
			if own(imp) {
				allowed := false
				for _, a := range r.allowOwn {
					allowed = allowed || imp == module+"/"+a
				}
				if !allowed {
					t.Errorf("%s imports %s; it may import only %v of ours", r.pkg, imp, r.allowOwn)
				}
			}
			for _, f := range r.forbidden {
				if strings.HasPrefix(imp, f) {
					t.Errorf("%s imports %s", r.pkg, imp)
				}
			}
		}
	}
	for _, d := range pkgs[module+"/cmd/postmortemd"].deps {
		// pkg/labels parses the review policy's matchers in Alertmanager's own syntax (issue #5).
		if strings.HasPrefix(d, "github.com/prometheus/alertmanager") && d != "github.com/prometheus/alertmanager/pkg/labels" {
			t.Errorf("the binary depends on %s; Alertmanager's packages belong in tests only", d)
		}
		// The deploy files' validators are large and belong to internal/deploycheck's tests.
		for _, testOnly := range []string{"k8s.io/", "sigs.k8s.io/", "github.com/compose-spec/"} {
			if strings.HasPrefix(d, testOnly) {
				t.Errorf("the binary depends on %s; the deploy validators belong in tests only", d)
			}
		}
	}
}
