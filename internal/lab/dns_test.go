package lab_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/poll"
)

// TestDomainPolicy: in a lab with CoreDNS as kube-dns and the outside
// host serving example.test, a pod limited to egress by domain reaches
// allowed.example.test by name and not blocked.example.test (the same
// host, another address); a wildcard's names each connect on their
// first try right after their lookup, 20 of 20; when a name's address
// changes, the new one is followed within the TTL and the old one is
// dropped when its answer runs out. A domain in an ingress rule and a
// wildcard inside a name are refused by calicoctl.
func TestDomainPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	netnstest.Require(t)
	netnstest.RequireBinaries(t, "bird", "iptables")
	cfg := newConfig(t)
	cfg.Nodes = 2
	var out strings.Builder
	if err := lab.Up(context.Background(), cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	bin, _ := labtest.BinDir()
	run := func(stdin string, name string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+cfg.KubeconfigPath())
		cmd.Stdin = strings.NewReader(stdin)
		o, err := cmd.CombinedOutput()
		return string(o), err
	}
	must := func(stdin string, name string, args ...string) {
		t.Helper()
		if o, err := run(stdin, name, args...); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, o)
		}
	}
	must(`apiVersion: v1
kind: Namespace
metadata: {name: dp}
---
apiVersion: v1
kind: Pod
metadata: {name: cli, namespace: dp, labels: {app: cli}}
spec:
  nodeName: node-2
  containers: [{name: cli, image: cli:1}]
`, "kubectl", "apply", "-f", "-")
	must(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: egress-by-domain, namespace: dp}
spec:
  selector: app == 'cli'
  types: [Egress]
  egress:
  - {action: Allow, protocol: UDP, destination: {ports: [53]}}
  - action: Allow
    protocol: TCP
    destination:
      domains: [allowed.example.test, moving.example.test, "*.sub.example.test"]
      ports: [80]
`, "calicoctl", "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "dp/cli to be running", func() bool {
		o, _ := run("", "kubectl", "-n", "dp", "get", "pod", "cli", "-o", "jsonpath={.status.phase}")
		return o == "Running"
	})

	ctx := context.Background()
	probe := func(to string, timeout time.Duration) (lab.ProbeResult, error) {
		return lab.Probe(ctx, cfg, "dp/cli", to, 80, "tcp", timeout)
	}
	// The policy reaches the node; until then nothing by domain connects.
	poll.Until(t, 30*time.Second, "allowed.example.test to connect", func() bool {
		r, err := probe("allowed.example.test", time.Second)
		return err == nil && r.Connected
	})
	r, err := probe("blocked.example.test", time.Second)
	if err != nil || r.Connected {
		t.Errorf("blocked.example.test (%s): connected %v, err %v; want denied", r.Resolved, r.Connected, err)
	}
	// The same outside host answers on the blocked address: it is the
	// policy that denies it.
	if r, err := lab.Probe(ctx, cfg, "node-2", r.Resolved, 80, "tcp", time.Second); err != nil || !r.Connected {
		t.Errorf("the node reaches %s: %v %v", r.To, r.Connected, err)
	}

	// First connections right after the lookup, each to an address the
	// node has not seen: the answer is held until the set has it. The
	// connect timeout is below TCP's first SYN retransmission (1s), so a
	// dropped first packet fails the try.
	ok := 0
	var failed []string
	for i := 1; i <= 20; i++ {
		name := fmt.Sprintf("h%d.sub.example.test", i)
		r, err := probe(name, 900*time.Millisecond)
		if err == nil && r.Connected {
			ok++
		} else {
			failed = append(failed, fmt.Sprintf("%s (%s): %v", name, r.Resolved, err))
		}
	}
	if ok != 20 {
		t.Errorf("first connections after the lookup: %d of 20; failed: %v", ok, failed)
	}

	// An address that changes is followed within its TTL.
	r, err = probe("moving.example.test", time.Second)
	if err != nil || !r.Connected {
		t.Fatalf("moving.example.test: %v %v", r, err)
	}
	old := r.Resolved
	hosts, err := os.ReadFile(cfg.OutsideHostsFile())
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.TrimSuffix(old, "3") + "4" // the outside host's fifth address, free
	if err := os.WriteFile(cfg.OutsideHostsFile(), []byte(strings.Replace(string(hosts), old+" moving.", moved+" moving.", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	var last lab.ProbeResult
	poll.Until(t, time.Duration(lab.OutsideTTL+5)*time.Second, "moving.example.test to resolve to "+moved+" and connect", func() bool {
		last, err = probe("moving.example.test", time.Second)
		return err == nil && last.Resolved == moved && last.Connected
	})
	t.Logf("moving.example.test followed to %s in %v (TTL %ds)", moved, time.Since(changed).Round(100*time.Millisecond), lab.OutsideTTL)
	// The old address leaves the set when its answer runs out.
	poll.Until(t, time.Duration(2*lab.OutsideTTL+5)*time.Second, "the old address "+old+" to be denied", func() bool {
		r, err := probe(old, 500*time.Millisecond)
		return err == nil && !r.Connected
	})

	// Bad input is refused, naming what is wrong.
	for _, tc := range []struct{ yaml, want string }{
		{"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: bad-ingress}\nspec:\n  ingress: [{action: Allow, destination: {domains: [example.test]}}]\n",
			"not allowed in ingress rules"},
		{"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: bad-wildcard}\nspec:\n  egress: [{action: Allow, destination: {domains: [a.*.b]}}]\n",
			"must be the first label"},
	} {
		o, err := run(tc.yaml, "calicoctl", "apply", "-f", "-")
		if err == nil || !strings.Contains(o, tc.want) {
			t.Errorf("calicoctl apply: err %v, output %q; want a refusal saying %q", err, o, tc.want)
		}
	}
}
