package deploycheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// The compose demo's Alertmanager configuration, run by a real Alertmanager, delivers an alert's
// firing and its resolution to postmortemd's webhook path. Only the host (postmortemd:9095, a
// compose service name) and the group timers (seconds instead of tens of seconds) are changed.
func TestDemoAlertmanagerDeliversToPostmortemd(t *testing.T) {
	bin := os.Getenv(testenv.AlertmanagerEnv)
	if bin == "" {
		if p, err := exec.LookPath("alertmanager"); err == nil {
			bin = p
		} else {
			bin = tool(t, "prometheus-alertmanager", "prometheus-alertmanager")
		}
	}
	raw, err := os.ReadFile(path(t, "deploy/demo/alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}

	type delivery struct {
		path, status string
		alerts       int
	}
	var mu sync.Mutex
	var got []delivery
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Status string `json:"status"`
			Alerts []any  `json:"alerts"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &msg); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		got = append(got, delivery{r.URL.Path, msg.Status, len(msg.Alerts)})
		mu.Unlock()
	}))
	defer hook.Close()

	cfg := string(raw)
	for old, repl := range map[string]string{"http://postmortemd:9095": hook.URL, "group_wait: 10s": "group_wait: 1s",
		"group_interval: 30s": "group_interval: 1s"} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("deploy/demo/alertmanager.yml no longer has %q; update this test", old)
		}
		cfg = strings.ReplaceAll(cfg, old, repl)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var out bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+file, "--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	waitFor(t, 20*time.Second, "alertmanager ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	startsAt := time.Now().UTC().Truncate(time.Second)
	post := func(endsAt time.Time) {
		t.Helper()
		alert := map[string]any{"labels": map[string]string{"alertname": "DemoCheckoutLatencyHigh",
			"severity": "critical", "service": "checkout"}, "startsAt": startsAt}
		if !endsAt.IsZero() {
			alert["endsAt"] = endsAt
		}
		b, _ := json.Marshal([]any{alert})
		resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("post alert: %s", resp.Status)
		}
	}
	has := func(status string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range got {
			if d.status == status {
				return true
			}
		}
		return false
	}
	post(time.Time{})
	waitFor(t, 30*time.Second, "the firing notification", func() bool { return has("firing") })
	post(time.Now())
	waitFor(t, 30*time.Second, "the resolved notification (send_resolved)", func() bool { return has("resolved") })
	mu.Lock()
	defer mu.Unlock()
	for _, d := range got {
		if d.path != "/webhook/alertmanager" || d.alerts != 1 {
			t.Errorf("delivery %+v: want one alert at /webhook/alertmanager", d)
		}
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v", what, timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
