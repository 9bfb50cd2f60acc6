package query

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The Kubernetes NetworkPolicy conformance layout: namespaces x, y, z, each
// with pods a, b, c serving TCP, UDP and SCTP on ports 80 and 81 (named
// serve-<port>-<proto>). Each scenario applies policies and states, for
// every pair of pods, whether a connection is allowed.

var (
	namespaces = []string{"x", "y", "z"}
	pods       = []string{"a", "b", "c"}
)

func baseManifests() string {
	var b strings.Builder
	for _, ns := range namespaces {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %q\n  labels: {ns: %q}\n---\n", ns, ns)
		for _, p := range pods {
			fmt.Fprintf(&b, `apiVersion: v1
kind: Pod
metadata:
  name: %q
  namespace: %q
  labels: {pod: %q}
spec:
  containers:
  - name: cont-80
    image: agnhost
    ports:
    - {name: serve-80-tcp, containerPort: 80, protocol: TCP}
    - {name: serve-80-udp, containerPort: 80, protocol: UDP}
    - {name: serve-80-sctp, containerPort: 80, protocol: SCTP}
  - name: cont-81
    image: agnhost
    ports:
    - {name: serve-81-tcp, containerPort: 81, protocol: TCP}
    - {name: serve-81-udp, containerPort: 81, protocol: UDP}
    - {name: serve-81-sctp, containerPort: 81, protocol: SCTP}
---
`, p, ns, p)
		}
	}
	return b.String()
}

type pod struct{ ns, name string }

func (p pod) String() string { return p.ns + "/" + p.name }

func allPods() []pod {
	var out []pod
	for _, ns := range namespaces {
		for _, p := range pods {
			out = append(out, pod{ns, p})
		}
	}
	return out
}

type probe struct {
	proto string
	port  int
}

var tcp80 = probe{"TCP", 80}

type scenario struct {
	name     string
	policies string
	probes   []probe
	// allowed says whether from may connect to to with the probe.
	allowed func(from, to pod, pr probe) bool
}

func always(from, to pod, pr probe) bool { return true }

func scenarios() []scenario {
	return []scenario{
		{name: "no policy", probes: []probe{tcp80}, allowed: always},
		{
			name: "default deny ingress in x",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}`,
			probes:  []probe{tcp80},
			allowed: func(f, t pod, _ probe) bool { return t.ns != "x" },
		},
		{
			name: "allow from own namespace",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: same-ns, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {}}]}]`,
			probes:  []probe{tcp80},
			allowed: func(f, t pod, _ probe) bool { return t.ns != "x" || f.ns == "x" },
		},
		{
			name: "pod selector in any namespace",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}]}]`,
			probes:  []probe{tcp80},
			allowed: func(f, t pod, _ probe) bool { return t != (pod{"x", "a"}) || f.name == "b" },
		},
		{
			name: "namespace OR pod (two peers)",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: or, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}}, {podSelector: {matchLabels: {pod: b}}}]}]`,
			probes: []probe{tcp80},
			allowed: func(f, t pod, _ probe) bool {
				return t != (pod{"x", "a"}) || f.ns == "y" || f == (pod{"x", "b"})
			},
		},
		{
			name: "namespace AND pod (one peer)",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: and, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}, podSelector: {matchLabels: {pod: b}}}]}]`,
			probes:  []probe{tcp80},
			allowed: func(f, t pod, _ probe) bool { return t != (pod{"x", "a"}) || f == (pod{"y", "b"}) },
		},
		{
			name: "match expressions",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: expr, namespace: x}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: In, values: [a, b]}]}
  ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: ["y"]}]}}]}]`,
			probes: []probe{tcp80},
			allowed: func(f, t pod, _ probe) bool {
				return t.ns != "x" || t.name == "c" || f.ns != "y"
			},
		},
		{
			name: "named port",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: serve-81-tcp}]}]`,
			probes:  []probe{{"TCP", 80}, {"TCP", 81}, {"UDP", 81}},
			allowed: func(f, t pod, pr probe) bool { return t.ns != "x" || pr == probe{"TCP", 81} },
		},
		{
			name: "protocol and port range",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: udp-range, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{protocol: UDP, port: 80, endPort: 81}, {protocol: SCTP, port: 81}]}]`,
			probes: []probe{{"TCP", 80}, {"UDP", 80}, {"UDP", 81}, {"SCTP", 80}, {"SCTP", 81}},
			allowed: func(f, t pod, pr probe) bool {
				return t.ns != "x" || pr.proto == "UDP" || pr == probe{"SCTP", 81}
			},
		},
		{
			name: "default deny egress",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: x}
spec: {podSelector: {}, policyTypes: [Egress]}`,
			probes:  []probe{tcp80},
			allowed: func(f, t pod, _ probe) bool { return f.ns != "x" },
		},
		{
			name: "egress to one namespace and port",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {ns: "y"}}}], ports: [{port: 80}]}]`,
			probes: []probe{{"TCP", 80}, {"TCP", 81}},
			allowed: func(f, t pod, pr probe) bool {
				return f != (pod{"x", "a"}) || (t.ns == "y" && pr.port == 80)
			},
		},
		{
			name: "ingress and egress together",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: both, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
  egress: [{to: [{podSelector: {matchLabels: {pod: c}}}]}]`,
			probes: []probe{tcp80},
			allowed: func(f, t pod, _ probe) bool {
				xa := pod{"x", "a"}
				if t == xa && f != (pod{"x", "b"}) {
					return false
				}
				if f == xa && t != (pod{"x", "c"}) {
					return false
				}
				return true
			},
		},
		{
			name: "stacked policies are a union",
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-z-port-81, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}}], ports: [{port: 81}]}]`,
			probes: []probe{{"TCP", 80}, {"TCP", 81}},
			allowed: func(f, t pod, pr probe) bool {
				if t.ns != "x" {
					return true
				}
				return t.name == "a" && (f.ns == "y" || (f.ns == "z" && pr.port == 81))
			},
		},
		{
			name: "ipBlock with except",
			// The address of y/a is filled in by the test.
			policies: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cidr, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0, except: [Y_A/32]}}]}]`,
			probes:  []probe{tcp80},
			allowed: func(f, t pod, _ probe) bool { return t != (pod{"x", "a"}) || f != (pod{"y", "a"}) },
		},
	}
}

func loadScenario(t *testing.T, policies string) *State {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "base.yaml"), []byte(baseManifests()), 0o600); err != nil {
		t.Fatal(err)
	}
	if policies != "" {
		if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), []byte(policies), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := Load(context.Background(), Source{Files: []string{dir}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestKubernetesNetworkPolicySemantics(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			policies := sc.policies
			if strings.Contains(policies, "Y_A") {
				base := loadScenario(t, "")
				ya, err := resolveAddr(base, "y/a")
				if err != nil {
					t.Fatal(err)
				}
				policies = strings.ReplaceAll(policies, "Y_A", ya.String())
			}
			st := loadScenario(t, policies)
			var wrong []string
			for _, pr := range sc.probes {
				for _, from := range allPods() {
					for _, to := range allPods() {
						res, err := Trace(st, from.String(), to.String(), pr.proto, pr.port)
						if err != nil {
							t.Fatal(err)
						}
						want := sc.allowed(from, to, pr)
						if (res.Verdict == "Allow") != want {
							wrong = append(wrong, fmt.Sprintf("%s → %s %s/%d: got %s (egress %s, ingress %s), want allowed=%v",
								from, to, pr.proto, pr.port, res.Verdict, describeDecision(res.Egress), describeDecision(res.Ingress), want))
						}
					}
				}
			}
			if len(wrong) > 0 {
				t.Errorf("%d of %d probes wrong:\n  %s", len(wrong), len(sc.probes)*81, strings.Join(wrong, "\n  "))
			}
		})
	}
}
