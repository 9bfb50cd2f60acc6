package query

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func calicoq(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), code
}

func writeScenario(t *testing.T, policies string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "base.yaml"), []byte(baseManifests()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policies), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

const denyXFromZ = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-y, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}}]}]
`

func TestTraceExitCodesAndJSON(t *testing.T) {
	dir := writeScenario(t, denyXFromZ)
	out, errOut, code := calicoq(t, "--from-file", dir, "trace", "--from", "y/a", "--to", "x/b", "--port", "80", "-o", "json")
	if code != 0 {
		t.Fatalf("allowed trace: exit %d, %s", code, errOut)
	}
	var res struct {
		Verdict string `json:"verdict"`
		Egress  struct {
			Verdict string `json:"verdict"`
		} `json:"egress"`
		Ingress struct {
			Verdict string `json:"verdict"`
			Tier    string `json:"tier"`
			Policy  struct {
				Kind, Namespace, Name string
			} `json:"policy"`
			Rule *int `json:"rule"`
		} `json:"ingress"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	in := res.Ingress
	if res.Verdict != "Allow" || res.Egress.Verdict != "Allow" || in.Verdict != "Allow" || in.Tier != "default" ||
		in.Policy.Kind != "KubernetesNetworkPolicy" || in.Policy.Namespace != "x" || in.Policy.Name != "from-y" || in.Rule == nil || *in.Rule != 0 {
		t.Errorf("unexpected trace: %s", out)
	}

	out, _, code = calicoq(t, "--from-file", dir, "trace", "--from", "z/a", "--to", "x/b", "--port", "80")
	if code != 1 || !strings.Contains(out, "Verdict: Deny") {
		t.Errorf("denied trace: exit %d, output %q", code, out)
	}

	for _, bad := range [][]string{
		{"trace", "--from", "z/nope", "--to", "x/b", "--port", "80"},
		{"trace", "--from", "z/a", "--to", "x/b", "--port", "80", "--protocol", "GRE"},
		{"trace", "--from", "z/a", "--to", "x/b"},
		{"eval", "app == "},
		{"policy", "nosuch"},
		{"endpoint", "nosuch"},
		{"trace", "--from", "z/a", "--to", "x/b", "--port", "80", "-o", "xml"},
	} {
		_, errOut, code := calicoq(t, append([]string{"--from-file", dir}, bad...)...)
		if code != 2 || !strings.Contains(errOut, "Error: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with an error", bad, code, errOut)
		}
	}
}

func TestEvalRejectsBadSelectorWithPosition(t *testing.T) {
	_, errOut, code := calicoq(t, "--from-file", "does-not-matter", "eval", `app == "a" && (`)
	if code != 2 || !strings.Contains(errOut, "position") {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

func TestEvalPolicyEndpointHostOutputs(t *testing.T) {
	dir := writeScenario(t, denyXFromZ)
	out, _, code := calicoq(t, "--from-file", dir, "eval", `pod == "a"`, "-o", "yaml")
	if code != 0 || strings.Count(out, "kind: WorkloadEndpoint") != 3 {
		t.Errorf("eval: exit %d\n%s", code, out)
	}
	out, _, code = calicoq(t, "--from-file", dir, "policy", "from-y", "-n", "x")
	if code != 0 || !strings.Contains(out, "Applies to 3 endpoint(s)") || !strings.Contains(out, "selects 3:") {
		t.Errorf("policy: exit %d\n%s", code, out)
	}
	out, _, code = calicoq(t, "--from-file", dir, "endpoint", "x/a", "-o", "json")
	var eps []EndpointResult
	if err := json.Unmarshal([]byte(out), &eps); err != nil || code != 0 || len(eps) != 1 {
		t.Fatalf("endpoint: exit %d %v\n%s", code, err, out)
	}
	if len(eps[0].Ingress) != 1 || eps[0].Ingress[0].Policies[0].Name != "from-y" || len(eps[0].Egress) != 0 {
		t.Errorf("endpoint x/a policies: %+v", eps[0])
	}
	out, _, code = calicoq(t, "--from-file", dir, "host", OfflineNode)
	if code != 0 || !strings.Contains(out, "9 endpoint(s)") {
		t.Errorf("host: exit %d\n%s", code, out)
	}
}

func TestOfflineLoadErrorsNameTheDocument(t *testing.T) {
	dir := t.TempDir()
	bad := `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ok}
spec: {selector: all()}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: broken}
spec: {selector: "app =="}
`
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := calicoq(t, "--from-file", dir, "eval", "all()")
	for _, want := range []string{"p.yaml", "document 2", `GlobalNetworkPolicy "broken"`, "spec.selector"} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d; error %q does not mention %q", code, errOut, want)
		}
	}
}

// TestTraceSaysHTTPIsNotEnforced: a rule with an HTTP match decides on its
// L3/L4 part, as the kernel does, and trace says so.
func TestTraceSaysHTTPIsNotEnforced(t *testing.T) {
	dir := writeScenario(t, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: admin-only}
spec:
  selector: projectcalico.org/namespace == 'x'
  types: [Ingress]
  ingress:
  - action: Deny
    source: {namespaceSelector: ns == 'z'}
    http: {methods: [POST], paths: [{prefix: /admin}]}
  - action: Allow
`)
	out, errOut, code := calicoq(t, "--from-file", dir, "trace", "--from", "z/a", "--to", "x/b", "--port", "80")
	if code != 1 || !strings.Contains(out, "Deny by GlobalNetworkPolicy admin-only rule 0") ||
		!strings.Contains(out, "http match is not enforced by this dataplane") {
		t.Errorf("trace of a GET from z: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = calicoq(t, "--from-file", dir, "trace", "--from", "y/a", "--to", "x/b", "--port", "80")
	if code != 0 || strings.Contains(out, "http match") {
		t.Errorf("trace from y (decided by a rule without http): exit %d\n%s", code, out)
	}
}

// TestTraceDomains: an egress rule allowing domains matches the address
// a name resolved to (--dns); without the answer, or for another name,
// the rule matches nothing; a bad --dns says what is wrong.
func TestTraceDomains(t *testing.T) {
	dir := writeScenario(t, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: egress-by-name}
spec:
  selector: projectcalico.org/namespace == 'y'
  types: [Egress]
  egress:
  - action: Allow
    protocol: TCP
    destination: {domains: ["*.example.test"], ports: [443]}
`)
	trace := func(args ...string) (string, int) {
		out, errOut, code := calicoq(t, append([]string{"--from-file", dir, "trace", "--from", "y/a", "--port", "443"}, args...)...)
		return out + errOut, code
	}
	out, code := trace("--to", "allowed.example.test", "--dns", "allowed.example.test=192.0.2.10")
	if code != 0 || !strings.Contains(out, "Allow by GlobalNetworkPolicy egress-by-name rule 0") || !strings.Contains(out, "allowed.example.test (192.0.2.10)") {
		t.Errorf("to a name the rule allows: exit %d\n%s", code, out)
	}
	// Another name resolving elsewhere, and the same address without the
	// answer: the rule does not match.
	if out, code := trace("--to", "blocked.other.test", "--dns", "blocked.other.test=192.0.2.20"); code != 1 {
		t.Errorf("to a name the rule does not allow: exit %d\n%s", code, out)
	}
	if out, code := trace("--to", "192.0.2.10"); code != 1 {
		t.Errorf("to the address without the answer: exit %d\n%s", code, out)
	}
	// A forgotten answer (its TTL ran out) no longer allows the address.
	snap, err := LoadFiles([]string{dir}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := FromSnapshot(snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := TraceQuery{From: "y/a", To: "192.0.2.10", Protocol: "TCP", Port: 443, DNS: []DNSAnswer{{Name: "api.example.test", Addr: netip.MustParseAddr("192.0.2.10")}}}
	if res, err := TracePacket(st, q); err != nil || res.Verdict != "Allow" {
		t.Fatalf("learned: %+v %v", res, err)
	}
	st.Graph.ForgetDomain("api.example.test", netip.MustParseAddr("192.0.2.10"))
	st.Graph.ForgetDomain("never.example.test", netip.MustParseAddr("192.0.2.99")) // never learned: ignored
	q.DNS = nil
	if res, err := TracePacket(st, q); err != nil || res.Verdict != "Deny" {
		t.Errorf("forgotten: %+v %v", res, err)
	}
	for _, bad := range [][]string{{"--to", "192.0.2.10", "--dns", "*.example.test=192.0.2.10"}, {"--to", "192.0.2.10", "--dns", "example.test"},
		{"--to", "192.0.2.10", "--dns", "example.test=nope"}} {
		if out, code := trace(bad...); code != 2 || !strings.Contains(out, "--dns") {
			t.Errorf("%v: exit %d\n%s", bad, code, out)
		}
	}
}
