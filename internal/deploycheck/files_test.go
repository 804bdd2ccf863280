package deploycheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// yamlFiles lists every YAML file under deploy/.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(path(t, "deploy"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yml" || ext == ".yaml") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kindOf says which validator a deploy file belongs to, from its content.
func kindOf(raw []byte) string {
	var top map[string]any
	// A multi-document file (Kubernetes) is classified by its first document.
	if err := yaml.NewDecoder(strings.NewReader(string(raw))).Decode(&top); err != nil {
		return ""
	}
	has := func(k string) bool { _, ok := top[k]; return ok }
	switch {
	case has("apiVersion") && has("kind"):
		return "kubernetes"
	case has("services"):
		return "compose"
	case has("route") && has("receivers"):
		return "alertmanager"
	case has("tests") && has("rule_files"):
		return "prometheus-rule-tests"
	case has("groups"):
		return "prometheus-rules"
	case has("scrape_configs") || has("rule_files") || has("alerting"):
		return "prometheus"
	case has("listen") || has("redis_url") || has("drafts_dir"):
		return "postmortemd" // loaded by cmd/postmortemd's TestDeployFiles with the service's own loader
	}
	return ""
}

// Every file in deploy/ is one the tests validate with its ecosystem's loader: a new file cannot
// slip in unchecked.
func TestEveryDeployFileHasAValidator(t *testing.T) {
	err := filepath.WalkDir(path(t, "deploy"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root(t), p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == "deploy/Dockerfile":
			return nil // its build context's .dockerignore: TestDockerignore
		case strings.HasSuffix(rel, ".service"):
			return nil // TestSystemdUnit
		case strings.HasSuffix(rel, ".yml") || strings.HasSuffix(rel, ".yaml"):
			raw, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if kindOf(raw) == "" {
				t.Errorf("%s: no validator knows this YAML file; add it to internal/deploycheck", rel)
			}
			return nil
		}
		t.Errorf("%s: no validator knows this file; add it to internal/deploycheck", rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// filesOfKind lists the deploy files of one kind.
func filesOfKind(t *testing.T, kind string) []string {
	t.Helper()
	var out []string
	for _, f := range yamlFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if kindOf(raw) == kind {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s file in deploy/", kind)
	}
	return out
}
