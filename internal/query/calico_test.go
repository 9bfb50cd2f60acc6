package query

import (
	"strings"
	"testing"
)

// Calico semantics beyond Kubernetes NetworkPolicy: tiers and their
// default actions, Pass, Deny, Log, GlobalNetworkPolicy namespace
// selectors, network sets, notSelector against !has(), global(), staged
// policies.

type expect struct {
	from, to string
	port     int
	verdict  string
	// decidedBy, if set, must appear in the ingress (or, for "egress:"
	// prefixed, the egress) decision: a policy name, "tier-default <tier>",
	// "profile <name>", or "staged <verdict>".
	decidedBy string
}

func checkTraces(t *testing.T, st *State, cases []expect) {
	t.Helper()
	for _, c := range cases {
		res, err := Trace(st, c.from, c.to, "TCP", c.port)
		if err != nil {
			t.Fatalf("%s → %s: %v", c.from, c.to, err)
		}
		if res.Verdict != c.verdict {
			t.Errorf("%s → %s:%d: %s, want %s (egress: %s; ingress: %s)", c.from, c.to, c.port, res.Verdict, c.verdict,
				describeDecision(res.Egress), describeDecision(res.Ingress))
			continue
		}
		if c.decidedBy == "" {
			continue
		}
		d, what := res.Ingress, c.decidedBy
		if rest, ok := strings.CutPrefix(what, "egress:"); ok {
			d, what = res.Egress, rest
		}
		var got string
		switch {
		case strings.HasPrefix(what, "staged "):
			if d.Staged != nil {
				got = "staged " + d.Staged.Verdict
			}
		case d.Policy != nil:
			got = d.Policy.Name
		case d.Reason == "tier-default":
			got = "tier-default " + d.Tier
		case d.Reason == "profile":
			got = "profile " + d.Profile
		}
		if got != what {
			t.Errorf("%s → %s:%d decided by %q, want %q (%s)", c.from, c.to, c.port, got, what, describeDecision(d))
		}
	}
}

func TestTiersPassDenyAndDefaults(t *testing.T) {
	st := loadScenario(t, `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: quarantine-z}
spec:
  tier: security
  order: 10
  selector: all()
  ingress:
  - action: Pass
    source: {namespaceSelector: ns == "y"}
  - action: Deny
    source: {namespaceSelector: ns == "z"}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: strict}
spec: {order: 200}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: only-y-to-xb}
spec:
  tier: strict
  selector: pod == "b" && projectcalico.org/namespace == "x"
  ingress:
  - action: Allow
    source: {namespaceSelector: ns == "y"}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x-from-x, namespace: x}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress: [{from: [{podSelector: {}}]}]
`)
	checkTraces(t, st, []expect{
		// z is denied in the security tier before anything else.
		{"z/a", "x/a", 80, "Deny", "quarantine-z"},
		{"z/a", "y/a", 80, "Deny", "quarantine-z"},
		// y passes the security tier; nothing else selects x/a: profile.
		{"y/a", "x/a", 80, "Allow", "profile kns.x"},
		// x/b: strict tier allows y, and its default action drops x.
		{"y/a", "x/b", 80, "Allow", "only-y-to-xb"},
		{"x/a", "x/b", 80, "Deny", "tier-default strict"},
		// Pass skips the rest of the security tier, then the k8s policy
		// in the default tier decides.
		{"y/a", "x/c", 80, "Deny", "tier-default default"},
		{"x/a", "x/c", 80, "Allow", "x-from-x"},
		// No rule of the security tier matched x→x/a: its default Pass.
		{"x/b", "x/a", 80, "Allow", "profile kns.x"},
	})
}

func TestLogIsNotTerminal(t *testing.T) {
	st := loadScenario(t, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: log-then-allow-y}
spec:
  selector: pod == "a"
  ingress:
  - action: Log
  - action: Allow
    source: {namespaceSelector: ns == "y"}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: log-only}
spec:
  selector: pod == "b"
  ingress:
  - action: Log
`)
	res, err := Trace(st, "y/c", "x/a", "TCP", 80)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != "Allow" || len(res.Ingress.Logged) != 1 || res.Ingress.Logged[0].Policy.Name != "log-then-allow-y" {
		t.Errorf("log then allow: %+v", res.Ingress)
	}
	// A policy with only Log rules still selects the pod: the end of its
	// tier drops what nothing allowed.
	checkTraces(t, st, []expect{
		{"y/c", "x/b", 80, "Deny", "tier-default default"},
		{"x/c", "x/a", 80, "Deny", "tier-default default"},
	})
}

func TestGlobalPolicyNamespaceSelectorAndNetworkSets(t *testing.T) {
	base := loadScenario(t, "")
	ya, _ := resolveAddr(base, "y/a")
	st := loadScenario(t, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: bad, labels: {list: bad}}
spec: {nets: [`+ya.String()+`/32, 198.51.100.0/24]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: block-bad-in-x}
spec:
  order: 1
  namespaceSelector: ns == "x"
  ingress:
  - action: Deny
    source: {selector: list == "bad"}
  - action: Allow
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: only-global-to-zc}
spec:
  selector: pod == "c" && projectcalico.org/namespace == "z"
  ingress:
  - action: Allow
    source: {namespaceSelector: global()}
`)
	checkTraces(t, st, []expect{
		{"y/a", "x/b", 80, "Deny", "block-bad-in-x"},
		{"198.51.100.7", "x/b", 80, "Deny", "block-bad-in-x"},
		{"y/b", "x/b", 80, "Allow", "block-bad-in-x"},
		// The namespaceSelector limits the policy to x: y/a is not blocked
		// going to y.
		{"y/a", "y/b", 80, "Allow", "profile kns.y"},
		// global(): only non-namespaced things (the network set), no pods.
		{"198.51.100.9", "z/c", 80, "Allow", "only-global-to-zc"},
		{"x/a", "z/c", 80, "Deny", "tier-default default"},
		{"192.0.2.1", "z/c", 80, "Deny", "tier-default default"},
	})
}

func TestNotSelectorDiffersFromNegatedSelector(t *testing.T) {
	st := loadScenario(t, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: negated-selector}
spec:
  selector: pod == "a" && projectcalico.org/namespace == "x"
  ingress:
  - action: Allow
    source: {selector: "!has(pod)"}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: not-selector}
spec:
  selector: pod == "b" && projectcalico.org/namespace == "x"
  ingress:
  - action: Allow
    source: {notSelector: has(pod)}
`)
	checkTraces(t, st, []expect{
		// "!has(pod)" only matches Calico endpoints without the label;
		// an outside address is no endpoint at all.
		{"192.0.2.1", "x/a", 80, "Deny", "tier-default default"},
		{"y/a", "x/a", 80, "Deny", "tier-default default"},
		// notSelector "has(pod)" matches anything not in that set,
		// outside addresses included.
		{"192.0.2.1", "x/b", 80, "Allow", "not-selector"},
		{"y/a", "x/b", 80, "Deny", "tier-default default"},
	})
}

func TestStagedPoliciesAreReportedNotEnforced(t *testing.T) {
	st := loadScenario(t, `apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: lockdown-x}
spec:
  namespaceSelector: ns == "x"
  ingress:
  - action: Deny
---
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: staged-k8s, namespace: z}
spec:
  podSelector: {matchLabels: {pod: c}}
  policyTypes: [Ingress]
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: only-staged, namespace: "y"}
spec:
  selector: pod == "a"
  ingress:
  - action: Allow
    source: {selector: pod == "b"}
`)
	checkTraces(t, st, []expect{
		// Enforced: nothing selects x/a but a staged policy, so the
		// profile allows; staged, it would be denied.
		{"z/a", "x/a", 80, "Allow", "profile kns.x"},
		{"z/a", "x/a", 80, "Allow", "staged Deny"},
		// A tier holding only staged policies has no end-of-tier drop.
		{"z/a", "y/a", 80, "Allow", "profile kns.y"},
		{"z/a", "y/a", 80, "Allow", "staged Deny"},
		{"y/b", "y/a", 80, "Allow", "staged Allow"},
		// A staged Kubernetes policy: default deny for z/c, staged only.
		{"x/a", "z/c", 80, "Allow", "profile kns.z"},
		{"x/a", "z/c", 80, "Allow", "staged Deny"},
	})
}

func TestServiceAccountsAndServices(t *testing.T) {
	base := loadScenario(t, "")
	xa, _ := resolveAddr(base, "x/a")
	st := loadScenario(t, strings.ReplaceAll(`apiVersion: v1
kind: ServiceAccount
metadata: {name: api, namespace: "y", labels: {role: backend}}
---
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: "y", labels: {app: api}}
spec:
  serviceAccountName: api
  containers: [{name: c, image: i}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: x
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints: [{addresses: [X_A]}]
ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: backend-to-web-service}
spec:
  selector: projectcalico.org/namespace == "y" && pod == "a"
  types: [Egress]
  egress:
  - action: Allow
    destination: {services: {name: web, namespace: x}}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: from-backend-accounts}
spec:
  selector: pod == "b" && projectcalico.org/namespace == "z"
  ingress:
  - action: Allow
    source: {serviceAccounts: {selector: role == "backend"}}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: from-api-account}
spec:
  selector: pod == "c" && projectcalico.org/namespace == "z"
  ingress:
  - action: Allow
    source: {serviceAccounts: {names: [api]}}
`, "X_A", xa.String()))
	checkTraces(t, st, []expect{
		// The service's endpoint on its port: allowed; another port or
		// another pod: the default tier drops it.
		{"y/a", "x/a", 80, "Allow", "egress:backend-to-web-service"},
		{"y/a", "x/a", 81, "Deny", "egress:tier-default default"},
		{"y/a", "x/b", 80, "Deny", "egress:tier-default default"},
		// serviceAccounts.names and serviceAccounts.selector (labels of
		// the account) on the source.
		{"y/api-1", "z/c", 80, "Allow", "from-api-account"},
		{"y/b", "z/c", 80, "Deny", "tier-default default"},
		{"y/api-1", "z/b", 80, "Allow", "from-backend-accounts"},
		{"x/a", "z/b", 80, "Deny", "tier-default default"},
	})
}
