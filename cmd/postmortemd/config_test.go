package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "postmortemd.yml", `
listen: 127.0.0.1:7000
redis_url: redis://file:6379/0
max_body_size: 2MiB
log_level: debug
alertmanager:
  bearer_token: from-file
`)
	cfg, err := loadConfig([]string{"--config", file, "--listen", "127.0.0.1:9000"},
		env(map[string]string{"POSTMORTEMD_LISTEN": "127.0.0.1:8000", "POSTMORTEMD_REDIS_URL": "redis://env:6379/1"}),
		&bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9000" {
		t.Errorf("listen %q: a flag wins over env and file", cfg.Listen)
	}
	if cfg.RedisURL != "redis://env:6379/1" {
		t.Errorf("redis url %q: env wins over the file", cfg.RedisURL)
	}
	if cfg.MaxBodyBytes != 2<<20 || cfg.LogLevel != "debug" || cfg.Alertmanager.BearerToken != "from-file" {
		t.Errorf("file settings not applied: %+v", cfg)
	}
	if cfg.StoreTimeout != 5*time.Second {
		t.Errorf("store timeout %v, want the default 5s", cfg.StoreTimeout)
	}
}

func TestConfigFromEnvironmentOnly(t *testing.T) {
	cfg, err := loadConfig(nil, env(map[string]string{
		"POSTMORTEMD_CONFIG":                    "",
		"POSTMORTEMD_MAX_BODY_SIZE":             "512KiB",
		"POSTMORTEMD_ALERTMANAGER_USERNAME":     "am",
		"POSTMORTEMD_ALERTMANAGER_PASSWORD":     "pw",
		"POSTMORTEMD_REDIS_KEY_PREFIX":          "{team-a}",
		"POSTMORTEMD_STORE_TIMEOUT":             "750ms",
		"POSTMORTEMD_ALERTMANAGER_BEARER_TOKEN": "tok",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBodyBytes != 512<<10 || cfg.Alertmanager.Username != "am" || cfg.KeyPrefix != "{team-a}" ||
		cfg.StoreTimeout != 750*time.Millisecond || cfg.Alertmanager.BearerToken != "tok" || !cfg.embedded() {
		t.Fatalf("%+v", cfg)
	}
}

func TestConfigSecretFiles(t *testing.T) {
	tok := writeFile(t, "token", "s3cret-token\n")
	pw := writeFile(t, "password", "pw\n")
	cfg, err := loadConfig([]string{"--alertmanager-bearer-token-file", tok, "--alertmanager-username", "am",
		"--alertmanager-password-file", pw}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Alertmanager.BearerToken != "s3cret-token" || cfg.Alertmanager.Password != "pw" {
		t.Fatalf("secrets %+v (trailing newlines must be trimmed)", cfg.Alertmanager)
	}
}

// A bad setting stops start-up with an error that names it.
func TestConfigErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{"listen not host:port", []string{"--listen", "9095"}, nil, "", "listen:"},
		{"redis url scheme", []string{"--redis-url", "http://localhost:6379"}, nil, "", "redis-url:"},
		{"body size", nil, map[string]string{"POSTMORTEMD_MAX_BODY_SIZE": "huge"}, "", "POSTMORTEMD_MAX_BODY_SIZE"},
		{"tiny body size", []string{"--max-body-size", "10"}, nil, "", "max-body-size:"},
		{"duration", []string{"--store-timeout", "soon"}, nil, "", "--store-timeout"},
		{"log level", []string{"--log-level", "loud"}, nil, "", "log-level:"},
		{"log format", []string{"--log-format", "xml"}, nil, "", "log-format:"},
		{"half basic auth", []string{"--alertmanager-username", "am"}, nil, "", "alertmanager-username:"},
		{"unknown flag", []string{"--redis"}, nil, "", "redis"},
		{"stray argument", []string{"serve"}, nil, "", `unexpected argument "serve"`},
		{"unknown file key", nil, nil, "listne: :9095\n", "listne"},
		{"sentinel without master", nil, nil, "redis:\n  mode: sentinel\n  addrs: [a:26379]\n", "redis.master_name"},
		{"cluster without nodes", nil, nil, "redis:\n  mode: cluster\n", "redis.addrs"},
		{"unknown mode", nil, nil, "redis:\n  mode: ring\n  addrs: [a:1]\n", "redis.mode"},
		{"url and cluster", []string{"--redis-url", "redis://a:6379"}, nil, "redis:\n  mode: cluster\n  addrs: [b:1]\n", "redis-url:"},
		{"missing config file", []string{"--config", "/nonexistent/postmortemd.yml"}, nil, "", "config file"},
		{"person without a role", nil, nil, "people:\n  - name: Dana Okafor\n", "people[0]: role"},
		{"person without name or email", nil, nil, "people:\n  - role: primary on-call\n", "people[0]: give a name"},
		{"missing people file", []string{"--people-file", "/nonexistent/people.yml"}, nil, "", "people-file"},
		{"wait replicas not a number", []string{"--redis-url", "redis://a:6379", "--redis-wait-replicas", "one"}, nil, "", "--redis-wait-replicas"},
		{"wait replicas negative", []string{"--redis-url", "redis://a:6379", "--redis-wait-replicas", "-1"}, nil, "", "redis-wait-replicas: must be 0"},
		{"wait replicas embedded", []string{"--redis-wait-replicas", "1"}, nil, "", "redis-wait-replicas: the embedded Redis has no replicas"},
		{"wait replicas cluster", nil, nil, "redis:\n  mode: cluster\n  addrs: [b:1]\n  wait_replicas: 1\n", "redis-wait-replicas: not supported in cluster mode"},
		{"wait timeout zero", []string{"--redis-url", "redis://a:6379", "--redis-wait-replicas", "1", "--redis-wait-timeout", "0s"}, nil, "", "redis-wait-timeout: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, "c.yml", tt.file))
			}
			_, err := loadConfig(args, env(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestRedisModes(t *testing.T) {
	tests := []struct {
		file       string
		cluster    bool
		master     string
		addrs      int
		standalone bool
	}{
		{"redis:\n  mode: sentinel\n  master_name: pm\n  addrs: [s1:26379, s2:26379]\n", false, "pm", 2, false},
		{"redis:\n  mode: cluster\n  addrs: [n1:6379]\n", true, "", 1, false},
		{"redis:\n  addrs: [r:6379]\n  password: x\n", false, "", 1, true},
	}
	for _, tt := range tests {
		cfg, err := loadConfig([]string{"--config", writeFile(t, "c.yml", tt.file)}, env(nil), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		o, err := cfg.redisOptions()
		if err != nil {
			t.Fatal(err)
		}
		if o.IsClusterMode != tt.cluster || o.MasterName != tt.master || len(o.Addrs) != tt.addrs || cfg.embedded() {
			t.Errorf("%s: options %+v", tt.file, o)
		}
	}
	cfg, _ := loadConfig([]string{"--redis-url", "rediss://u:p@r.example:6380/2"}, env(nil), &bytes.Buffer{})
	o, _ := cfg.redisOptions()
	if o.Addrs[0] != "r.example:6380" || o.Username != "u" || o.Password != "p" || o.DB != 2 || o.TLSConfig == nil {
		t.Errorf("rediss URL options %+v", o)
	}
}

func TestHelpDocumentsEverySetting(t *testing.T) {
	var out bytes.Buffer
	if _, err := loadConfig([]string{"--help"}, env(nil), &out); !errors.Is(err, errHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), "--"+s.name) || !strings.Contains(out.String(), s.env()) {
			t.Errorf("--help lacks --%s / %s", s.name, s.env())
		}
	}
	if !strings.Contains(out.String(), "POSTMORTEMD_CONFIG") {
		t.Error("--help lacks POSTMORTEMD_CONFIG")
	}
}

func TestByteSizes(t *testing.T) {
	for in, want := range map[string]ByteSize{"16MiB": 16 << 20, "512KiB": 512 << 10, "1GB": 1e9, "1024": 1024, "64 KB": 64000} {
		got, err := parseByteSize(in)
		if err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "lots"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) accepted", in)
		}
	}
}

func TestPagerDutySecrets(t *testing.T) {
	file := writeFile(t, "secrets", "# one per subscription\nfrom-file-1\n\nfrom-file-2\n")
	cfg, err := loadConfig([]string{"--pagerduty-secret", "flag-1", "--pagerduty-secret", "flag-2",
		"--pagerduty-secrets-file", file},
		env(map[string]string{"POSTMORTEMD_PAGERDUTY_SECRET": "env-1,env-2"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := "[env-1 env-2 flag-1 flag-2 from-file-1 from-file-2]"
	if got := fmt.Sprint(cfg.PagerDuty.Secrets); got != want || !cfg.PagerDuty.enabled() {
		t.Fatalf("secrets %s, want %s", got, want)
	}
	cfg, err = loadConfig([]string{"--pagerduty-allow-unsigned"}, env(nil), &bytes.Buffer{})
	if err != nil || !cfg.PagerDuty.AllowUnsigned {
		t.Fatalf("--pagerduty-allow-unsigned: %v %+v", err, cfg.PagerDuty)
	}
	cfg, _ = loadConfig(nil, env(nil), &bytes.Buffer{})
	if cfg.PagerDuty.enabled() {
		t.Fatal("PagerDuty enabled with no secret")
	}
	// PagerDuty configured (roles) but nothing to verify deliveries with: refuse to start.
	_, err = loadConfig([]string{"--config", writeFile(t, "c.yml", "pagerduty:\n  roles:\n    users: {PX: incident commander}\n")}, env(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "pagerduty-secret") {
		t.Fatalf("roles without a secret: %v", err)
	}
	_, err = loadConfig([]string{"--config", writeFile(t, "c.yml", "pagerduty:\n  secrets: [s]\n  roles:\n    users: {PX: incident commander}\n")}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDraftSettings(t *testing.T) {
	cfg, err := loadConfig(nil, env(nil), &bytes.Buffer{})
	if err != nil || cfg.DraftLang != "en" || cfg.DraftTemplate != "" || cfg.DraftsDir != "postmortems" {
		t.Fatalf("defaults: %v %+v", err, cfg)
	}
	tmpl := writeFile(t, "ours.md.tmpl", "---\nid: {{.ID.YAML}}\n---\n# {{.Title}}\n")
	file := writeFile(t, "c.yml", "draft_lang: ja\ndraft_template: /from/file.tmpl\ndrafts_dir: /from/file\n")
	for _, tt := range []struct {
		name           string
		args           []string
		env            map[string]string
		lang, template string
	}{
		{"file", []string{"--config", file}, nil, "ja", "/from/file.tmpl"},
		{"environment over file", []string{"--config", file},
			map[string]string{"POSTMORTEMD_DRAFT_LANG": "en", "POSTMORTEMD_DRAFT_TEMPLATE": tmpl}, "en", tmpl},
		{"flags over environment", []string{"--draft-lang", "ja", "--draft-template", tmpl},
			map[string]string{"POSTMORTEMD_DRAFT_LANG": "en", "POSTMORTEMD_DRAFT_TEMPLATE": "/from/env.tmpl"}, "ja", tmpl},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, env(tt.env), &bytes.Buffer{})
			if err != nil || cfg.DraftLang != tt.lang || cfg.DraftTemplate != tt.template {
				t.Fatalf("%v: lang %q template %q, want %q %q", err, cfg.DraftLang, cfg.DraftTemplate, tt.lang, tt.template)
			}
		})
	}
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown language flag", []string{"--draft-lang", "fr"}, nil, `draft-lang: want one of en, ja, got "fr"`},
		{"unknown language env", nil, map[string]string{"POSTMORTEMD_DRAFT_LANG": "EN"}, "draft-lang:"},
		{"empty drafts dir", []string{"--drafts-dir", ""}, nil, "drafts-dir: must not be empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(tt.args, env(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// A draft template that does not parse, or fails on the sample incidents, or a drafts directory
// that cannot be written, stops start-up with an error naming the setting.
func TestDraftSettingsStopStartUp(t *testing.T) {
	notADir := writeFile(t, "plain-file", "x")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"template syntax", []string{"--draft-template", writeFile(t, "bad.tmpl", "---\nid: x\n---\n{{if .Title}}\n")}, "draft-template: "},
		{"template unknown field", []string{"--draft-template", writeFile(t, "field.tmpl", "---\nid: x\n---\n{{.Nope}}\n")}, "draft-template: "},
		{"missing template", []string{"--draft-template", filepath.Join(t.TempDir(), "absent.tmpl")}, "draft-template: "},
		{"drafts dir under a file", []string{"--drafts-dir", filepath.Join(notADir, "drafts")}, "drafts-dir: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), append([]string{"--listen", "127.0.0.1:0"}, tt.args...), env(nil), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want one starting %q", err, tt.want)
			}
		})
	}
}

func TestPrepareDraftsDirCreatesIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "postmortems")
	if err := prepareDraftsDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o007 != 0 {
		t.Fatalf("%v %v: want a directory closed to others (0o750)", fi, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the write check left %v behind", entries)
	}
	if err := prepareDraftsDir(dir); err != nil {
		t.Fatalf("an existing directory: %v", err)
	}
}

// The people directory comes from the config file and a people file (flag or environment), merged.
func TestPeopleDirectory(t *testing.T) {
	file := writeFile(t, "people.yml", "- name: 渡辺 健二\n  role: secondary on-call\n- email: sam@example.com\n  role: incident commander\n")
	conf := writeFile(t, "c.yml", "people:\n  - name: Dana Okafor\n    email: dana@example.com\n    role: primary on-call for checkout-api\n")
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"--config", conf, "--people-file", file}, nil},
		{"environment", []string{"--config", conf}, map[string]string{"POSTMORTEMD_PEOPLE_FILE": file}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, env(tt.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.participants()
			if len(got) != 3 || got[0].Name != "Dana Okafor" || got[0].Role != "primary on-call for checkout-api" ||
				got[1].Name != "渡辺 健二" || got[2].Email != "sam@example.com" || got[2].Role != "incident commander" {
				t.Fatalf("people %+v", got)
			}
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		bad := writeFile(t, "bad.yml", "- nmae: Dana\n  role: x\n")
		if _, err := loadConfig([]string{"--people-file", bad}, env(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "people-file") {
			t.Fatalf("error %v, want one naming people-file", err)
		}
	})
}

// --postmortems-store picks where documents live; with redis, --drafts-dir is a mirror only when it
// was given (by flag, environment or file), never by its default.
func TestPostmortemsStoreSetting(t *testing.T) {
	file := writeFile(t, "c.yml", "postmortems_store: redis\ndrafts_dir: /from/file\n")
	for _, tt := range []struct {
		name          string
		args          []string
		env           map[string]string
		store, mirror string
	}{
		{"default: files, no mirror", nil, nil, "files", ""},
		{"redis without a drafts dir: no mirror", []string{"--postmortems-store", "redis"}, nil, "redis", ""},
		{"redis from the environment with a drafts dir flag", []string{"--drafts-dir", "/git/pm"},
			map[string]string{"POSTMORTEMD_POSTMORTEMS_STORE": "redis"}, "redis", "/git/pm"},
		{"redis with the drafts dir from the environment", nil,
			map[string]string{"POSTMORTEMD_POSTMORTEMS_STORE": "redis", "POSTMORTEMD_DRAFTS_DIR": "/env/pm"}, "redis", "/env/pm"},
		{"both from the file", []string{"--config", file}, nil, "redis", "/from/file"},
		{"files with a drafts dir: no mirror", []string{"--drafts-dir", "/git/pm"}, nil, "files", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, env(tt.env), &bytes.Buffer{})
			if err != nil || cfg.PostmortemsStore != tt.store || cfg.mirrorDir() != tt.mirror {
				t.Fatalf("%v: store %q mirror %q, want %q %q", err, cfg.PostmortemsStore, cfg.mirrorDir(), tt.store, tt.mirror)
			}
		})
	}
	if _, err := loadConfig([]string{"--postmortems-store", "s3"}, env(nil), &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), `postmortems-store: want files or redis, got "s3"`) {
		t.Fatalf("unknown store: %v", err)
	}
}

func TestExportDirArgument(t *testing.T) {
	for _, tt := range []struct {
		args      []string
		dir, rest string
		bad       bool
	}{
		{[]string{"--dir", "out", "--redis-url", "redis://x"}, "out", "--redis-url redis://x", false},
		{[]string{"--postmortems-store", "redis", "--dir=out"}, "out", "--postmortems-store redis", false},
		{[]string{"--redis-url", "redis://x"}, "", "", true},
		{[]string{"--dir"}, "", "", true},
	} {
		dir, rest, err := exportDir(tt.args)
		if (err != nil) != tt.bad || dir != tt.dir || strings.Join(rest, " ") != tt.rest {
			t.Errorf("exportDir(%q) = %q %q %v", tt.args, dir, rest, err)
		}
	}
	var out, errOut bytes.Buffer
	if code := runExport([]string{"--redis-url", "redis://127.0.0.1:1/0"}, env(nil), &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "--dir is required") {
		t.Fatalf("export without --dir: %d %s", code, errOut.String())
	}
}

// Sentinel can be chosen with flags or environment variables alone (no config file), as a
// Kubernetes Deployment sets it.
func TestSentinelSettings(t *testing.T) {
	cfg, err := loadConfig(nil, env(map[string]string{"POSTMORTEMD_REDIS_SENTINEL_ADDR": "s1:26379, s2:26379",
		"POSTMORTEMD_REDIS_SENTINEL_MASTER": "pm"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := cfg.redisOptions()
	if err != nil || o.MasterName != "pm" || strings.Join(o.Addrs, " ") != "s1:26379 s2:26379" || cfg.embedded() {
		t.Fatalf("options %+v %v", o, err)
	}
	if cfg.Redis.WaitReplicas != 0 || cfg.Redis.WaitTimeout != time.Second {
		t.Errorf("replica waits by default: %d within %s, want off (0) and 1s", cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout)
	}
	cfg, err = loadConfig([]string{"--config", writeFile(t, "c.yml", "redis:\n  mode: sentinel\n  master_name: pm\n  addrs: [s1:26379]\n  wait_replicas: 1\n  wait_timeout: 250ms\n")},
		env(map[string]string{"POSTMORTEMD_REDIS_WAIT_REPLICAS": "2"}), &bytes.Buffer{})
	if err != nil || cfg.Redis.WaitReplicas != 2 || cfg.Redis.WaitTimeout != 250*time.Millisecond {
		t.Errorf("wait_replicas from the file, overridden by the environment: %+v %v, want 2 within 250ms", cfg.Redis, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--redis-sentinel-addr", "s1:26379"}, "--redis-sentinel-master"},
		{[]string{"--redis-sentinel-addr", "s1:26379", "--redis-sentinel-master", "pm", "--redis-url", "redis://r:6379"}, "redis-url: a URL is standalone Redis"},
	} {
		if _, err := loadConfig(tt.args, env(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("loadConfig(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}
