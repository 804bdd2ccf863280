package deploycheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// amConfig is the part of an Alertmanager configuration these tests reason about.
type amConfig struct {
	Route struct {
		Receiver string `yaml:"receiver"`
	} `yaml:"route"`
	Receivers []struct {
		Name           string `yaml:"name"`
		WebhookConfigs []struct {
			URL string `yaml:"url"`
		} `yaml:"webhook_configs"`
	} `yaml:"receivers"`
}

// amSnippet is one Alertmanager configuration found in the repository.
type amSnippet struct {
	name string // where it is, for messages
	raw  []byte
}

// alertmanagerSnippets returns every Alertmanager configuration in deploy/ and every YAML block of
// README.md that is one (it has a route and receivers).
func alertmanagerSnippets(t *testing.T) []amSnippet {
	t.Helper()
	var out []amSnippet
	for _, f := range yamlFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if isAlertmanagerConfig(raw) {
			rel, _ := filepath.Rel(root(t), f)
			out = append(out, amSnippet{name: filepath.ToSlash(rel), raw: raw})
		}
	}
	readme, err := os.ReadFile(path(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range markdownBlocks(string(readme), "yaml") {
		if isAlertmanagerConfig([]byte(b.text)) {
			out = append(out, amSnippet{name: "README.md:" + strconv.Itoa(b.line), raw: []byte(b.text)})
		}
	}
	return out
}

func isAlertmanagerConfig(raw []byte) bool {
	var top map[string]any
	if yaml.Unmarshal(raw, &top) != nil {
		return false
	}
	_, route := top["route"]
	_, receivers := top["receivers"]
	return route && receivers
}

// block is a fenced code block of a Markdown file and the line its text starts on.
type block struct {
	text string
	line int
}

var fence = regexp.MustCompile("(?m)^```([a-z]*)\n")

// markdownBlocks returns the fenced code blocks of the given language.
func markdownBlocks(md, lang string) []block {
	var out []block
	rest, offset := md, 0
	for {
		m := fence.FindStringSubmatchIndex(rest)
		if m == nil {
			return out
		}
		body := rest[m[1]:]
		end := strings.Index(body, "\n```")
		if end < 0 {
			return out
		}
		if rest[m[2]:m[3]] == lang {
			line := strings.Count(md[:offset+m[1]], "\n") + 1
			out = append(out, block{text: body[:end+1], line: line})
		}
		consumed := m[1] + end + len("\n```")
		rest, offset = rest[consumed:], offset+consumed
	}
}

// Every Alertmanager configuration the project shows passes Alertmanager's own checker, and its
// routing tree, run through Alertmanager's own route tester, sends every alert to the usual
// receiver (the root route's) as well as the pageable ones to postmortemd: adding postmortemd
// must never take alerts away from the pager.
func TestAlertmanagerExamplesKeepTheUsualReceiver(t *testing.T) {
	snippets := alertmanagerSnippets(t)
	names := make([]string, len(snippets))
	for i, s := range snippets {
		names[i] = s.name
	}
	for _, want := range []string{"deploy/alertmanager.yml", "deploy/demo/alertmanager.yml", "README.md"} {
		if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, want) }) {
			t.Fatalf("no Alertmanager configuration found in %s (found %v)", want, names)
		}
	}
	amtool := tool(t, "amtool", "prometheus-alertmanager")
	for _, s := range snippets {
		t.Run(s.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "alertmanager.yml")
			if err := os.WriteFile(file, s.raw, 0o600); err != nil {
				t.Fatal(err)
			}
			run(t, "", amtool, "check-config", file)

			var cfg amConfig
			if err := yaml.Unmarshal(s.raw, &cfg); err != nil {
				t.Fatal(err)
			}
			usual := cfg.Route.Receiver
			var postmortemd []string
			for _, r := range cfg.Receivers {
				for _, w := range r.WebhookConfigs {
					if strings.HasSuffix(w.URL, "/webhook/alertmanager") {
						postmortemd = append(postmortemd, r.Name)
					}
				}
			}
			if len(postmortemd) == 0 || slices.Contains(postmortemd, usual) {
				t.Fatalf("want a postmortemd receiver apart from the root's %q; postmortemd receivers %v", usual, postmortemd)
			}
			for _, sev := range []string{"critical", "page", "warning", "info"} {
				out := run(t, "", amtool, "config", "routes", "test", "--config.file="+file,
					"alertname=HighLatency", "service=checkout", "severity="+sev)
				got := strings.Split(strings.TrimSpace(lastLine(out)), ",")
				if !slices.Contains(got, usual) {
					t.Errorf("severity=%s goes to %v: the usual receiver %q does not get it", sev, got, usual)
				}
				if sev != "info" && !slices.ContainsFunc(got, func(r string) bool { return slices.Contains(postmortemd, r) }) {
					t.Errorf("severity=%s goes to %v: postmortemd (%v) does not get it", sev, got, postmortemd)
				}
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
