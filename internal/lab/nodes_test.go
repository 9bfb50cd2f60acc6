package lab_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/poll"
)

// `up --nodes 2`: two sandbox nodes come up Ready, each running
// calico-node, kube-proxy and a node runtime; a Deployment's pods run on
// both and reach each other across nodes and through their Service's
// ClusterIP; the lab's commands behave; `down` leaves no namespace and no
// process behind.
func TestUpWithNodes(t *testing.T) {
	cfg, out := upWithNodes(t, 2)
	for _, n := range []string{"node-1", "node-2"} {
		if !strings.Contains(out.String(), n) {
			t.Errorf("up did not report %s:\n%s", n, out.String())
		}
	}
	if o, err := kubectl(t, cfg, "get", "nodes", "--no-headers"); err != nil || strings.Count(o, " Ready ") != 2 {
		t.Fatalf("nodes: %v\n%s", err, o)
	}
	if o, err := kubectl(t, cfg, "create", "deployment", "web", "--image=web:1", "--replicas=4", "--port=8080"); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	var ips, nodes []string
	var running string
	poll.Until(t, 60*time.Second, "4 pods running", func() bool {
		running, _ = kubectl(t, cfg, "get", "pods", "-o", `jsonpath={range .items[?(@.status.phase=="Running")]}{.status.podIP} {.spec.nodeName}{"\n"}{end}`)
		ips, nodes = nil, nil
		for _, l := range strings.Split(strings.TrimSpace(running), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				ips, nodes = append(ips, f[0]), append(nodes, f[1])
			}
		}
		return len(ips) == 4
	}, &running)
	if !strings.Contains(strings.Join(nodes, " "), "node-1") || !strings.Contains(strings.Join(nodes, " "), "node-2") {
		t.Errorf("pods on %v", nodes)
	}
	// From one pod's namespace to every pod (the workload server answers
	// HTTP with the pod's name).
	// This lab's namespaces only: other labs may run beside it (the lab
	// tests of other packages).
	prefix := lab.NamespacesOf(cfg)
	if !strings.HasPrefix(prefix, lab.NamespacePrefix) {
		t.Fatalf("the lab's namespaces are %q, not under %s", prefix, lab.NamespacePrefix)
	}
	entries, _ := os.ReadDir("/var/run/netns")
	var podNS string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-p-") {
			podNS = e.Name()
		}
	}
	if podNS == "" {
		t.Fatal("no pod namespace")
	}
	for _, ip := range ips {
		var r probe.Result
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !r.Connected; {
			r, _ = probe.Connect(podNS, "TCP", ip, 8080, time.Second)
		}
		if !r.Connected || !strings.HasPrefix(r.Reply, "web-") {
			t.Errorf("from %s to %s: %+v", podNS, ip, r)
		}
	}
	labPrefix := podNS[:strings.Index(podNS, "-p-")]

	// The commands users and tests rely on, through the binary.
	bin, _ := labtest.BinDir()
	calicoLab := func(args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(bin, "calico-lab"), append([]string{"--state-dir=" + cfg.StateDir}, args...)...)
		o, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(o), code
	}
	o, _ := kubectl(t, cfg, "get", "pods", "-o", "jsonpath={.items[0].metadata.name} {.items[1].metadata.name}")
	names := strings.Fields(o)
	if len(names) != 2 {
		t.Fatalf("pod names %q", o)
	}
	from, to := "default/"+names[0], "default/"+names[1]
	if o, code := calicoLab("probe", from, to, "--port", "8080", "-o", "json"); code != 0 ||
		!strings.Contains(o, `"connected":true`) || !strings.Contains(o, `"protocol":"tcp"`) || !strings.Contains(o, `"port":8080`) {
		t.Errorf("probe to a served port: exit %d\n%s", code, o)
	}
	if o, code := calicoLab("probe", from, to, "--port", "9999", "--timeout", "500ms"); code != 1 || !strings.Contains(o, "not connected") {
		t.Errorf("probe to a closed port: exit %d\n%s", code, o)
	}
	if o, code := calicoLab("probe", "default/no-such-pod", to, "--port", "80"); code != 2 || !strings.Contains(o, "not found") {
		t.Errorf("probe from a missing pod: exit %d\n%s", code, o)
	}
	// A Service's ClusterIP, through the real kube-proxy (nftables mode)
	// on each node, beside calico-node's table.
	if o, err := kubectl(t, cfg, "expose", "deployment", "web", "--port=80", "--target-port=8080"); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	clusterIP, _ := kubectl(t, cfg, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
	var code int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if _, code = calicoLab("probe", from, clusterIP, "--port", "80", "--timeout", "1s"); code == 0 {
			break
		}
	}
	if code != 0 {
		t.Errorf("the Service's ClusterIP %s:80 is not reachable from %s", clusterIP, from)
	}
	// A LoadBalancer Service: calico-kube-controllers gives it an address
	// from the LoadBalancer pool, kube-proxy serves it, and it is released
	// with the Service.
	calicoctl := func(stdin string, args ...string) string {
		cmd := exec.Command(filepath.Join(bin, "calicoctl"), append([]string{"--kubeconfig", cfg.KubeconfigPath()}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		o, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("calicoctl %v: %v\n%s", args, err, o)
		}
		return string(o)
	}
	calicoctl("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: lb}\nspec: {cidr: 10.250.0.0/28, blockSize: 29, allowedUses: [LoadBalancer]}\n", "apply", "-f", "-")
	if o, err := kubectl(t, cfg, "expose", "deployment", "web", "--name=web-lb", "--type=LoadBalancer", "--port=80", "--target-port=8080"); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	var lbIP string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && lbIP == ""; {
		lbIP, _ = kubectl(t, cfg, "get", "service", "web-lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")
		lbIP = strings.TrimSpace(lbIP)
	}
	if !strings.HasPrefix(lbIP, "10.250.0.") {
		t.Fatalf("the LoadBalancer Service got %q, not an address of pool lb", lbIP)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if _, code = calicoLab("probe", from, lbIP, "--port", "80", "--timeout", "1s"); code == 0 {
			break
		}
	}
	if code != 0 {
		t.Errorf("the LoadBalancer address %s:80 is not reachable from %s", lbIP, from)
	}
	if o := calicoctl("", "ipam", "show", "--ip", lbIP); !strings.Contains(o, "in use") {
		t.Errorf("calicoctl ipam show --ip %s:\n%s", lbIP, o)
	}
	if o, err := kubectl(t, cfg, "delete", "service", "web-lb"); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	released := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !released; {
		released = !strings.Contains(calicoctl("", "ipam", "show", "--ip", lbIP), "in use")
	}
	if !released {
		t.Errorf("the LoadBalancer address %s was not released with its Service", lbIP)
	}
	if o, code := calicoLab("exec", "node-1", "--", "nft", "list", "tables"); code != 0 || !strings.Contains(o, "table ip kube-proxy") || !strings.Contains(o, "table inet calico") {
		t.Errorf("nftables tables on node-1: exit %d\n%s", code, o)
	}
	if o, code := calicoLab("exec", "node-1", "--", "calicoctl", "node", "status"); code != 0 || !strings.Contains(o, "Established") {
		t.Errorf("calicoctl node status on node-1: exit %d\n%s", code, o)
	}
	if _, code := calicoLab("exec", from, "--", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exec's exit code: %d, want 3", code)
	}
	if o, code := calicoLab("logs", "calico-node", "--node", "node-2"); code != 0 || !strings.Contains(o, "BGP configuration applied") {
		t.Errorf("logs calico-node: exit %d\n%.300s", code, o)
	}
	if o, code := calicoLab("logs", "calico-node"); code != 2 || !strings.Contains(o, "--node") {
		t.Errorf("logs without --node: exit %d\n%s", code, o)
	}

	// Typha: each node runs a replica, published as a ready endpoint of
	// kube-system/calico-typha; every calico-node streams through one.
	// Restarting a replica that has clients moves them, and traffic is
	// unaffected.
	var slices string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && slices != "true true "; {
		slices, _ = kubectl(t, cfg, "get", "endpointslices", "-n", "kube-system", "-l", "kubernetes.io/service-name=calico-typha",
			"-o", "jsonpath={range .items[*]}{.endpoints[0].conditions.ready} {end}")
	}
	if slices != "true true " {
		t.Errorf("calico-typha endpoints' readiness: %q", slices)
	}
	streams := func() int {
		n := 0
		for _, node := range []string{"node-1", "node-2"} {
			o, _ := calicoLab("logs", "calico-node", "--node", node)
			n += strings.Count(o, "streaming from Typha")
		}
		return n
	}
	streamsBefore := streams()
	if streamsBefore < 4 {
		t.Errorf("%d Typha streams in the calico-node logs, want at least 4 (2 nodes × felix, bgp)", streamsBefore)
	}
	if o, code := calicoLab("restart", "calico-typha"); code != 2 || !strings.Contains(o, "node-1, node-2") {
		t.Errorf("restart calico-typha without --node: exit %d\n%s", code, o)
	}
	victim := "node-1"
	if o, _ := calicoLab("logs", "calico-typha", "--node", victim); !strings.Contains(o, "client connected") {
		victim = "node-2"
	}
	if o, code := calicoLab("restart", "calico-typha", "--node", victim); code != 0 {
		t.Fatalf("restart calico-typha --node %s: exit %d\n%s", victim, code, o)
	}
	if !poll.Within(20*time.Second, func() bool { return streams() > streamsBefore }) {
		n := streams()
		t.Errorf("no client reconnected after restarting %s's calico-typha (%d streams, %d before)", victim, n, streamsBefore)
	}
	if o, code := calicoLab("probe", from, to, "--port", "8080"); code != 0 {
		t.Errorf("probe after restarting a Typha replica: exit %d\n%s", code, o)
	}

	// Status lists everything the lab runs, in the nodes too, with PIDs,
	// restarts and readiness (the restarted replica once it is ready).
	statusProblem := func() string {
		o, code := calicoLab("status", "-o", "json")
		var rep lab.StatusReport
		if err := json.Unmarshal([]byte(o), &rep); code != 0 || err != nil {
			return fmt.Sprintf("status -o json: exit %d, %v\n%s", code, err, o)
		}
		seen := map[string]lab.ComponentReport{}
		for _, c := range rep.Components {
			seen[c.Node+"/"+c.Name] = c
		}
		for _, want := range []string{"/etcd", "/kube-apiserver", "/calico-apiserver", "/calico-kube-controllers", "node-1/node-agent", "node-2/node-agent",
			"node-1/calico-node", "node-2/calico-node", "node-1/kube-proxy", "node-2/kube-proxy", "node-1/calico-typha", "node-2/calico-typha"} {
			c, ok := seen[want]
			if !ok || c.PID == 0 || !c.Ready || c.State != "running" {
				return fmt.Sprintf("%s is %+v (listed: %v)", want, c, ok)
			}
		}
		if c := seen[victim+"/calico-typha"]; c.Restarts != 1 {
			return fmt.Sprintf("%s's calico-typha restarted once, status says %d", victim, c.Restarts)
		}
		return ""
	}
	var problem string
	poll.Until(t, 40*time.Second, "status to show every component ready", func() bool { problem = statusProblem(); return problem == "" }, &problem)
	if o, code := calicoLab("status"); code != 0 || !strings.Contains(o, "calico-typha") || !strings.Contains(o, "READY") {
		t.Errorf("status: exit %d\n%s", code, o)
	}

	// A node agent restarted (the node's kubelet, so to speak): its pods
	// keep their addresses and answer again.
	before, _ := kubectl(t, cfg, "get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.podIP} {end}")
	if o, code := calicoLab("restart", "node-agent", "--node", "node-1"); code != 0 {
		t.Fatalf("restart node-agent: exit %d\n%s", code, o)
	}
	for _, ip := range ips {
		var r probe.Result
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !r.Connected; {
			r, _ = probe.Connect(podNS, "TCP", ip, 8080, time.Second)
		}
		if !r.Connected {
			t.Errorf("after node-1's agent restarted, no answer from %s", ip)
		}
	}
	if t.Failed() {
		o, _ := calicoLab("logs", "calico-node", "--node", "node-1")
		lines := strings.Split(strings.TrimSpace(o), "\n")
		t.Logf("node-1's calico-node, last lines:\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
	}
	if after, _ := kubectl(t, cfg, "get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.podIP} {end}"); after != before {
		t.Errorf("pod addresses changed when node-1's agent restarted:\nbefore %s\nafter  %s", before, after)
	}

	// Self-repair: what someone else does to a node's kernel state is
	// undone within the refresh intervals (2 s here, 180 s and 90 s by
	// default): `nft flush ruleset`, which Debian's nftables.service runs
	// on restart, and a deleted pod route.
	calicoctl("apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: {nftablesRefreshInterval: 2s, routeRefreshInterval: 2s}\n", "apply", "-f", "-")
	for _, node := range []string{"node-1", "node-2"} {
		poll.Until(t, 30*time.Second, node+"'s calico-node to restart with the new intervals", func() bool {
			o, _ := calicoLab("logs", "calico-node", "--node", node)
			return strings.Contains(o, "nftablesRefreshInterval=2s routeRefreshInterval=2s")
		})
	}
	if o, err := kubectl(t, cfg, "run", "locked", "--image=web:1", "--labels=role=locked", "--port=8080"); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	calicoctl("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: locked}\nspec: {selector: role == 'locked', types: [Ingress]}\n", "apply", "-f", "-")
	var lockedIP, lockedNode string
	poll.Until(t, 60*time.Second, "pod locked to run", func() bool {
		o, _ := kubectl(t, cfg, "get", "pod", "locked", "-o", `jsonpath={.status.phase} {.status.podIP} {.spec.nodeName}`)
		f := strings.Fields(o)
		if len(f) == 3 && f[0] == "Running" {
			lockedIP, lockedNode = f[1], f[2]
			return true
		}
		return false
	})
	denied := func() bool {
		r, _ := probe.Connect(podNS, "TCP", lockedIP, 8080, 500*time.Millisecond)
		return !r.Connected
	}
	poll.Until(t, 20*time.Second, "the policy to deny traffic to pod locked", denied)
	if o, code := calicoLab("exec", lockedNode, "--", "nft", "flush", "ruleset"); code != 0 {
		t.Fatalf("nft flush ruleset on %s: exit %d\n%s", lockedNode, code, o)
	}
	poll.Until(t, 15*time.Second, "calico-node to find its table missing", func() bool {
		o, _ := calicoLab("logs", "calico-node", "--node", lockedNode)
		return strings.Contains(o, `kind=nftables repair="table inet calico is missing"`)
	})
	poll.Until(t, 5*time.Second, "traffic to pod locked to be denied again", denied)
	if o, code := calicoLab("probe", from, to, "--port", "8080"); code != 0 {
		t.Errorf("allowed traffic after the table was repaired: exit %d\n%s", code, o)
	}
	toIP, _ := kubectl(t, cfg, "get", "pod", strings.TrimPrefix(to, "default/"), "-o", "jsonpath={.status.podIP} {.spec.nodeName}")
	toF := strings.Fields(toIP)
	if o, code := calicoLab("exec", toF[1], "--", "ip", "route", "del", toF[0]+"/32"); code != 0 {
		t.Fatalf("ip route del on %s: exit %d\n%s", toF[1], code, o)
	}
	poll.Until(t, 15*time.Second, "the deleted pod route to be put back", func() bool {
		o, _ := calicoLab("logs", "calico-node", "--node", toF[1])
		return strings.Contains(o, "kind=routes repair=\"route "+toF[0]+"/32 via ")
	})
	poll.Until(t, 5*time.Second, "the pod to be reachable again", func() bool {
		_, code := calicoLab("probe", from, to, "--port", "8080", "--timeout", "1s")
		return code == 0
	})

	if err := lab.Down(context.Background(), cfg, out); err != nil {
		t.Fatal(err)
	}
	entries, _ = os.ReadDir("/var/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), labPrefix+"-") {
			t.Errorf("namespace %s left after down", e.Name())
		}
	}
	if o, _ := exec.Command("pgrep", "-af", "node-agent --state-dir="+cfg.StateDir).CombinedOutput(); len(strings.TrimSpace(string(o))) > 0 {
		t.Errorf("node agents left after down: %s", o)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, "nodes.json")); !os.IsNotExist(err) {
		t.Errorf("state left after down: %v", err)
	}
}

// upWithNodes brings up a lab with n sandbox nodes (skipping where that
// cannot run) and returns its configuration and what up printed.
func upWithNodes(t *testing.T, n int) (lab.Config, *bytes.Buffer) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the lab")
	}
	netnstest.Require(t)
	netnstest.RequireBinaries(t, "bird")
	cfg := newConfig(t)
	cfg.Nodes = n
	var out bytes.Buffer
	if err := lab.Up(context.Background(), cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return cfg, &out
}
