package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/lab/probe"
)

// The NetworkPolicy conformance world (the shape of Kubernetes' own
// netpol suite): namespaces x, y, z, pods a, b, c in each, spread over
// two nodes by the scheduler, every pod serving TCP and UDP on ports 80
// and 81 (named serve-80-tcp, ...). Every pair is probed; self-traffic
// never leaves the pod and is always allowed.
type world struct {
	c    *cluster
	pods []wpod
}

type wpod struct {
	ns, name, ip, netns, node string
}

func (p wpod) String() string { return p.ns + "/" + p.name }

var (
	worldNamespaces = []string{"x", "y", "z"}
	worldPods       = []string{"a", "b", "c"}
)

func newWorld(t *testing.T) *world { return newWorldWith(t, clusterOpts{}) }

// newWorldWith builds the world on a cluster with extra options.
func newWorldWith(t *testing.T, o clusterOpts) *world {
	o.hosts, o.runtimes = 2, true
	c := newCluster(t, o)
	makePool(t, "e2e-netpol", "10.90.0.0/16")
	ctx := context.Background()
	kube := testLab.Client.Kube
	var ports []corev1.ContainerPort
	for _, port := range []int32{80, 81} {
		for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP} {
			ports = append(ports, corev1.ContainerPort{Name: fmt.Sprintf("serve-%d-%s", port, strings.ToLower(string(proto))), ContainerPort: port, Protocol: proto})
		}
	}
	for _, ns := range worldNamespaces {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"ns": ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Gone before the next test builds its world: the node runtimes,
		// still running, confirm the pods' deletion.
		t.Cleanup(func() {
			_ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
			until(t, 90*time.Second, "namespace "+ns+" deleted", func() bool {
				_, err := kube.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
				return apierrors.IsNotFound(err)
			})
		})
		for _, name := range worldPods {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"pod": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "agnhost", Ports: ports}}}}
			if _, err := multihost.CreatePod(ctx, kube, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	w := &world{c: c}
	until(t, 60*time.Second, "the world's 9 pods running", func() bool {
		w.pods = w.pods[:0]
		for _, ns := range worldNamespaces {
			for _, name := range worldPods {
				p, err := kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
					return false
				}
				rt := c.runtimes[p.Spec.NodeName]
				sb, ok := rt.Pod(ns, name)
				if !ok {
					return false
				}
				w.pods = append(w.pods, wpod{ns: ns, name: name, ip: p.Status.PodIP, netns: sb.NS, node: p.Spec.NodeName})
			}
		}
		return true
	})
	return w
}

func (w *world) pod(id string) wpod {
	for _, p := range w.pods {
		if p.String() == id {
			return p
		}
	}
	panic("no pod " + id)
}

// matrix probes every pair (not self) at once.
func (w *world) matrix(proto string, port int) map[[2]string]bool {
	out := map[[2]string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 24)
	for _, from := range w.pods {
		for _, to := range w.pods {
			if from == to {
				continue
			}
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				r, err := probe.Connect(from.netns, proto, to.ip, port, 700*time.Millisecond)
				mu.Lock()
				out[[2]string{from.String(), to.String()}] = err == nil && r.Connected
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return out
}

// expect waits until the probes give the expected matrix, and prints the
// difference as a table if they never do.
func (w *world) expect(t *testing.T, scenario, proto string, port int, allowed func(from, to wpod) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := w.matrix(proto, port)
		var wrong []string
		for _, from := range w.pods {
			for _, to := range w.pods {
				if from == to {
					continue
				}
				if want := allowed(from, to); got[[2]string{from.String(), to.String()}] != want {
					wrong = append(wrong, fmt.Sprintf("%s→%s want %v", from, to, want))
				}
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s (%s/%d): %d of 72 pairs wrong:\n%s\n%s", scenario, proto, port, len(wrong), w.table(got), strings.Join(wrong, "\n"))
			return
		}
	}
}

// hold checks that the probes give the expected matrix all through a
// window: for a change that must not happen.
func (w *world) hold(t *testing.T, scenario string, window time.Duration, allowed func(from, to wpod) bool) {
	t.Helper()
	w.expect(t, scenario, "TCP", 80, allowed)
	// A pair counts as changed when two matrices in a row say so: one
	// probe can miss on a loaded machine.
	wrongBefore := map[[2]string]bool{}
	for end := time.Now().Add(window); time.Now().Before(end); {
		got := w.matrix("TCP", 80)
		wrong := map[[2]string]bool{}
		for _, from := range w.pods {
			for _, to := range w.pods {
				pair := [2]string{from.String(), to.String()}
				if from == to || got[pair] == allowed(from, to) {
					continue
				}
				if wrongBefore[pair] {
					t.Errorf("%s: %s→%s changed to %v:\n%s", scenario, from, to, got[pair], w.table(got))
					return
				}
				wrong[pair] = true
			}
		}
		wrongBefore = wrong
	}
}

func (w *world) table(got map[[2]string]bool) string {
	var b strings.Builder
	b.WriteString("from\\to")
	for _, to := range w.pods {
		b.WriteString("\t" + to.String())
	}
	b.WriteString("\n")
	for _, from := range w.pods {
		b.WriteString(from.String())
		for _, to := range w.pods {
			switch {
			case from == to:
				b.WriteString("\t-")
			case got[[2]string{from.String(), to.String()}]:
				b.WriteString("\t.")
			default:
				b.WriteString("\tX")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func everything(wpod, wpod) bool { return true }

// knp applies a Kubernetes NetworkPolicy for the rest of a scenario.
func knp(t *testing.T, ns, name string, spec networkingv1.NetworkPolicySpec) func() {
	t.Helper()
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	client := testLab.Client.Kube.NetworkingV1().NetworkPolicies(ns)
	if _, err := client.Create(context.Background(), np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return func() { _ = client.Delete(context.Background(), name, metav1.DeleteOptions{}) }
}

// calico applies a Calico resource until the returned function removes it.
func calico(t *testing.T, o v3.Object) func() {
	t.Helper()
	kind, _ := v3.KindOf(o)
	o.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
	v3.Default(o)
	if _, err := testLab.Client.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return func() { _ = testLab.Client.Delete(context.Background(), kind, o.GetNamespace(), o.GetName(), nil) }
}

func sel(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

var (
	tcp = corev1.ProtocolTCP
	udp = corev1.ProtocolUDP
)

func port(p int) *intstr.IntOrString     { v := intstr.FromInt32(int32(p)); return &v }
func named(n string) *intstr.IntOrString { v := intstr.FromString(n); return &v }

// scenario is one conformance case: it applies its policies, states what
// must be reachable, and cleans up after itself.
type scenario struct {
	name  string
	quick bool // part of make test's representative subset
	run   func(t *testing.T, w *world)
}

var scenarios = []scenario{
	{"no policy: everything allowed", true, func(t *testing.T, w *world) {
		w.expect(t, "no policy", "TCP", 80, everything)
	}},
	{"default deny ingress in x", true, func(t *testing.T, w *world) {
		defer knp(t, "x", "deny", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}})()
		w.expect(t, "deny ingress x", "TCP", 80, func(_, to wpod) bool { return to.ns != "x" })
	}},
	{"allow ingress from the same namespace", false, func(t *testing.T, w *world) {
		defer knp(t, "x", "same-ns", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}}})()
		w.expect(t, "same namespace", "TCP", 80, func(from, to wpod) bool { return to.ns != "x" || from.ns == "x" })
	}},
	{"allow ingress from namespace y", true, func(t *testing.T, w *world) {
		defer knp(t, "x", "from-y", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("ns", "y")}}}}})()
		w.expect(t, "from namespace y", "TCP", 80, func(from, to wpod) bool { return to.ns != "x" || from.ns == "y" })
	}},
	{"namespace and pod selectors together", false, func(t *testing.T, w *world) {
		defer knp(t, "x", "from-y-b", networkingv1.NetworkPolicySpec{PodSelector: *sel("pod", "a"), PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("ns", "y"), PodSelector: sel("pod", "b")}}}}})()
		w.expect(t, "from y/b to x/a", "TCP", 80, func(from, to wpod) bool { return to.String() != "x/a" || from.String() == "y/b" })
	}},
	{"ipBlock with an exception", true, func(t *testing.T, w *world) {
		yb := w.pod("y/b")
		defer knp(t, "x", "ipblock", networkingv1.NetworkPolicySpec{PodSelector: *sel("pod", "a"), PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.90.0.0/16", Except: []string{yb.ip + "/32"}}}}}}})()
		w.expect(t, "ipBlock except y/b", "TCP", 80, func(from, to wpod) bool { return to.String() != "x/a" || from.String() != "y/b" })
	}},
	{"named port", false, func(t *testing.T, w *world) {
		defer knp(t, "x", "named", networkingv1.NetworkPolicySpec{PodSelector: *sel("pod", "a"), PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: named("serve-81-tcp")}}}}})()
		w.expect(t, "named port 81 only, on 80", "TCP", 80, func(_, to wpod) bool { return to.String() != "x/a" })
		w.expect(t, "named port 81 only, on 81", "TCP", 81, everything)
	}},
	{"UDP only", false, func(t *testing.T, w *world) {
		defer knp(t, "x", "udp", networkingv1.NetworkPolicySpec{PodSelector: *sel("pod", "a"), PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: port(80)}}}}})()
		w.expect(t, "UDP only, TCP", "TCP", 80, func(_, to wpod) bool { return to.String() != "x/a" })
		w.expect(t, "UDP only, UDP", "UDP", 80, everything)
	}},
	{"egress: deny from y except to z", true, func(t *testing.T, w *world) {
		defer knp(t, "y", "egress", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("ns", "z")}}}}})()
		w.expect(t, "y may only reach z", "TCP", 80, func(from, to wpod) bool { return from.ns != "y" || to.ns == "z" })
	}},
	{"policy and label updates", false, func(t *testing.T, w *world) {
		ctx := context.Background()
		client := testLab.Client.Kube.NetworkingV1().NetworkPolicies("x")
		defer knp(t, "x", "update", networkingv1.NetworkPolicySpec{PodSelector: *sel("pod", "a"), PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: sel("pod", "b")}}}}})()
		w.expect(t, "from pods b", "TCP", 80, func(from, to wpod) bool { return to.String() != "x/a" || from.name == "b" })
		np, err := client.Get(ctx, "update", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		np.Spec.Ingress[0].From[0].PodSelector = sel("pod", "c")
		if _, err := client.Update(ctx, np, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		w.expect(t, "updated to pods c", "TCP", 80, func(from, to wpod) bool { return to.String() != "x/a" || from.name == "c" })
		// z/b becomes a c by label: it is let in.
		pods := testLab.Client.Kube.CoreV1().Pods("z")
		p, err := pods.Get(ctx, "b", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Labels["pod"] = "c"
		if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			p, _ := pods.Get(ctx, "b", metav1.GetOptions{})
			p.Labels["pod"] = "b"
			_, _ = pods.Update(ctx, p, metav1.UpdateOptions{})
		}()
		w.expect(t, "z/b relabelled", "TCP", 80, func(from, to wpod) bool {
			return to.String() != "x/a" || from.name == "c" || from.String() == "z/b"
		})
	}},
	{"Calico tiers: Pass, then Deny", true, func(t *testing.T, w *world) {
		order := 100.0
		defer calico(t, &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "sec"}, Spec: v3.TierSpec{Order: &order}})()
		// x/a: traffic from y is denied in tier sec, the rest passes to
		// the default tier, where x/a has a policy allowing only z.
		defer calico(t, &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "sec.guard-x-a"}, Spec: v3.GlobalNetworkPolicySpec{
			Tier: "sec", Selector: `projectcalico.org/namespace == "x" && pod == "a"`, Types: []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress: []v3.Rule{
				{Action: v3.Deny, Source: v3.EntityRule{NamespaceSelector: `ns == "y"`}},
				{Action: v3.Pass},
			}}})()
		defer calico(t, &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "only-z", Namespace: "x"}, Spec: v3.NetworkPolicySpec{
			Selector: `pod == "a"`, Types: []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress: []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{NamespaceSelector: `ns == "z"`}}}}})()
		w.expect(t, "tiers", "TCP", 80, func(from, to wpod) bool { return to.String() != "x/a" || from.ns == "z" })
	}},
	{"GlobalNetworkPolicy by namespace selector", false, func(t *testing.T, w *world) {
		defer calico(t, &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "isolate-z"}, Spec: v3.GlobalNetworkPolicySpec{
			NamespaceSelector: `ns == "z"`, Types: []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress: []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{NamespaceSelector: `ns == "z"`}}}}})()
		w.expect(t, "z isolated", "TCP", 80, func(from, to wpod) bool { return to.ns != "z" || from.ns == "z" })
	}},
	{"NetworkSet", true, func(t *testing.T, w *world) {
		xa := w.pod("x/a")
		defer calico(t, &v3.GlobalNetworkSet{ObjectMeta: metav1.ObjectMeta{Name: "trusted", Labels: map[string]string{"role": "trusted"}},
			Spec: v3.GlobalNetworkSetSpec{Nets: []string{xa.ip + "/32"}}})()
		defer calico(t, &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "trusted-only"}, Spec: v3.GlobalNetworkPolicySpec{
			Selector: `projectcalico.org/namespace == "z"`, Types: []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress: []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: `role == "trusted"`}}}}})()
		w.expect(t, "only the trusted set into z", "TCP", 80, func(from, to wpod) bool { return to.ns != "z" || from.String() == "x/a" })
	}},
	{"staged policies change nothing", true, func(t *testing.T, w *world) {
		defer calico(t, &v3.StagedGlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "would-deny"}, Spec: v3.StagedGlobalNetworkPolicySpec{
			Selector: "all()", Types: []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress}}})()
		// A wrong enforcement would show within a few seconds: every
		// matrix over that window must be "everything allowed".
		w.hold(t, "staged", 3*time.Second, everything)
	}},
	{"HostEndpoint without policy: only failsafe ports are open", true, func(t *testing.T, w *world) {
		target := w.c.hosts[0]
		w.serveHost(t, target, 9090, 22)
		w.expectHost(t, "before the host endpoint", target, 9090, func(string) bool { return true })
		defer calico(t, hostEndpoint(target))()
		w.expectHost(t, "HostEndpoint, 9090", target, 9090, func(string) bool { return false })
		w.expectHost(t, "HostEndpoint, failsafe 22", target, 22, func(string) bool { return true })
	}},
	{"HostEndpoint policy, and hosts as a policy's source", false, func(t *testing.T, w *world) {
		target := w.c.hosts[0]
		w.serveHost(t, target, 9090, 22)
		defer calico(t, hostEndpoint(target))()
		// Into the host: port 9090 from namespace x only. Out of it:
		// everything (without an egress rule the host could not open
		// connections either).
		defer calico(t, &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "lab-hosts"}, Spec: v3.GlobalNetworkPolicySpec{
			Selector: `role == "lab-host"`, Types: []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress},
			Ingress: []v3.Rule{{Action: v3.Allow, Protocol: ptr(v3.ProtocolFromString("TCP")),
				Source: v3.EntityRule{NamespaceSelector: `ns == "x"`}, Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(9090)}}}},
			Egress: []v3.Rule{{Action: v3.Allow}}}})()
		// x/a lets in the host endpoint (matched by its expected IP) and
		// no one else.
		defer calico(t, &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "from-hosts", Namespace: "x"}, Spec: v3.NetworkPolicySpec{
			Selector: `pod == "a"`, Types: []v3.PolicyType{v3.PolicyTypeIngress},
			Ingress: []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: `role == "lab-host"`}}}}})()
		w.expectHost(t, "host 9090 from x only", target, 9090, func(from string) bool { return strings.HasPrefix(from, "x/") })
		w.expectHost(t, "host failsafe 22", target, 22, func(string) bool { return true })
		w.expect(t, "x/a from hosts only", "TCP", 80, func(_, to wpod) bool { return to.String() != "x/a" })
		xa := w.pod("x/a")
		w.expectFromHosts(t, "hosts to x/a", xa, 80, func(h *multihost.Host) bool { return h == target })
	}},
}

// hostEndpoint is a HostEndpoint for a host's underlay interface,
// labelled role=lab-host.
func hostEndpoint(h *multihost.Host) *v3.HostEndpoint {
	return &v3.HostEndpoint{ObjectMeta: metav1.ObjectMeta{Name: h.Name + "-eth0", Labels: map[string]string{"role": "lab-host"}},
		Spec: v3.HostEndpointSpec{Node: h.Name, InterfaceName: "eth0", ExpectedIPs: []string{h.IP.Addr().String()}}}
}

// serveHost serves TCP ports in a host's own namespace for the rest of
// the scenario.
func (w *world) serveHost(t *testing.T, h *multihost.Host, ports ...int) {
	t.Helper()
	var ps []probe.Port
	for _, p := range ports {
		ps = append(ps, probe.Port{Protocol: "TCP", Port: p})
	}
	srv, err := probe.Serve(h.NS, h.Name, ps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
}

// source is somewhere a probe starts: a pod, or a host's own namespace.
type source struct{ name, netns string }

// expectHost waits until TCP probes to a host's address give the
// expected result from every pod on the other hosts (their packets
// arrive on its underlay interface) and from the other hosts themselves.
func (w *world) expectHost(t *testing.T, scenario string, target *multihost.Host, port int, allowed func(from string) bool) {
	t.Helper()
	var from []source
	for _, p := range w.pods {
		if p.node != target.Name {
			from = append(from, source{p.String(), p.netns})
		}
	}
	for _, h := range w.c.hosts {
		if h != target {
			from = append(from, source{"host " + h.Name, h.NS})
		}
	}
	w.expectFrom(t, fmt.Sprintf("%s (%s:%d)", scenario, target.Name, port), from, target.IP.Addr().String(), port, allowed)
}

// expectFromHosts waits until TCP probes from every host's namespace to a
// pod give the expected result.
func (w *world) expectFromHosts(t *testing.T, scenario string, to wpod, port int, allowed func(*multihost.Host) bool) {
	t.Helper()
	var from []source
	want := map[string]bool{}
	for _, h := range w.c.hosts {
		from = append(from, source{"host " + h.Name, h.NS})
		want["host "+h.Name] = allowed(h)
	}
	w.expectFrom(t, fmt.Sprintf("%s (%s:%d)", scenario, to, port), from, to.ip, port, func(name string) bool { return want[name] })
}

func (w *world) expectFrom(t *testing.T, what string, from []source, addr string, port int, allowed func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := make([]bool, len(from))
		var wg sync.WaitGroup
		for i, s := range from {
			wg.Go(func() {
				r, err := probe.Connect(s.netns, "TCP", addr, port, 700*time.Millisecond)
				got[i] = err == nil && r.Connected
			})
		}
		wg.Wait()
		var wrong []string
		for i, s := range from {
			if want := allowed(s.name); got[i] != want {
				wrong = append(wrong, fmt.Sprintf("%s→%s:%d want %v", s.name, addr, port, want))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %d of %d sources wrong:\n%s", what, len(wrong), len(from), strings.Join(wrong, "\n"))
			return
		}
	}
}

// TestNetworkPolicyConformance runs the scenarios (all with
// E2E_ALL=1, as make e2e does; a representative subset otherwise), each
// returning the world to "everything allowed" before the next.
func TestNetworkPolicyConformance(t *testing.T) {
	w := newWorld(t)
	all := os.Getenv("E2E_ALL") != ""
	for _, s := range scenarios {
		if !all && !s.quick {
			continue
		}
		t.Run(s.name, func(t *testing.T) { s.run(t, w) })
		w.expect(t, "after "+s.name, "TCP", 80, everything)
	}
}
