package manifests_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/manifests"
)

// TestPrometheusConfig: promtool accepts the configuration the manifest's
// ConfigMap holds, with its rules, as Prometheus would load it from the
// mounted directory.
func TestPrometheusConfig(t *testing.T) {
	promtool := labtest.Tool(t, "promtool")
	var cm *corev1.ConfigMap
	for _, o := range manifests.Prometheus() {
		if c, ok := o.(*corev1.ConfigMap); ok {
			cm = c
		}
	}
	if cm == nil {
		t.Fatal("the Prometheus manifest has no ConfigMap")
	}
	dir := t.TempDir()
	for name, data := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(promtool, "check", "config", filepath.Join(dir, "prometheus.yml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 1 rule files found") {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}
