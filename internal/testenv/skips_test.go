package testenv

import (
	"bytes"
	"strings"
	"testing"
)

// A test skipped for want of a server is recorded, and the report names it and the one apt-get
// command that installs what every skipped test needs.
func TestSkipsAreReported(t *testing.T) {
	t.Setenv("CI", "")
	skipsMu.Lock()
	saved := skips
	skips = nil
	skipsMu.Unlock()
	t.Cleanup(func() { skipsMu.Lock(); skips = saved; skipsMu.Unlock() })

	t.Run("needs redis", func(t *testing.T) { skipMissing(t, "redis-server", "apt-get install redis-server") })
	t.Run("needs alertmanager", func(t *testing.T) {
		skipMissing(t, "Alertmanager", "apt-get install prometheus-alertmanager, or set "+AlertmanagerEnv)
	})
	t.Run("needs redis too", func(t *testing.T) { skipMissing(t, "redis-server", "apt-get install redis-server") })

	skipsMu.Lock()
	got := append([]skip(nil), skips...)
	skipsMu.Unlock()
	if len(got) != 3 || got[1].pkg != "prometheus-alertmanager" || got[0].test != t.Name()+"/needs_redis" {
		t.Fatalf("recorded skips %+v", got)
	}
	var out bytes.Buffer
	report(&out, got, []string{"chromium", "prometheus-alertmanager", "redis-server"})
	for _, want := range []string{"3 integration test(s) skipped", t.Name() + "/needs_alertmanager (needs Alertmanager)",
		"to run them: sudo apt-get install prometheus-alertmanager redis-server\n",
		"for every test skipped so far in this go test run: sudo apt-get install chromium prometheus-alertmanager redis-server\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
