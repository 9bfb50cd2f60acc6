package lookup

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/flowlogs"
	"github.com/calicong/calico/internal/proto"
)

func upd(kind, ns, name string, v any) model.Update {
	return model.Update{KVPair: model.KVPair{Key: model.Key{Kind: kind, Namespace: ns, Name: name}, Value: v}}
}

func TestIndex(t *testing.T) {
	x := NewIndex()
	wep := &v3.WorkloadEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "n1-k8s-web--1-eth0", Namespace: "demo", GenerateName: "web-7d4b9-",
		Labels: map[string]string{"app": "web", "projectcalico.org/namespace": "demo"}},
		Spec: v3.WorkloadEndpointSpec{Node: "n1", Pod: "web-7d4b9-x2x", IPNetworks: []string{"10.65.0.5/32", "fd00::5/128"}}}
	x.OnUpdates([]model.Update{
		upd(model.KindWorkloadEndpoint, "demo", wep.Name, wep),
		upd("HostEndpoint", "", "n1-eth0", &v3.HostEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "n1-eth0"}, Spec: v3.HostEndpointSpec{Node: "n1", ExpectedIPs: []string{"172.30.0.1"}}}),
		upd("GlobalNetworkSet", "", "internet", &v3.GlobalNetworkSet{ObjectMeta: metav1.ObjectMeta{Name: "internet"}, Spec: v3.GlobalNetworkSetSpec{Nets: []string{"198.51.100.0/24"}}}),
		upd("NetworkSet", "demo", "partner", &v3.NetworkSet{ObjectMeta: metav1.ObjectMeta{Name: "partner", Namespace: "demo"}, Spec: v3.NetworkSetSpec{Nets: []string{"198.51.100.128/25"}}}),
	})
	ep, ok := x.Endpoint(netip.MustParseAddr("10.65.0.5"))
	if !ok || ep.Type != "wep" || ep.Name != "web-7d4b9-x2x" || ep.AggrName != "web-7d4b9-*" || ep.Namespace != "demo" || len(ep.Labels) != 1 || ep.Labels["app"] != "web" || ep.Node != "n1" {
		t.Errorf("workload: %+v %v", ep, ok)
	}
	if ep, ok := x.Endpoint(netip.MustParseAddr("fd00::5")); !ok || ep.Name != "web-7d4b9-x2x" {
		t.Errorf("workload's IPv6 address: %+v %v", ep, ok)
	}
	if ep, ok := x.Endpoint(netip.MustParseAddr("172.30.0.1")); !ok || ep.Type != "hep" || ep.Namespace != "" || ep.Node != "n1" || ep.AggrName != "n1" {
		t.Errorf("host endpoint: %+v %v", ep, ok)
	}
	if ns, ok := x.NetworkSet(netip.MustParseAddr("198.51.100.200")); !ok || ns.Name != "partner" || ns.Namespace != "demo" {
		t.Errorf("longest prefix: %+v %v", ns, ok)
	}
	if ns, ok := x.NetworkSet(netip.MustParseAddr("198.51.100.7")); !ok || ns.Name != "internet" || ns.Namespace != "" || ns.Type != "ns" {
		t.Errorf("the wider set: %+v %v", ns, ok)
	}
	if _, ok := x.NetworkSet(netip.MustParseAddr("203.0.113.1")); ok {
		t.Error("an address in no set")
	}
	// Moves and deletions.
	wep2 := wep.DeepCopy()
	wep2.Spec.IPNetworks = []string{"10.65.0.6/32"}
	x.OnUpdates([]model.Update{upd(model.KindWorkloadEndpoint, "demo", wep.Name, wep2), upd("NetworkSet", "demo", "partner", nil)})
	if _, ok := x.Endpoint(netip.MustParseAddr("10.65.0.5")); ok {
		t.Error("the workload's old address is still known")
	}
	if ep, ok := x.Endpoint(netip.MustParseAddr("10.65.0.6")); !ok || ep.Name != "web-7d4b9-x2x" {
		t.Errorf("the workload's new address: %+v %v", ep, ok)
	}
	if ns, ok := x.NetworkSet(netip.MustParseAddr("198.51.100.200")); !ok || ns.Name != "internet" {
		t.Errorf("after deleting the narrower set: %+v %v", ns, ok)
	}
}

func TestServices(t *testing.T) {
	s := NewServices()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "backend", Namespace: "demo"}, Spec: corev1.ServiceSpec{
		ClusterIPs: []string{"10.96.0.10"}, Ports: []corev1.ServicePort{{Name: "api", Port: 8080, Protocol: "TCP"}, {Name: "dns", Port: 53, Protocol: "UDP"}}}}
	s.Set(svc)
	if got, ok := s.Service(netip.MustParseAddr("10.96.0.10"), 8080, 6); !ok || got != (Service{"backend", "demo", "api"}) {
		t.Errorf("tcp: %+v %v", got, ok)
	}
	if got, ok := s.Service(netip.MustParseAddr("10.96.0.10"), 53, 17); !ok || got.PortName != "dns" {
		t.Errorf("udp: %+v %v", got, ok)
	}
	if _, _, _, ok := s.Lookup(netip.MustParseAddr("10.96.0.10"), 53, 6); ok {
		t.Error("tcp/53 is not a port of the Service")
	}
	s.Delete("demo", "backend")
	if _, _, _, ok := s.Lookup(netip.MustParseAddr("10.96.0.10"), 8080, 6); ok {
		t.Error("a deleted Service is still known")
	}
}

func TestDescribe(t *testing.T) {
	owners := map[string]Owner{
		"pi-gnp":  {Policy: &proto.PolicyID{Kind: "GlobalNetworkPolicy", Name: "security.quarantine"}, Tier: "security"},
		"po-np":   {Policy: &proto.PolicyID{Kind: "NetworkPolicy", Namespace: "demo", Name: "frontend"}, Tier: "default"},
		"pi-knp":  {Policy: &proto.PolicyID{Kind: "KubernetesNetworkPolicy", Namespace: "demo", Name: "allow-dns"}, Tier: "default"},
		"pi-sgnp": {Policy: &proto.PolicyID{Kind: "StagedGlobalNetworkPolicy", Name: "security.lockdown"}, Tier: "security"},
		"pi-snp":  {Policy: &proto.PolicyID{Kind: "StagedNetworkPolicy", Namespace: "demo", Name: "db"}, Tier: "default"},
		"pri-p":   {Profile: "kns.demo"},
	}
	r := Rules{Owner: func(c string) (Owner, bool) { o, ok := owners[c]; return o, ok }}
	for id, want := range map[string]flowlogs.Rule{
		"DI0|pi-gnp":      {Tier: "security", Name: "security.quarantine", Action: "deny", RuleIndex: 0, Ingress: true, Kind: "GlobalNetworkPolicy", Policy: "security.quarantine"},
		"AE3|po-np":       {Tier: "default", Name: "demo/default.frontend", Action: "allow", RuleIndex: 3, Kind: "NetworkPolicy", Namespace: "demo", Policy: "frontend"},
		"PI1|pi-knp":      {Tier: "default", Name: "demo/knp.default.allow-dns", Action: "pass", RuleIndex: 1, Ingress: true, Kind: "KubernetesNetworkPolicy", Namespace: "demo", Policy: "allow-dns"},
		"DI-1|pi-gnp":     {Tier: "security", Name: "security.quarantine", Action: "deny", RuleIndex: -1, Ingress: true, Kind: "GlobalNetworkPolicy", Policy: "security.quarantine"},
		"DI0|pi-sgnp":     {Tier: "security", Name: "staged:security.lockdown", Action: "deny", Ingress: true, Kind: "StagedGlobalNetworkPolicy", Policy: "security.lockdown"},
		"AI0|pi-snp":      {Tier: "default", Name: "demo/staged:default.db", Action: "allow", Ingress: true, Kind: "StagedNetworkPolicy", Namespace: "demo", Policy: "db"},
		"AI0|pri-p":       {Tier: "__PROFILE__", Name: "__PROFILE__.kns.demo", Action: "allow", Ingress: true, Kind: "Profile", Policy: "kns.demo"},
		"DE-1|no profile": flowlogs.NoProfileRule(false),
	} {
		if got, ok := r.Describe(id); !ok || got != want {
			t.Errorf("%s: %+v %v, want %+v", id, got, ok, want)
		}
	}
	for _, bad := range []string{"XI0|pi-gnp", "AX0|pi-gnp", "AIz|pi-gnp", "AI0|gone", "AI0"} {
		if got, ok := r.Describe(bad); ok {
			t.Errorf("%s: %+v", bad, got)
		}
	}
}

func TestPolicies(t *testing.T) {
	rule := func(i int) *int { return &i }
	sec := proto.PolicyID{Kind: "GlobalNetworkPolicy", Name: "security.pass-demo"}
	fe := proto.PolicyID{Kind: "NetworkPolicy", Namespace: "demo", Name: "frontend"}
	db := proto.PolicyID{Kind: "StagedNetworkPolicy", Namespace: "demo", Name: "db-lockdown"}
	enforced := &calc.Decision{Verdict: "Allow", Reason: calc.ReasonPolicy, Tier: "default", Policy: &fe, Rule: rule(0), Action: "Allow",
		Passed: []calc.RuleRef{{Tier: "security", Policy: sec, Rule: 0}},
		Staged: &calc.Decision{Verdict: "Deny", Reason: calc.ReasonPolicy, Tier: "default", Policy: &db, Rule: rule(2), Action: "Deny",
			Passed: []calc.RuleRef{{Tier: "security", Policy: sec, Rule: 0}}}}
	if got, want := Policies(enforced), []string{"0|security|security.pass-demo|pass|0", "1|default|demo/default.frontend|allow|0"}; !slices.Equal(got, want) {
		t.Errorf("enforced %v, want %v", got, want)
	}
	if got, want := Pending(enforced), []string{"0|security|security.pass-demo|pass|0", "1|default|demo/staged:default.db-lockdown|deny|2"}; !slices.Equal(got, want) {
		t.Errorf("pending %v, want %v", got, want)
	}
	for _, c := range []struct {
		d    *calc.Decision
		want string
	}{
		{&calc.Decision{Reason: calc.ReasonTierDefault, Tier: "security", LastPolicy: &sec}, "0|security|security.pass-demo|deny|-1"},
		{&calc.Decision{Reason: calc.ReasonProfile, Profile: "kns.demo", Rule: rule(0), Action: "Allow"}, "0|__PROFILE__|__PROFILE__.kns.demo|allow|0"},
		{&calc.Decision{Reason: calc.ReasonNoMatch, Profile: "kns.demo"}, "0|__PROFILE__|__PROFILE__.kns.demo|deny|-1"},
	} {
		if got := Pending(c.d); len(got) != 1 || got[0] != c.want {
			t.Errorf("%+v: %v, want %s", c.d, got, c.want)
		}
	}
	if got := Policies(&calc.Decision{Reason: calc.ReasonHostToLocal}); got != nil {
		t.Errorf("no policy involved: %v", got)
	}
}
