package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The files in deploy/ stay usable as the service grows: the example configuration loads, the
// example alertmanager.yml passes Alertmanager's own checker, and every POSTMORTEMD_* variable the
// manifests set is one the service reads.
func TestDeployFiles(t *testing.T) {
	t.Run("example postmortemd.yml loads", func(t *testing.T) {
		raw, err := os.ReadFile("../../deploy/postmortemd.yml")
		if err != nil {
			t.Fatal(err)
		}
		cfg := defaultConfig()
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("decode: %v", err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("validate: %v", err)
		}
		if !cfg.ReadingGroup.Enabled() || cfg.ReadingGroup.PerSession != 3 {
			t.Fatalf("the example's reading_group did not load: %+v", cfg.ReadingGroup)
		}
	})

	t.Run("example alertmanager.yml passes amtool check-config", func(t *testing.T) {
		amtool, err := exec.LookPath("amtool")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("amtool missing (Debian package prometheus-alertmanager)")
			}
			t.Skip("amtool not installed")
		}
		if out, err := exec.Command(amtool, "check-config", "../../deploy/alertmanager.yml").CombinedOutput(); err != nil {
			t.Fatalf("amtool check-config: %v\n%s", err, out)
		}
	})

	known := map[string]bool{envPrefix + "CONFIG": true}
	for _, s := range settings {
		known[s.env()] = true
	}
	envVar := regexp.MustCompile(`POSTMORTEMD_[A-Z_]+`)
	for _, f := range []string{"../../deploy/compose.yaml", "../../deploy/kubernetes/postmortemd.yaml", "../../deploy/Dockerfile",
		"../../deploy/systemd/postmortemd.service"} {
		t.Run(f, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(f, ".yaml") {
				dec := yaml.NewDecoder(bytes.NewReader(raw))
				for {
					var doc any
					if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
						break
					} else if err != nil {
						t.Fatalf("YAML: %v", err)
					}
				}
			}
			for _, v := range envVar.FindAllString(string(raw), -1) {
				if !known[v] {
					t.Errorf("%s sets %s, which postmortemd does not read", f, v)
				}
			}
		})
	}
}

// README.md documents every setting and keeps the test command that .ci/run uses.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, s := range settings {
		if !strings.Contains(readme, "`--"+s.name+"`") || !strings.Contains(readme, "`"+s.env()+"`") {
			t.Errorf("README.md does not document --%s / %s", s.name, s.env())
		}
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`TEST_CMD='([^']+)'`).FindStringSubmatch(string(ci))
	if m == nil || !strings.Contains(readme, "\n"+m[1]+"\n") {
		t.Errorf(".ci/run's test command %v is not the README's", m)
	}
}
