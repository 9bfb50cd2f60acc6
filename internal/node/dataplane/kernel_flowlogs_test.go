package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/node/flowlogs"
	"github.com/calicong/calico/internal/poll"
)

// podEndpoints names the test node's pods (local workloads); every other
// address is a network.
type podEndpoints map[string]string

func (p podEndpoints) Lookup(a netip.Addr) (flowlogs.Endpoint, bool) {
	name, ok := p[a.String()]
	if !ok {
		return flowlogs.Endpoint{}, false
	}
	return flowlogs.Endpoint{Type: "wep", Name: name, Namespace: "x", Local: true}, true
}

// TestFlowLogsTransitPolicies: with flow logs on, the host endpoint's
// pre-DNAT and forward policies that judged traffic to and from pods are
// the records' transit_policies, and the pods' own policies their
// enforced_policies, on the real kernel (NFLOG reports carry the host
// endpoint mark).
func TestFlowLogsTransitPolicies(t *testing.T) {
	n := hostNode(t, "uplink", Config{NFLOGGroup: 1})
	// Pre-DNAT: allow in to pod a. Forward: deny in to pod b, allow out.
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "prednat"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "host == 'yes'", PreDNAT: true, ApplyOnForward: true,
		Ingress: []v3.Rule{{Action: v3.Allow, Protocol: tcpProto(), Destination: v3.EntityRule{Nets: []string{"10.65.0.1/32"}}}},
	}})
	n.gnp(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "forward"}, Spec: v3.GlobalNetworkPolicySpec{
		Selector: "host == 'yes'", ApplyOnForward: true,
		Ingress: []v3.Rule{{Action: v3.Deny, Destination: v3.EntityRule{Nets: []string{"10.65.0.2/32"}}}, {Action: v3.Allow}},
		Egress:  []v3.Rule{{Action: v3.Allow}},
	}})
	n.sync()

	var mu sync.Mutex
	var recs []flowlogs.Record
	collectFlowLogs(t, n, flowlogs.Config{Host: nodeName, EnabledAllowed: true, EnabledDenied: true, IncludePolicies: true,
		TransitPolicies: true, HostEndpointMark: n.dp.cfg.HostEndpointMarkInUse()},
		podEndpoints{"10.65.0.1": "a", "10.65.0.2": "b"}, 500*time.Millisecond, func(out []flowlogs.Record) {
			mu.Lock()
			recs = append(recs, out...)
			mu.Unlock()
		})

	n.expect(t, "external → pod a, allowed pre-DNAT", "ext", "x/a", "TCP", 80, true)
	n.expect(t, "external → pod b, denied on forward", "ext", "x/b", "TCP", 80, false)
	n.expect(t, "pod a → external, allowed on forward", "x/a", "ext", "TCP", 80, true)

	profile := "__PROFILE__|__PROFILE__.kns.x|allow|0"
	for _, want := range []struct {
		what, reporter, action, src, dst string
		enforced, transit                []string
	}{
		{"in to pod a", "dst", "allow", extAddr, "10.65.0.1",
			[]string{"0|" + profile}, []string{"0|default|default.prednat|allow|0"}},
		{"in to pod b", "dst", "deny", extAddr, "10.65.0.2",
			[]string{}, []string{"0|default|default.forward|deny|0"}},
		{"out from pod a", "src", "allow", "10.65.0.1", extAddr,
			[]string{"0|" + profile}, []string{"0|default|default.forward|allow|0"}},
	} {
		var last string
		poll.Until(t, 10*time.Second, "the record of traffic "+want.what, func() bool {
			mu.Lock()
			defer mu.Unlock()
			var seen []string
			for _, r := range recs {
				if r.Reporter != want.reporter || deref(r.SourceIP) != want.src || deref(r.DestIP) != want.dst || num(r.DestPort) != 80 {
					continue
				}
				seen = append(seen, fmt.Sprintf("%s enforced %q transit %q", r.Action, r.Policies.EnforcedPolicies, r.Policies.TransitPolicies))
				if r.Action == want.action && slices.Equal(r.Policies.EnforcedPolicies, want.enforced) &&
					slices.Equal(r.Policies.TransitPolicies, want.transit) {
					return true
				}
			}
			last = fmt.Sprintf("want %s enforced %q transit %q; records: %s", want.action, want.enforced, want.transit, strings.Join(seen, "; "))
			return false
		}, &last)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func num(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}
