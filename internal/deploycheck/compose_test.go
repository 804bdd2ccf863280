package deploycheck

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// loadCompose loads a compose file as `docker compose -f FILE` does: the Compose specification's
// loader with schema validation, interpolation from env, normalisation and the consistency check,
// paths resolved from the file's directory.
func loadCompose(t *testing.T, file string, env map[string]string) *types.Project {
	t.Helper()
	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(file),
		ConfigFiles: []types.ConfigFile{{Filename: file}},
		Environment: env,
	}
	p, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("postmortemd-test", true)
	})
	if err != nil {
		t.Fatalf("compose loader: %s: %v", file, err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("compose file: %v", err)
	}
	return s
}

// The compose demo loads with the Compose specification's loader and is wired together: Redis with
// its append-only file, postmortemd built from this repository with a write token, Alertmanager
// sending to postmortemd's service and port, Prometheus sending to Alertmanager with its rules
// mounted where its configuration names them, every mounted file present, every image pinned, and
// every port published on loopback only.
func TestComposeDemo(t *testing.T) {
	file := path(t, "deploy/compose.yaml")
	for _, f := range filesOfKind(t, "compose") {
		if f != file {
			loadCompose(t, f, nil)
		}
	}
	p := loadCompose(t, file, nil)

	redis := service(t, p, "redis")
	if cmd := strings.Join(redis.Command, " "); !strings.Contains(cmd, "--appendonly yes") {
		t.Errorf("redis runs %q: want the append-only file on (--appendonly yes)", cmd)
	}
	if !slices.ContainsFunc(redis.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Type == "volume" && v.Target == "/data" }) {
		t.Errorf("redis keeps /data on no named volume: %+v", redis.Volumes)
	}

	pm := service(t, p, "postmortemd")
	if pm.Build == nil || pm.Build.Dockerfile != "deploy/Dockerfile" || filepath.Clean(pm.Build.Context) != root(t) {
		t.Errorf("postmortemd build %+v: want deploy/Dockerfile with the repository as context", pm.Build)
	}
	if tok := pm.Environment["POSTMORTEMD_WRITE_TOKEN"]; tok == nil || *tok == "" {
		t.Errorf("postmortemd runs without a write token: writes would be open")
	}
	if u := pm.Environment["POSTMORTEMD_REDIS_URL"]; u == nil || !strings.HasPrefix(*u, "redis://redis:") {
		t.Errorf("postmortemd's Redis URL %v: want the redis service", u)
	}
	// The shell's POSTMORTEMD_WRITE_TOKEN replaces the demo's.
	if tok := service(t, loadCompose(t, file, map[string]string{"POSTMORTEMD_WRITE_TOKEN": "mine"}), "postmortemd").
		Environment["POSTMORTEMD_WRITE_TOKEN"]; tok == nil || *tok != "mine" {
		t.Errorf("POSTMORTEMD_WRITE_TOKEN from the environment is not used: %v", tok)
	}

	for name, s := range p.Services {
		if s.Build == nil && (!strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest")) {
			t.Errorf("service %s: image %q is not pinned to a version", name, s.Image)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %s on %q: want 127.0.0.1 only", name, port.Published, port.HostIP)
			}
		}
		for _, v := range s.Volumes {
			if v.Type != "bind" {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts %s, which does not exist: %v", name, v.Source, err)
			}
		}
	}

	// Alertmanager's webhook goes to the postmortemd service on the port it listens on.
	am := service(t, p, "alertmanager")
	amFile := mountedSource(t, am, "/etc/alertmanager/alertmanager.yml")
	var amCfg amConfig
	mustYAML(t, amFile, &amCfg)
	var hooks []string
	for _, r := range amCfg.Receivers {
		for _, w := range r.WebhookConfigs {
			hooks = append(hooks, w.URL)
		}
	}
	if len(hooks) != 1 {
		t.Fatalf("demo Alertmanager webhooks %v: want one, to postmortemd", hooks)
	}
	u, err := url.Parse(hooks[0])
	if err != nil || u.Hostname() != "postmortemd" || u.Port() != "9095" || u.Path != "/webhook/alertmanager" {
		t.Errorf("demo Alertmanager sends to %q: want http://postmortemd:9095/webhook/alertmanager", hooks[0])
	}
	if !slices.ContainsFunc(pm.Ports, func(p types.ServicePortConfig) bool { return p.Target == 9095 }) {
		t.Errorf("postmortemd publishes %+v: want its port 9095", pm.Ports)
	}

	// Prometheus sends to the alertmanager service, and its rule file is mounted where its
	// configuration looks for it (beside the configuration).
	prom := service(t, p, "prometheus")
	promFile := mountedSource(t, prom, "/etc/prometheus/prometheus.yml")
	var promCfg struct {
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
	}
	mustYAML(t, promFile, &promCfg)
	if len(promCfg.Alerting.Alertmanagers) != 1 || len(promCfg.Alerting.Alertmanagers[0].StaticConfigs) != 1 ||
		!slices.Equal(promCfg.Alerting.Alertmanagers[0].StaticConfigs[0].Targets, []string{"alertmanager:9093"}) {
		t.Errorf("demo Prometheus alerts %+v: want alertmanager:9093", promCfg.Alerting)
	}
	if len(promCfg.RuleFiles) == 0 {
		t.Fatal("demo Prometheus has no rule files")
	}
	for _, rf := range promCfg.RuleFiles {
		target := rf
		if !filepath.IsAbs(rf) {
			target = "/etc/prometheus/" + rf
		}
		src := mountedSource(t, prom, target)
		if filepath.Dir(src) != filepath.Dir(promFile) || filepath.Base(src) != filepath.Base(rf) {
			t.Errorf("rule file %s is mounted from %s: promtool checked the one beside %s", rf, src, promFile)
		}
	}
}

// mountedSource is the host file a service mounts at target.
func mountedSource(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target && v.Type == "bind" {
			return v.Source
		}
	}
	t.Fatalf("service %s mounts nothing at %s", s.Name, target)
	return ""
}

func mustYAML(t *testing.T, file string, v any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}
