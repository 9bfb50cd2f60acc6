package ctl_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/lab/labtest"
)

const clientDefaults = `apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: node.defaults-test}
spec: {logSeverityScreen: Info}
---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: node.defaults-kept}
spec: {floatingIPs: Enabled, bpfConnectTimeLoadBalancing: Disabled, bpfHostNetworkedNATWithoutCTLB: Disabled}
---
apiVersion: projectcalico.org/v3
kind: KubeControllersConfiguration
metadata: {name: defaults-test}
spec: {controllers: {node: {}}}
---
apiVersion: projectcalico.org/v3
kind: KubeControllersConfiguration
metadata: {name: defaults-kept}
spec: {prometheusMetricsPort: 0, controllers: {node: {leakGracePeriod: 5m}}}
`

// TestClientDefaults: calicoctl stores the defaults Calico's client fills
// in on write (FelixConfiguration floatingIPs, bpfConnectTimeLoadBalancing,
// bpfHostNetworkedNATWithoutCTLB; KubeControllersConfiguration
// prometheusMetricsPort and the node controller's leakGracePeriod), keeps
// values already given, and a round trip (get -o yaml, apply) changes no
// object; an object written with kubectl is stored the same.
func TestClientDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	mustCalicoctlIn(t, clientDefaults, "apply", "-f", "-")
	defer calicoctl(t, clientDefaults, "delete", "-f", "-", "--skip-not-exists")
	jp := func(kind, name, path string) string {
		return kubectl(t, "get", kind, name, "-o", "jsonpath={"+path+"}")
	}
	const fc, kcc = "felixconfigurations.projectcalico.org", "kubecontrollersconfigurations.projectcalico.org"
	for _, c := range []struct{ kind, name, path, want string }{
		{fc, "node.defaults-test", ".spec.floatingIPs", "Disabled"},
		{fc, "node.defaults-test", ".spec.bpfConnectTimeLoadBalancing", "TCP"},
		{fc, "node.defaults-test", ".spec.bpfHostNetworkedNATWithoutCTLB", "Enabled"},
		{fc, "node.defaults-kept", ".spec.floatingIPs", "Enabled"},
		{fc, "node.defaults-kept", ".spec.bpfConnectTimeLoadBalancing", "Disabled"},
		{fc, "node.defaults-kept", ".spec.bpfHostNetworkedNATWithoutCTLB", "Disabled"},
		{kcc, "defaults-test", ".spec.prometheusMetricsPort", "9094"},
		{kcc, "defaults-test", ".spec.controllers.node.leakGracePeriod", "15m0s"},
		{kcc, "defaults-kept", ".spec.prometheusMetricsPort", "0"},
		{kcc, "defaults-kept", ".spec.controllers.node.leakGracePeriod", "5m0s"},
	} {
		if got := jp(c.kind, c.name, c.path); got != c.want {
			t.Errorf("%s %s %s = %q, want %q", c.kind, c.name, c.path, got, c.want)
		}
	}

	// The round trip: what get prints, applied again, changes nothing.
	rvs := func() map[string]string {
		out := map[string]string{}
		for _, k := range []struct{ kind, name string }{{fc, "node.defaults-test"}, {fc, "node.defaults-kept"}, {kcc, "defaults-test"}, {kcc, "defaults-kept"}} {
			out[k.name] = jp(k.kind, k.name, ".metadata.resourceVersion")
		}
		return out
	}
	before := rvs()
	var printed strings.Builder
	for _, k := range []struct{ kind, name string }{{"felixconfiguration", "node.defaults-test"}, {"felixconfiguration", "node.defaults-kept"},
		{"kubecontrollersconfiguration", "defaults-test"}, {"kubecontrollersconfiguration", "defaults-kept"}} {
		printed.WriteString("---\n" + mustCalicoctl(t, "get", k.kind, k.name, "-o", "yaml"))
	}
	if out := mustCalicoctlIn(t, printed.String(), "apply", "-f", "-"); !strings.Contains(out, "4 unchanged") {
		t.Errorf("apply of get's output: %s", out)
	}
	if out := mustCalicoctlIn(t, clientDefaults, "apply", "-f", "-"); !strings.Contains(out, "4 unchanged") {
		t.Errorf("second apply of the file: %s", out)
	}
	if after := rvs(); !equalMaps(before, after) {
		t.Errorf("the round trip rewrote objects: %v → %v", before, after)
	}

	// kubectl (through calico-apiserver's webhook) stores the same, so
	// calicoctl finds nothing to change.
	viaKubectl := strings.ReplaceAll(clientDefaults, "defaults-", "kubectl-defaults-")
	kubectlStdin(t, viaKubectl, "apply", "-f", "-")
	defer calicoctl(t, viaKubectl, "delete", "-f", "-", "--skip-not-exists")
	if out := mustCalicoctlIn(t, viaKubectl, "apply", "-f", "-"); !strings.Contains(out, "4 unchanged") {
		t.Errorf("calicoctl apply after kubectl apply: %s", out)
	}
}

func kubectlStdin(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	bin, err := labtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", testLab.Config.KubeconfigPath()}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
