package prometheus_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/lab/labtest"
)

// TestRules: Prometheus's own promtool accepts the rules and their unit
// tests pass (each alert fires when it should and not before; each
// recording rule computes the expected value).
func TestRules(t *testing.T) {
	promtool := labtest.Tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "calico-rules.yml"}, {"test", "rules", "calico-rules_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
