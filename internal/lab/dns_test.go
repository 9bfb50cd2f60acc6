package lab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
// wildcard inside a name are refused by calicoctl. The node's dns.log
// holds the lookups (client, qname, rcode, answers), and Linseed serves
// them at /dns/logs.
func TestDomainPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	netnstest.Require(t)
	netnstest.RequireBinaries(t, "bird", "iptables")
	cfg := newConfig(t)
	cfg.Nodes = 2
	cfg.FlowLogsFlushInterval = 3 * time.Second // DNS logs' too
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
	domainClient(must, "dp", `
  - action: Allow
    protocol: TCP
    destination:
      domains: [allowed.example.test, moving.example.test, "*.sub.example.test"]
      ports: [80]`)
	poll.Until(t, 60*time.Second, "dp/cli to be running", func() bool {
		o, _ := run("", "kubectl", "-n", "dp", "get", "pod", "cli", "-o", "jsonpath={.status.phase}")
		return o == "Running"
	})

	ctx := context.Background()
	probe := func(to string, timeout time.Duration) (lab.ProbeResult, error) {
		return lab.Probe(ctx, cfg, "dp/cli", to, 80, "tcp", timeout)
	}
	// The policy reaches the node; until then nothing by domain connects.
	var allowedAddr string
	poll.Until(t, 30*time.Second, "allowed.example.test to connect", func() bool {
		r, err := probe("allowed.example.test", time.Second)
		allowedAddr = r.Resolved
		return err == nil && r.Connected
	})
	// A name the zone lacks: CoreDNS's hosts plugin answers SERVFAIL
	// (it has no SOA to deny the name with).
	if _, err := probe("nope.example.test", time.Second); err == nil || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Errorf("nope.example.test: %v, want SERVFAIL", err)
	}
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

	// DNS logs: node-2's dns.log has the client's lookups.
	logFile := filepath.Join(cfg.StateDir, "nodes", "node-2", "dnslogs", "dns.log")
	type dnsRecord struct {
		Type            string `json:"type"`
		QName           string `json:"qname"`
		QType           string `json:"qtype"`
		RCode           string `json:"rcode"`
		ClientName      string `json:"client_name"`
		ClientNameAggr  string `json:"client_name_aggr"`
		ClientNamespace string `json:"client_namespace"`
		Host            string `json:"host"`
		Count           int    `json:"count"`
		LatencyCount    int    `json:"latency_count"`
		LatencyMean     *int64 `json:"latency_mean"`
		RRSets          []struct {
			RData []string `json:"rdata"`
		} `json:"rrsets"`
		Servers []struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"servers"`
	}
	find := func(recs []dnsRecord, qname string) *dnsRecord {
		for i := range recs {
			if recs[i].QName == qname && recs[i].ClientNamespace == "dp" {
				return &recs[i]
			}
		}
		return nil
	}
	var recs []dnsRecord
	poll.Until(t, 20*time.Second, "dns.log to hold the lookups", func() bool {
		recs = nil
		data, _ := os.ReadFile(logFile)
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var r dnsRecord
			if json.Unmarshal([]byte(l), &r) == nil {
				recs = append(recs, r)
			}
		}
		return find(recs, "allowed.example.test") != nil && find(recs, "nope.example.test") != nil && find(recs, "h20.sub.example.test") != nil
	})
	if a := find(recs, "allowed.example.test"); a.RCode != "NOERROR" || a.QType != "A" || a.ClientNameAggr != "cli" || a.Host != "node-2" ||
		len(a.RRSets) != 1 || len(a.RRSets[0].RData) != 1 || a.RRSets[0].RData[0] != allowedAddr ||
		len(a.Servers) != 1 || a.Servers[0].Namespace != "kube-system" || !strings.HasPrefix(a.Servers[0].Name, "coredns-") {
		t.Errorf("allowed.example.test's record: %+v", a)
	}
	if a := find(recs, "allowed.example.test"); a.LatencyCount < 1 || a.LatencyMean == nil || *a.LatencyMean <= 0 || *a.LatencyMean > int64(time.Second) {
		t.Errorf("allowed.example.test's latency: count %d, mean %v ns", a.LatencyCount, a.LatencyMean)
	}
	if n := find(recs, "nope.example.test"); n.RCode != "SERVFAIL" || len(n.RRSets) != 0 {
		t.Errorf("nope.example.test's record: %+v", n)
	}
	// The allowed connection's flow records carry the name it was
	// looked up as.
	poll.Until(t, 20*time.Second, "a flow record with dest_domains [allowed.example.test]", func() bool {
		data, _ := os.ReadFile(filepath.Join(cfg.StateDir, "nodes", "node-2", "flowlogs", "flows.log"))
		for _, l := range strings.Split(string(data), "\n") {
			var f struct {
				Action      string   `json:"action"`
				Reporter    string   `json:"reporter"`
				SourceNS    string   `json:"source_namespace"`
				DestDomains []string `json:"dest_domains"`
			}
			if json.Unmarshal([]byte(l), &f) == nil && f.Action == "allow" && f.Reporter == "src" && f.SourceNS == "dp" &&
				slices.Contains(f.DestDomains, "allowed.example.test") {
				return true
			}
		}
		return false
	})
	// The shipper takes them to Linseed.
	env, err := run("", "calico-lab", "--state-dir="+cfg.StateDir, "env")
	if err != nil {
		t.Fatal(err)
	}
	u := newLinseedUser(t, env)
	poll.Until(t, 30*time.Second, "Linseed to serve the DNS logs", func() bool {
		return u.count("/dns/logs/count", `{"selector":"qname = \"allowed.example.test\" AND client_namespace = \"dp\""}`) > 0
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

// domainClient makes a namespace with a client pod cli on node-2 whose
// egress is DNS and the given rules (YAML list items), applied with
// apply (kubectl and calicoctl of the lab's build).
func domainClient(apply func(stdin, name string, args ...string), ns, rules string) {
	apply(fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Pod
metadata: {name: cli, namespace: %[1]s, labels: {app: cli}}
spec:
  nodeName: node-2
  containers: [{name: cli, image: cli:1}]
`, ns), "kubectl", "apply", "-f", "-")
	apply(fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: egress-by-domain, namespace: %s}
spec:
  selector: app == 'cli'
  types: [Egress]
  egress:
  - {action: Allow, protocol: UDP, destination: {ports: [53]}}%s
`, ns, rules), "calicoctl", "apply", "-f", "-")
}
