package query

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/calc"
)

// Host endpoints in calicoq trace: failsafe ports from the
// FelixConfiguration, normal host policy, applyOnForward, pre-DNAT and
// DefaultEndpointToHostAction, through the CLI as a user runs it.

const hostScenario = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node-1-eth0, labels: {role: gateway}}
spec: {node: node-1, interfaceName: eth0, expectedIPs: [192.0.2.10]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: gateway-in}
spec:
  selector: role == 'gateway'
  types: [Ingress]
  ingress:
  - {action: Allow, protocol: TCP, destination: {ports: [443]}}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: no-forward-to-x}
spec:
  selector: role == 'gateway'
  applyOnForward: true
  types: [Ingress]
  ingress:
  - {action: Deny, destination: {namespaceSelector: ns == 'x'}}
  - {action: Allow, destination: {namespaceSelector: ns == 'y'}}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: block-8443}
spec:
  selector: role == 'gateway'
  preDNAT: true
  applyOnForward: true
  types: [Ingress]
  ingress:
  - {action: Deny, protocol: TCP, destination: {ports: [8443]}}
---
apiVersion: v1
kind: Pod
metadata: {name: local, namespace: "y", labels: {pod: local}}
spec: {nodeName: node-1, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: local, namespace: x, labels: {pod: local}}
spec: {nodeName: node-1, containers: [{name: c, image: i}]}
`

func traceJSON(t *testing.T, dir string, args ...string) (TraceResult, int) {
	t.Helper()
	out, errOut, code := calicoq(t, append([]string{"--from-file", dir, "trace", "-o", "json"}, args...)...)
	if code == ExitFailure {
		t.Fatalf("calicoq trace %v: %s", args, errOut)
	}
	var r TraceResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("calicoq trace %v: %v\n%s", args, err, out)
	}
	return r, code
}

func TestTraceHostEndpoints(t *testing.T) {
	dir := writeScenario(t, hostScenario)
	cases := []struct {
		what   string
		args   []string
		allow  bool
		reason string // of the deciding decision
		stage  string
	}{
		{"failsafe ssh to the host", []string{"--from", "198.51.100.7", "--to", "hep:node-1-eth0", "--port", "22"}, true, "failsafe", ""},
		{"host policy allows 443", []string{"--from", "198.51.100.7", "--to", "192.0.2.10", "--port", "443"}, true, "policy", "host"},
		{"nothing allows 80 to the host", []string{"--from", "198.51.100.7", "--to", "hep:node-1-eth0", "--port", "80"}, false, "tier-default", "host"},
		{"pre-DNAT deny", []string{"--from", "198.51.100.7", "--to", "hep:node-1-eth0", "--port", "8443"}, false, "policy", "pre-dnat"},
		{"a pod on another node: eth0 is not on its path", []string{"--from", "198.51.100.7", "--to", "x/a", "--port", "80", "--in-interface", "eth0"}, true, "", ""},
		{"forwarded to x denied on eth0", []string{"--from", "198.51.100.7", "--to", "x/local", "--port", "80", "--in-interface", "eth0"}, false, "policy", "forward"},
		{"forwarded to y allowed on eth0", []string{"--from", "198.51.100.7", "--to", "y/local", "--port", "80", "--in-interface", "eth0"}, true, "", ""},
		{"another interface has no host endpoint", []string{"--from", "198.51.100.7", "--to", "x/local", "--port", "80", "--in-interface", "eth1"}, true, "", ""},
		{"a local pod to its host: DefaultEndpointToHostAction Drop", []string{"--from", "y/local", "--to", "hep:node-1-eth0", "--port", "443"}, false, "endpoint-to-host", ""},
		{"the host to its own pod", []string{"--from", "hep:node-1-eth0", "--to", "y/local", "--port", "80"}, true, "host-to-local", ""},
	}
	for _, c := range cases {
		r, code := traceJSON(t, dir, c.args...)
		if (r.Verdict == "Allow") != c.allow || (code == 0) != c.allow {
			t.Errorf("%s: verdict %s exit %d, want allow=%v: %+v", c.what, r.Verdict, code, c.allow, r)
			continue
		}
		if c.reason == "" {
			continue
		}
		found := false
		for _, d := range append(append([]*calc.Decision{r.Egress}, r.Via...), r.Ingress) {
			if d.Reason == c.reason && d.Stage == c.stage {
				found = true
			}
		}
		if !found {
			b, _ := json.Marshal(r)
			t.Errorf("%s: no decision with reason %q stage %q: %s", c.what, c.reason, c.stage, b)
		}
	}

	// The text output names the host endpoint and the stage.
	out, _, _ := calicoq(t, "--from-file", dir, "trace", "--from", "198.51.100.7", "--to", "x/local", "--port", "80", "--in-interface", "eth0")
	if !strings.Contains(out, "Via:") || !strings.Contains(out, "hostendpoint/node-1-eth0, forward policy") {
		t.Errorf("text trace does not show the forward decision:\n%s", out)
	}
	_, errOut, code := calicoq(t, "--from-file", dir, "trace", "--from", "1.2.3.4", "--to", "hep:nope", "--port", "22")
	if code != ExitFailure || !strings.Contains(errOut, "node-1-eth0") {
		t.Errorf("unknown host endpoint: exit %d, %q", code, errOut)
	}
}

// TestTraceFailsafeFromFelixConfiguration: the cluster's own failsafe
// ports replace the defaults.
func TestTraceFailsafeFromFelixConfiguration(t *testing.T) {
	dir := writeScenario(t, hostScenario+`---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec:
  failsafeInboundHostPorts: [{protocol: TCP, port: 2222, net: 198.51.100.0/24}]
  defaultEndpointToHostAction: Accept
`)
	for _, c := range []struct {
		from  string
		port  string
		allow bool
	}{{"198.51.100.7", "22", false}, {"198.51.100.7", "2222", true}, {"203.0.113.1", "2222", false}} {
		r, _ := traceJSON(t, dir, "--from", c.from, "--to", "hep:node-1-eth0", "--port", c.port)
		if (r.Verdict == "Allow") != c.allow {
			t.Errorf("%s → host:%s: %s, want allow=%v", c.from, c.port, r.Verdict, c.allow)
		}
	}
	r, _ := traceJSON(t, dir, "--from", "y/local", "--to", "hep:node-1-eth0", "--port", "443")
	if r.Verdict != "Allow" {
		t.Errorf("local pod → host with DefaultEndpointToHostAction Accept: %s", r.Verdict)
	}
}
