package deploycheck

import (
	"path/filepath"
	"strings"
	"testing"
)

// The Prometheus configuration and rules pass promtool's checks, and the example rule's unit test
// (promtool test rules) shows that it fires and resolves on its own.
func TestPrometheusFiles(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	for _, f := range filesOfKind(t, "prometheus") {
		t.Run("check config "+filepath.Base(f), func(t *testing.T) {
			out := run(t, filepath.Dir(f), promtool, "check", "config", f)
			// check config also checks the rule files it names: they must be found.
			if !strings.Contains(out, "rule files found") {
				t.Errorf("promtool found no rule files:\n%s", out)
			}
		})
	}
	for _, f := range filesOfKind(t, "prometheus-rules") {
		t.Run("check rules "+filepath.Base(f), func(t *testing.T) {
			run(t, filepath.Dir(f), promtool, "check", "rules", f)
		})
	}
	for _, f := range filesOfKind(t, "prometheus-rule-tests") {
		t.Run("test rules "+filepath.Base(f), func(t *testing.T) {
			run(t, filepath.Dir(f), promtool, "test", "rules", f)
		})
	}
}
