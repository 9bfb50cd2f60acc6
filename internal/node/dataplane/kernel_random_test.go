package dataplane

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
)

// TestKernelAgreesWithOracleOnRandomPolicies generates random policy sets
// (tiers with both default actions, global and namespaced policies, all
// four actions, protocols, numeric and named ports, selectors, namespace
// selectors, nets and notSelectors) and requires every real packet to
// agree with the oracle. CALICO_RANDOM_SEED reproduces a run.
func TestKernelAgreesWithOracleOnRandomPolicies(t *testing.T) {
	rng := seededRand(t, 1)
	n := threeNamespaces(t)
	differential(t, n, func() []model.Key { return randomPolicies(rng, n) }, func() []probeResult { return n.probeAll(tcpUDP80) })
}

// seededRand is a random source whose seed is logged (and taken from
// CALICO_RANDOM_SEED when set, to repeat a run).
func seededRand(t *testing.T, stream uint64) *rand.Rand {
	seed := uint64(rand.Int64())
	if s := os.Getenv("CALICO_RANDOM_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set CALICO_RANDOM_SEED to repeat)", seed)
	return rand.New(rand.NewPCG(seed, stream))
}

// differential runs rounds of random policy sets (4, 1 with -short):
// each round replaces the last one's policies, programs the kernel,
// probes and requires every probe to agree with the oracle.
func differential(t *testing.T, n *testNode, policies func() []model.Key, probes func() []probeResult) {
	rounds := 4
	if testing.Short() {
		rounds = 1
	}
	var last []model.Key
	for round := range rounds {
		for _, k := range last {
			n.set(k, nil)
		}
		last = policies()
		n.sync()
		res := probes()
		allowed := agree(t, res)
		t.Logf("round %d: %d policies, %d of %d probes connected", round, len(last), allowed, len(res))
		if t.Failed() {
			for _, k := range last {
				t.Logf("policy %v: %+v", k, n.kvs[k])
			}
			return
		}
	}
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func randomPolicies(r *rand.Rand, n *testNode) []model.Key {
	order := 100.0
	n.tiers(&v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "t1"}, Spec: v3.TierSpec{Order: &order, DefaultAction: pick(r, v3.Deny, v3.Pass)}})
	selectors := []string{"all()", "pod == 'a'", "pod == 'b'", "pod != 'a'", "has(pod)", "!has(pod)"}
	nsSelectors := []string{"", "", "ns == 'x'", "ns in {'y', 'z'}", "all()"}
	var keys []model.Key
	for i := range 1 + r.IntN(4) {
		tier := pick(r, "default", "t1")
		o := float64(r.IntN(5))
		rules := func(max int, ingress bool) []v3.Rule {
			var out []v3.Rule
			for range r.IntN(max + 1) {
				rule := v3.Rule{Action: pick(r, v3.Allow, v3.Allow, v3.Deny, v3.Pass, v3.Log)}
				switch r.IntN(3) {
				case 1:
					p := v3.ProtocolFromString("TCP")
					rule.Protocol = &p
				case 2:
					p := v3.ProtocolFromString("UDP")
					rule.Protocol = &p
				}
				if rule.Protocol != nil {
					switch r.IntN(4) {
					case 1:
						rule.Destination.Ports = []v3.Port{v3.SinglePort(80)}
					case 2:
						rule.Destination.Ports = []v3.Port{v3.SinglePort(81)}
					case 3:
						rule.Destination.Ports = []v3.Port{v3.NamedPort("http")}
					}
				}
				// An HTTP match (ingress, TCP) is not enforced by this
				// dataplane: the rule applies at L3/L4, whatever its action,
				// in the kernel and in the oracle alike.
				if ingress && (rule.Protocol == nil || rule.Protocol.String() == "TCP") && r.IntN(3) == 0 {
					rule.HTTP = &v3.HTTPMatch{Methods: []string{"GET"}, Paths: []v3.HTTPPath{{Prefix: "/api"}}}
				}
				peer := &rule.Source
				if r.IntN(2) == 0 {
					peer = &rule.Destination
				}
				switch r.IntN(5) {
				case 1:
					peer.Selector = pick(r, selectors...)
				case 2:
					peer.NamespaceSelector = pick(r, nsSelectors[2:]...)
				case 3:
					peer.Nets = []string{pick(r, "10.65.0.0/29", "10.65.0.1/32", "192.168.100.0/24")}
				case 4:
					peer.NotSelector = pick(r, "pod == 'a'", "has(pod)")
				}
				out = append(out, rule)
			}
			return out
		}
		name := fmt.Sprintf("rand-%d", i)
		if tier != "default" {
			name = tier + "." + name
		}
		if r.IntN(2) == 0 {
			p := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.GlobalNetworkPolicySpec{
				Tier: tier, Order: &o, Selector: pick(r, selectors...), NamespaceSelector: pick(r, nsSelectors...),
				Ingress: rules(3, true), Egress: rules(2, false),
			}}
			n.gnp(p)
			keys = append(keys, model.Key{Kind: "GlobalNetworkPolicy", Name: name})
		} else {
			ns := pick(r, "x", "y", "z")
			p := &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: v3.NetworkPolicySpec{
				Tier: tier, Order: &o, Selector: pick(r, selectors...), Ingress: rules(3, true), Egress: rules(2, false),
			}}
			v3.Default(p)
			k := model.Key{Kind: "NetworkPolicy", Namespace: ns, Name: name}
			n.set(k, p)
			keys = append(keys, k)
		}
	}
	return keys
}
