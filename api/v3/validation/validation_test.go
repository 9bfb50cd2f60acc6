package validation_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
)

func ptr[T any](v T) *T { return &v }

func port(s string) v3.Port {
	var p v3.Port
	if err := p.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil {
		panic(err)
	}
	return p
}

func proto(s string) *v3.Protocol {
	var p v3.Protocol
	b := []byte(s)
	if s == "" || s[0] < '0' || s[0] > '9' {
		b = []byte(`"` + s + `"`)
	}
	if err := p.UnmarshalJSON(b); err != nil {
		panic(err)
	}
	return &p
}

func meta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

func nsMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "ns1"} }

// gnp returns a defaulted GlobalNetworkPolicy with the given ingress rules.
func gnp(ingress ...v3.Rule) *v3.GlobalNetworkPolicy {
	p := &v3.GlobalNetworkPolicy{ObjectMeta: meta("p"), Spec: v3.GlobalNetworkPolicySpec{Ingress: ingress}}
	v3.Default(p)
	return p
}

func np(ingress ...v3.Rule) *v3.NetworkPolicy {
	p := &v3.NetworkPolicy{ObjectMeta: nsMeta("p"), Spec: v3.NetworkPolicySpec{Ingress: ingress}}
	v3.Default(p)
	return p
}

func pool(cidr string, mut func(*v3.IPPoolSpec)) *v3.IPPool {
	p := &v3.IPPool{ObjectMeta: meta("pool"), Spec: v3.IPPoolSpec{CIDR: cidr}}
	if mut != nil {
		mut(&p.Spec)
	}
	v3.Default(p)
	return p
}

type invalidCase struct {
	name  string
	obj   runtime.Object
	field string          // exact field path of the expected error
	typ   field.ErrorType // expected error type
	msg   string          // substring of the error detail
}

func checkInvalid(t *testing.T, cases []invalidCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := validation.Validate(tc.obj)
			for _, e := range errs {
				if e.Field == tc.field && e.Type == tc.typ && strings.Contains(e.Error(), tc.msg) {
					return
				}
			}
			t.Errorf("want %s error at %s containing %q, got:\n%v", tc.typ, tc.field, tc.msg, errs.ToAggregate())
		})
	}
}

func checkValid(t *testing.T, name string, obj runtime.Object) {
	t.Helper()
	if errs := validation.Validate(obj); len(errs) > 0 {
		t.Errorf("%s: unexpected errors: %v", name, errs.ToAggregate())
	}
}

func TestTestdataManifestsAreValid(t *testing.T) {
	files, _ := filepath.Glob("../testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(b, &tm); err != nil {
			t.Fatal(err)
		}
		k, ok := v3.KindFor(tm.Kind)
		if !ok {
			t.Fatalf("%s: unknown kind %s", f, tm.Kind)
		}
		obj := k.New()
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		v3.Default(obj)
		checkValid(t, filepath.Base(f), obj)
	}
}

func TestRulesValid(t *testing.T) {
	for name, r := range map[string]v3.Rule{
		"bare allow":         {Action: v3.Allow},
		"tcp ports":          {Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{port("80"), port("8000:9000"), port("http")}}},
		"sctp by number":     {Action: v3.Allow, Protocol: proto("132"), Source: v3.EntityRule{NotPorts: []v3.Port{port("1")}}},
		"icmp":               {Action: v3.Allow, Protocol: proto("ICMP"), ICMP: &v3.ICMPFields{Type: ptr(8), Code: ptr(0)}},
		"icmpv6 by number":   {Action: v3.Deny, Protocol: proto("58"), IPVersion: ptr(6), NotICMP: &v3.ICMPFields{Type: ptr(128)}},
		"v6 nets":            {Action: v3.Allow, IPVersion: ptr(6), Source: v3.EntityRule{Nets: []string{"fd00::/8", "2001:db8::1"}}},
		"global ns selector": {Action: v3.Allow, Source: v3.EntityRule{NamespaceSelector: "global()"}},
		"services":           {Action: v3.Allow, Source: v3.EntityRule{Services: &v3.ServiceMatch{Name: "kube-dns", Namespace: "kube-system"}}},
		"http":               {Action: v3.Allow, HTTP: &v3.HTTPMatch{Methods: []string{"GET"}, Paths: []v3.HTTPPath{{Exact: "/a"}, {Prefix: "/b"}}}},
		"http on deny":       {Action: v3.Deny, Protocol: proto("TCP"), HTTP: &v3.HTTPMatch{Methods: []string{"POST"}}},
		"http on pass":       {Action: v3.Pass, HTTP: &v3.HTTPMatch{Paths: []v3.HTTPPath{{Prefix: "/admin"}}}},
		"named port only":    {Action: v3.Allow, Destination: v3.EntityRule{Ports: []v3.Port{port("http"), port("metrics")}}},
		"service accounts":   {Action: v3.Allow, Source: v3.EntityRule{ServiceAccounts: &v3.ServiceAccountMatch{Names: []string{"sa"}, Selector: "a == 'b'"}}},
		"pass and log":       {Action: v3.Pass, NotProtocol: proto("UDPLite")},
		"match-all nets":     {Action: v3.Allow, Destination: v3.EntityRule{Nets: []string{"0.0.0.0/0"}}},
	} {
		checkValid(t, name+" (gnp)", gnp(r))
		checkValid(t, name+" (np)", np(r))
	}
}

func TestRulesInvalid(t *testing.T) {
	in0 := "spec.ingress[0]"
	checkInvalid(t, []invalidCase{
		{"no action", gnp(v3.Rule{}), in0 + ".action", field.ErrorTypeRequired, "Allow, Deny, Log, Pass"},
		{"bad action", gnp(v3.Rule{Action: "allow"}), in0 + ".action", field.ErrorTypeNotSupported, `"Allow"`},
		{"bad ipVersion", gnp(v3.Rule{Action: v3.Allow, IPVersion: ptr(5)}), in0 + ".ipVersion", field.ErrorTypeInvalid, "must be 4 or 6"},
		{"lowercase protocol", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("tcp")}), in0 + ".protocol", field.ErrorTypeInvalid, `use "TCP"`},
		{"unknown protocol", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("GRE")}), in0 + ".protocol", field.ErrorTypeInvalid, "or a number 1-255"},
		{"protocol 0", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("0")}), in0 + ".protocol", field.ErrorTypeInvalid, "1-255"},
		{"protocol 256", gnp(v3.Rule{Action: v3.Allow, NotProtocol: proto("256")}), in0 + ".notProtocol", field.ErrorTypeInvalid, "out of range"},
		{"icmp without protocol", gnp(v3.Rule{Action: v3.Allow, ICMP: &v3.ICMPFields{Type: ptr(8)}}), in0 + ".icmp", field.ErrorTypeInvalid, "requires protocol ICMP or ICMPv6"},
		{"icmp with tcp", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("TCP"), NotICMP: &v3.ICMPFields{Type: ptr(8)}}), in0 + ".notICMP", field.ErrorTypeInvalid, "requires protocol ICMP"},
		{"icmp type 255", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), ICMP: &v3.ICMPFields{Type: ptr(255)}}), in0 + ".icmp.type", field.ErrorTypeInvalid, "0-254"},
		{"icmp code 256", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), ICMP: &v3.ICMPFields{Type: ptr(3), Code: ptr(256)}}), in0 + ".icmp.code", field.ErrorTypeInvalid, "0-255"},
		{"icmp code without type", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), ICMP: &v3.ICMPFields{Code: ptr(1)}}), in0 + ".icmp.type", field.ErrorTypeRequired, "needs an ICMP type"},
		{"ICMP with ipVersion 6", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), IPVersion: ptr(6)}), in0 + ".ipVersion", field.ErrorTypeInvalid, "requires ipVersion 4"},
		{"ICMPv6 with ipVersion 4", gnp(v3.Rule{Action: v3.Allow, NotProtocol: proto("ICMPv6"), IPVersion: ptr(4)}), in0 + ".ipVersion", field.ErrorTypeInvalid, "requires ipVersion 6"},
		{"v4 net in v6 rule", gnp(v3.Rule{Action: v3.Allow, IPVersion: ptr(6), Source: v3.EntityRule{Nets: []string{"10.0.0.0/8"}}}), in0 + ".source", field.ErrorTypeInvalid, "IPv6 only"},
		{"v6 net with ICMP", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), Destination: v3.EntityRule{NotNets: []string{"fd00::/8"}}}), in0 + ".destination", field.ErrorTypeInvalid, "protocol ICMP"},
		{"sides of different families", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{Nets: []string{"10.0.0.0/8"}}, Destination: v3.EntityRule{Nets: []string{"fd00::/8"}}}), in0, field.ErrorTypeInvalid, "one IP version"},
		{"families mixed in one list", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{Nets: []string{"10.0.0.0/8", "fd00::/8"}}}), in0, field.ErrorTypeInvalid, "split it into an IPv4 rule and an IPv6 rule"},
		{"unmasked net", gnp(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{NotNets: []string{"10.1.2.3/8"}}}), in0 + ".destination.notNets[0]", field.ErrorTypeInvalid, "use the network address 10.0.0.0/8"},
		{"catch-all notNets", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{NotNets: []string{"::/0"}}}), in0 + ".source.notNets[0]", field.ErrorTypeInvalid, "could never match"},
		{"bad net", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{Nets: []string{"10.0.0.0/8", "10.0.0.0/33"}}}), in0 + ".source.nets[1]", field.ErrorTypeInvalid, "CIDR notation"},
		{"bad notNet", gnp(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{NotNets: []string{"foo"}}}), in0 + ".destination.notNets[0]", field.ErrorTypeInvalid, "CIDR notation"},
		{"ports without protocol", gnp(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Ports: []v3.Port{port("80")}}}), in0 + ".destination.ports", field.ErrorTypeInvalid, "only named ports may be used without a protocol"},
		{"port 0", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{port("0")}}}), in0 + ".destination.ports[0]", field.ErrorTypeInvalid, "port 0 is not a port"},
		{"range from 0", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{NotPorts: []v3.Port{port("0:100")}}}), in0 + ".destination.notPorts[0]", field.ErrorTypeInvalid, "1-65535"},
		{"port name not a kubernetes name", gnp(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Ports: []v3.Port{port("Web_Port")}}}), in0 + ".destination.ports[0]", field.ErrorTypeInvalid, "port name as Kubernetes defines them"},
		{"named port with ICMP", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), Destination: v3.EntityRule{Ports: []v3.Port{port("http")}}}), in0 + ".destination.ports", field.ErrorTypeInvalid, "the rule has protocol ICMP"},
		{"notPorts with ICMP", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), Source: v3.EntityRule{NotPorts: []v3.Port{port("80")}}}), in0 + ".source.notPorts", field.ErrorTypeInvalid, "the rule has protocol ICMP"},
		{"reversed range", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{port("80"), port("90:80")}}}), in0 + ".destination.ports[1]", field.ErrorTypeInvalid, "min <= max"},
		{"port out of range", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("UDP"), Destination: v3.EntityRule{Ports: []v3.Port{port("70000")}}}), in0 + ".destination.ports[0]", field.ErrorTypeInvalid, "0-65535"},
		{"bad port name", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("UDP"), Destination: v3.EntityRule{Ports: []v3.Port{port("my port")}}}), in0 + ".destination.ports[0]", field.ErrorTypeInvalid, "port name"},
		{"bad selector", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{Selector: "a == "}}), in0 + ".source.selector", field.ErrorTypeInvalid, "at position"},
		{"bad notSelector", gnp(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{NotSelector: "has(a"}}), in0 + ".destination.notSelector", field.ErrorTypeInvalid, "position"},
		{"bad namespaceSelector", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{NamespaceSelector: "a in {'x'"}}), in0 + ".source.namespaceSelector", field.ErrorTypeInvalid, "position"},
		{"global in selector", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{Selector: "global()"}}), in0 + ".source.selector", field.ErrorTypeInvalid, "namespaceSelector"},
		{"global with other terms", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{NamespaceSelector: "global() || all()"}}), in0 + ".source.namespaceSelector", field.ErrorTypeInvalid, "cannot be combined with other terms"},
		{"bad sa selector", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{ServiceAccounts: &v3.ServiceAccountMatch{Selector: "!!"}}}), in0 + ".source.serviceAccounts.selector", field.ErrorTypeInvalid, "position"},
		{"bad sa name", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{ServiceAccounts: &v3.ServiceAccountMatch{Names: []string{"Bad_Name"}}}}), in0 + ".source.serviceAccounts.names[0]", field.ErrorTypeInvalid, "service account name"},
		{"services with selector", gnp(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Selector: "a == 'b'", Services: &v3.ServiceMatch{Name: "s"}}}), in0 + ".destination.selector", field.ErrorTypeForbidden, "cannot be combined with services"},
		{"services with nets", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{Nets: []string{"10.0.0.0/8"}, Services: &v3.ServiceMatch{Name: "s"}}}), in0 + ".source.nets", field.ErrorTypeForbidden, "cannot be combined"},
		{"services with ports", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{port("53")}, Services: &v3.ServiceMatch{Name: "s"}}}), in0 + ".destination.ports", field.ErrorTypeForbidden, "service's own ports"},
		{"services without name", gnp(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Services: &v3.ServiceMatch{Namespace: "x"}}}), in0 + ".destination.services.name", field.ErrorTypeRequired, "Kubernetes Service"},
		{"services in ingress destination", gnp(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Services: &v3.ServiceMatch{Name: "s", Namespace: "n"}}}), in0 + ".destination.services", field.ErrorTypeForbidden, "belongs in source"},
		{"global services without namespace", gnp(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{Services: &v3.ServiceMatch{Name: "s"}}}), in0 + ".source.services.namespace", field.ErrorTypeRequired, "give the service's namespace"},
		{"duplicate http methods", gnp(v3.Rule{Action: v3.Allow, HTTP: &v3.HTTPMatch{Methods: []string{"GET", "PUT", "GET"}}}), in0 + ".http.methods[2]", field.ErrorTypeDuplicate, "GET"},
		{"http path without slash", gnp(v3.Rule{Action: v3.Allow, HTTP: &v3.HTTPMatch{Paths: []v3.HTTPPath{{Prefix: "api"}}}}), in0 + ".http.paths[0].prefix", field.ErrorTypeInvalid, `start with "/"`},
		{"http path with query", gnp(v3.Rule{Action: v3.Log, HTTP: &v3.HTTPMatch{Paths: []v3.HTTPPath{{Exact: "/a?b=1"}}}}), in0 + ".http.paths[0].exact", field.ErrorTypeInvalid, `no "?", "#" or space`},
		{"bad rule annotation", gnp(v3.Rule{Action: v3.Allow, Metadata: &v3.RuleMetadata{Annotations: map[string]string{"...": "x"}}}), in0 + ".metadata.annotations", field.ErrorTypeInvalid, ""},
		{"http with udp", gnp(v3.Rule{Action: v3.Allow, Protocol: proto("UDP"), HTTP: &v3.HTTPMatch{Methods: []string{"GET"}}}), in0 + ".protocol", field.ErrorTypeInvalid, "TCP or no protocol"},
		{"http path both", gnp(v3.Rule{Action: v3.Allow, HTTP: &v3.HTTPMatch{Paths: []v3.HTTPPath{{Exact: "/a", Prefix: "/b"}}}}), in0 + ".http.paths[0]", field.ErrorTypeInvalid, "exactly one of exact or prefix"},
		{"egress rule index", func() *v3.GlobalNetworkPolicy {
			p := gnp()
			p.Spec.Egress = []v3.Rule{{Action: v3.Allow}, {Action: v3.Allow}, {Action: "Drop"}}
			p.Spec.Types = []v3.PolicyType{v3.PolicyTypeEgress}
			return p
		}(), "spec.egress[2].action", field.ErrorTypeNotSupported, "Allow"},
		{"http in egress", func() *v3.GlobalNetworkPolicy {
			p := gnp()
			p.Spec.Egress = []v3.Rule{{Action: v3.Allow, HTTP: &v3.HTTPMatch{Methods: []string{"GET"}}}}
			return p
		}(), "spec.egress[0].http", field.ErrorTypeForbidden, "not allowed in egress rules"},
		{"services in egress source", func() *v3.NetworkPolicy {
			p := np()
			p.Spec.Egress = []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Services: &v3.ServiceMatch{Name: "s"}}}}
			return p
		}(), "spec.egress[0].source.services", field.ErrorTypeForbidden, "belongs in destination"},
	})
}

func TestPoliciesInvalid(t *testing.T) {
	mut := func(f func(*v3.GlobalNetworkPolicy)) *v3.GlobalNetworkPolicy { p := gnp(); f(p); return p }
	checkInvalid(t, []invalidCase{
		{"bad policy selector", mut(func(p *v3.GlobalNetworkPolicy) { p.Spec.Selector = "app == 'x' &&" }), "spec.selector", field.ErrorTypeInvalid, "at position 13"},
		{"global in policy selector", mut(func(p *v3.GlobalNetworkPolicy) { p.Spec.Selector = "global()" }), "spec.selector", field.ErrorTypeInvalid, "rule's namespaceSelector"},
		{"global in gnp namespaceSelector", mut(func(p *v3.GlobalNetworkPolicy) { p.Spec.NamespaceSelector = "global()" }), "spec.namespaceSelector", field.ErrorTypeInvalid, "rule's namespaceSelector"},
		{"bad sa selector", mut(func(p *v3.GlobalNetworkPolicy) { p.Spec.ServiceAccountSelector = "(" }), "spec.serviceAccountSelector", field.ErrorTypeInvalid, "position"},
		{"bad tier name", mut(func(p *v3.GlobalNetworkPolicy) { p.Spec.Tier = "My.Tier" }), "spec.tier", field.ErrorTypeInvalid, "name of a tier"},
		{"bad type", mut(func(p *v3.GlobalNetworkPolicy) { p.Spec.Types = []v3.PolicyType{"ingress"} }), "spec.types[0]", field.ErrorTypeNotSupported, "Ingress"},
		{"duplicate type", mut(func(p *v3.GlobalNetworkPolicy) { p.Spec.Types = []v3.PolicyType{"Ingress", "Ingress"} }), "spec.types[1]", field.ErrorTypeDuplicate, ""},
		{"preDNAT without applyOnForward", mut(func(p *v3.GlobalNetworkPolicy) { p.Spec.PreDNAT = true }), "spec.applyOnForward", field.ErrorTypeInvalid, "must be true"},
		{"doNotTrack without applyOnForward", mut(func(p *v3.GlobalNetworkPolicy) { p.Spec.DoNotTrack = true }), "spec.applyOnForward", field.ErrorTypeInvalid, "must be true"},
		{"preDNAT and doNotTrack", mut(func(p *v3.GlobalNetworkPolicy) {
			p.Spec.PreDNAT, p.Spec.DoNotTrack, p.Spec.ApplyOnForward = true, true, true
		}), "spec.preDNAT", field.ErrorTypeForbidden, "cannot both be true"},
		{"preDNAT egress", mut(func(p *v3.GlobalNetworkPolicy) {
			p.Spec.PreDNAT, p.Spec.ApplyOnForward = true, true
			p.Spec.Egress = []v3.Rule{{Action: v3.Allow}}
			p.Spec.Types = []v3.PolicyType{"Ingress", "Egress"}
		}), "spec.egress", field.ErrorTypeForbidden, "ingress only"},
		{"preDNAT egress type", mut(func(p *v3.GlobalNetworkPolicy) {
			p.Spec.PreDNAT, p.Spec.ApplyOnForward = true, true
			p.Spec.Types = []v3.PolicyType{"Egress"}
		}), "spec.types[0]", field.ErrorTypeForbidden, "types [Ingress]"},
		{"bad hint", mut(func(p *v3.GlobalNetworkPolicy) { p.Spec.PerformanceHints = []v3.PolicyPerformanceHint{"Fast"} }), "spec.performanceHints[0]", field.ErrorTypeNotSupported, "AssumeNeededOnEveryNode"},
		{"bad name", mut(func(p *v3.GlobalNetworkPolicy) { p.Name = "Bad_Name" }), "metadata.name", field.ErrorTypeInvalid, "RFC 1123"},
		{"name with two dots", mut(func(p *v3.GlobalNetworkPolicy) { p.Name = "a.b.c" }), "metadata.name", field.ErrorTypeInvalid, "optionally prefixed with its tier and one dot"},
		{"converted policy name", mut(func(p *v3.GlobalNetworkPolicy) { p.Name = "knp.default.web" }), "metadata.name", field.ErrorTypeInvalid, `belong to policies converted from Kubernetes`},
		{"gnp with namespace", mut(func(p *v3.GlobalNetworkPolicy) { p.Namespace = "x" }), "metadata.namespace", field.ErrorTypeForbidden, "not allowed"},
		{"np bad namespace", func() *v3.NetworkPolicy { p := np(); p.Namespace = "Bad"; return p }(), "metadata.namespace", field.ErrorTypeInvalid, ""},
		{"staged bad action", &v3.StagedNetworkPolicy{ObjectMeta: nsMeta("s"), Spec: v3.StagedNetworkPolicySpec{StagedAction: "Apply"}}, "spec.stagedAction", field.ErrorTypeNotSupported, "Set"},
		{"sgnp preDNAT", &v3.StagedGlobalNetworkPolicy{ObjectMeta: meta("s"), Spec: v3.StagedGlobalNetworkPolicySpec{PreDNAT: true}}, "spec.applyOnForward", field.ErrorTypeInvalid, "must be true"},
		{"sknp bad selector", &v3.StagedKubernetesNetworkPolicy{ObjectMeta: nsMeta("s"), Spec: v3.StagedKubernetesNetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}}}, "spec.podSelector.matchExpressions[0].operator", field.ErrorTypeInvalid, ""},
		{"sknp ipBlock except outside", &v3.StagedKubernetesNetworkPolicy{ObjectMeta: nsMeta("s"), Spec: v3.StagedKubernetesNetworkPolicySpec{
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"11.0.0.0/16"}}}}}}}},
			"spec.ingress[0].from[0].ipBlock.except[0]", field.ErrorTypeInvalid, "inside cidr"},
		{"sknp bad port protocol", &v3.StagedKubernetesNetworkPolicy{ObjectMeta: nsMeta("s"), Spec: v3.StagedKubernetesNetworkPolicySpec{
			Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr(corev1.Protocol("ICMP")), Port: ptr(intstr.FromInt32(1))}}}}}},
			"spec.egress[0].ports[0].protocol", field.ErrorTypeNotSupported, "TCP"},
	})
	checkValid(t, "sknp", func() *v3.StagedKubernetesNetworkPolicy {
		p := &v3.StagedKubernetesNetworkPolicy{ObjectMeta: nsMeta("s"), Spec: v3.StagedKubernetesNetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}}}}}}
		v3.Default(p)
		return p
	}())
}

func TestTiers(t *testing.T) {
	tier := func(name string, action v3.Action, order *float64) *v3.Tier {
		return &v3.Tier{ObjectMeta: meta(name), Spec: v3.TierSpec{DefaultAction: action, Order: order}}
	}
	checkValid(t, "custom", tier("security", v3.Pass, ptr(100.0)))
	for _, b := range v3.BuiltinTiers() {
		tr := &v3.Tier{ObjectMeta: meta(b.Name)}
		v3.Default(tr)
		checkValid(t, b.Name, tr)
	}
	checkInvalid(t, []invalidCase{
		{"bad action", tier("t", v3.Allow, nil), "spec.defaultAction", field.ErrorTypeNotSupported, "Deny"},
		{"dotted name", tier("a.b", v3.Deny, nil), "metadata.name", field.ErrorTypeInvalid, "must not contain dots"},
		{"kube-admin Deny", tier("kube-admin", v3.Deny, nil), "spec.defaultAction", field.ErrorTypeInvalid, "must have defaultAction Pass"},
		{"default Pass", tier("default", v3.Pass, nil), "spec.defaultAction", field.ErrorTypeInvalid, "must have defaultAction Deny"},
		{"default reordered", tier("default", v3.Deny, ptr(5.0)), "spec.order", field.ErrorTypeInvalid, "must have order 1e+06"},
	})
}

func TestNetworkingKinds(t *testing.T) {
	checkValid(t, "v4 pool", pool("10.244.0.0/16", nil))
	checkValid(t, "v6 pool", pool("fd00:10:244::/64", func(s *v3.IPPoolSpec) { s.VXLANMode = v3.EncapAlways }))
	checkValid(t, "gns with bare IP", &v3.GlobalNetworkSet{ObjectMeta: meta("g"), Spec: v3.GlobalNetworkSetSpec{Nets: []string{"10.0.0.1", "fd00::/8"}}})
	checkValid(t, "hep", &v3.HostEndpoint{ObjectMeta: meta("h"), Spec: v3.HostEndpointSpec{Node: "n1", InterfaceName: "*"}})
	checkInvalid(t, []invalidCase{
		{"pool no cidr", pool("", nil), "spec.cidr", field.ErrorTypeRequired, "CIDR notation"},
		{"pool bare ip", pool("10.0.0.1", nil), "spec.cidr", field.ErrorTypeInvalid, "CIDR notation"},
		{"v4 block size", pool("10.0.0.0/16", func(s *v3.IPPoolSpec) { s.BlockSize = 19 }), "spec.blockSize", field.ErrorTypeInvalid, "IPv4 pool's blockSize must be 20-32"},
		{"v6 block size", pool("fd00::/48", func(s *v3.IPPoolSpec) { s.BlockSize = 64 }), "spec.blockSize", field.ErrorTypeInvalid, "116-128"},
		{"pool smaller than block", pool("10.0.0.0/28", nil), "spec.cidr", field.ErrorTypeInvalid, "smaller than one block"},
		{"ipip and vxlan", pool("10.0.0.0/16", func(s *v3.IPPoolSpec) { s.IPIPMode, s.VXLANMode = v3.EncapAlways, v3.EncapCrossSubnet }), "spec.vxlanMode", field.ErrorTypeForbidden, "cannot both be enabled"},
		{"ipip v6", pool("fd00::/48", func(s *v3.IPPoolSpec) { s.IPIPMode = v3.EncapAlways }), "spec.ipipMode", field.ErrorTypeForbidden, "IPv6"},
		{"bad mode", pool("10.0.0.0/16", func(s *v3.IPPoolSpec) { s.IPIPMode = "always" }), "spec.ipipMode", field.ErrorTypeNotSupported, "CrossSubnet"},
		{"link-local", pool("169.254.0.0/16", nil), "spec.cidr", field.ErrorTypeInvalid, "link-local"},
		{"bad nodeSelector", pool("10.0.0.0/16", func(s *v3.IPPoolSpec) { s.NodeSelector = "rack ==" }), "spec.nodeSelector", field.ErrorTypeInvalid, "position"},
		{"bad allowed use", pool("10.0.0.0/16", func(s *v3.IPPoolSpec) { s.AllowedUses = []v3.IPPoolAllowedUse{"Pods"} }), "spec.allowedUses[0]", field.ErrorTypeNotSupported, "Workload"},
		{"bad assignment", pool("10.0.0.0/16", func(s *v3.IPPoolSpec) { s.AssignmentMode = ptr(v3.AssignmentMode("Auto")) }), "spec.assignmentMode", field.ErrorTypeNotSupported, "Automatic"},
		{"reservation", &v3.IPReservation{ObjectMeta: meta("r"), Spec: v3.IPReservationSpec{ReservedCIDRs: []string{"10.0.0.0/24", "nope"}}}, "spec.reservedCIDRs[1]", field.ErrorTypeInvalid, "single address"},
		{"networkset", &v3.NetworkSet{ObjectMeta: nsMeta("n"), Spec: v3.NetworkSetSpec{Nets: []string{"1.2.3.4/40"}}}, "spec.nets[0]", field.ErrorTypeInvalid, "CIDR"},
		{"hep no node", &v3.HostEndpoint{ObjectMeta: meta("h"), Spec: v3.HostEndpointSpec{InterfaceName: "eth0"}}, "spec.node", field.ErrorTypeRequired, "node"},
		{"hep no iface", &v3.HostEndpoint{ObjectMeta: meta("h"), Spec: v3.HostEndpointSpec{Node: "n"}}, "spec.interfaceName", field.ErrorTypeRequired, "expectedIPs"},
		{"hep bad ip", &v3.HostEndpoint{ObjectMeta: meta("h"), Spec: v3.HostEndpointSpec{Node: "n", ExpectedIPs: []string{"10.0.0.0/8"}}}, "spec.expectedIPs[0]", field.ErrorTypeInvalid, "IP address"},
		{"hep port protocol", &v3.HostEndpoint{ObjectMeta: meta("h"), Spec: v3.HostEndpointSpec{Node: "n", InterfaceName: "eth0",
			Ports: []v3.EndpointPort{{Name: "p", Protocol: *proto("ICMP"), Port: 1}}}}, "spec.ports[0].protocol", field.ErrorTypeInvalid, "TCP, UDP or SCTP"},
		{"hep long iface", &v3.HostEndpoint{ObjectMeta: meta("h"), Spec: v3.HostEndpointSpec{Node: "n", InterfaceName: "averyveryverylongname"}}, "spec.interfaceName", field.ErrorTypeInvalid, "1-15"},
	})
}

func TestBGPKinds(t *testing.T) {
	peer := func(f func(*v3.BGPPeerSpec)) *v3.BGPPeer {
		p := &v3.BGPPeer{ObjectMeta: meta("p"), Spec: v3.BGPPeerSpec{PeerIP: "10.0.0.1", ASNumber: 64512}}
		f(&p.Spec)
		return p
	}
	for _, ip := range []string{"10.0.0.1", "10.0.0.1:1179", "fd00::1", "[fd00::1]:1179"} {
		checkValid(t, ip, peer(func(s *v3.BGPPeerSpec) { s.PeerIP = ip }))
	}
	checkInvalid(t, []invalidCase{
		{"peerIP garbage", peer(func(s *v3.BGPPeerSpec) { s.PeerIP = "router1" }), "spec.peerIP", field.ErrorTypeInvalid, "[fd00::1]:1179"},
		{"peerIP v6 without brackets", peer(func(s *v3.BGPPeerSpec) { s.PeerIP = "fd00::1:1179:" }), "spec.peerIP", field.ErrorTypeInvalid, "optionally with a port"},
		{"peerIP port 0", peer(func(s *v3.BGPPeerSpec) { s.PeerIP = "10.0.0.1:0" }), "spec.peerIP", field.ErrorTypeInvalid, "1-65535"},
		{"node and selector", peer(func(s *v3.BGPPeerSpec) { s.Node, s.NodeSelector = "n", "all()" }), "spec.nodeSelector", field.ErrorTypeForbidden, "cannot both be set"},
		{"peerIP and selector", peer(func(s *v3.BGPPeerSpec) { s.PeerSelector = "all()" }), "spec.peerSelector", field.ErrorTypeForbidden, "cannot both be set"},
		{"selector with AS", peer(func(s *v3.BGPPeerSpec) { s.PeerIP, s.PeerSelector = "", "rr == 'true'" }), "spec.asNumber", field.ErrorTypeForbidden, "own AS numbers"},
		{"bad peerSelector", peer(func(s *v3.BGPPeerSpec) { s.PeerIP, s.ASNumber, s.PeerSelector = "", 0, "rr ==" }), "spec.peerSelector", field.ErrorTypeInvalid, "position"},
		{"reachableBy without peerIP", peer(func(s *v3.BGPPeerSpec) { s.PeerIP, s.ReachableBy = "", "10.0.0.254" }), "spec.reachableBy", field.ErrorTypeForbidden, "needs peerIP"},
		{"reachableBy family", peer(func(s *v3.BGPPeerSpec) { s.ReachableBy = "fd00::1" }), "spec.reachableBy", field.ErrorTypeInvalid, "same IP version"},
		{"nexthop both", peer(func(s *v3.BGPPeerSpec) { s.KeepOriginalNextHop, s.NextHopMode = true, ptr(v3.NextHopModeKeep) }), "spec.keepOriginalNextHop", field.ErrorTypeForbidden, "nextHopMode"},
		{"password without key", peer(func(s *v3.BGPPeerSpec) {
			s.Password = &v3.BGPPassword{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}
		}), "spec.password.secretKeyRef.key", field.ErrorTypeRequired, "key"},
		{"localWorkloadSelector without AS", peer(func(s *v3.BGPPeerSpec) { s.PeerIP, s.ASNumber, s.LocalWorkloadSelector = "", 0, "bgp == 'yes'" }), "spec.asNumber", field.ErrorTypeRequired, "localWorkloadSelector"},
		{"keepalive", peer(func(s *v3.BGPPeerSpec) { s.KeepaliveTime = &metav1.Duration{Duration: -time.Second} }), "spec.keepaliveTime", field.ErrorTypeInvalid, "positive"},
	})

	cfg := func(name string, f func(*v3.BGPConfigurationSpec)) *v3.BGPConfiguration {
		c := &v3.BGPConfiguration{ObjectMeta: meta(name)}
		f(&c.Spec)
		v3.Default(c)
		return c
	}
	checkInvalid(t, []invalidCase{
		{"bad log level", cfg("default", func(s *v3.BGPConfigurationSpec) { s.LogSeverityScreen = "Loud" }), "spec.logSeverityScreen", field.ErrorTypeNotSupported, "Info"},
		{"bad community", cfg("default", func(s *v3.BGPConfigurationSpec) { s.Communities = []v3.Community{{Name: "c", Value: "70000:1"}} }), "spec.communities[0].value", field.ErrorTypeInvalid, "0-65535"},
		{"unknown community name", cfg("default", func(s *v3.BGPConfigurationSpec) {
			s.PrefixAdvertisements = []v3.PrefixAdvertisement{{CIDR: "10.0.0.0/8", Communities: []string{"nope"}}}
		}), "spec.prefixAdvertisements[0].communities[0]", field.ErrorTypeInvalid, "spec.communities"},
		{"mesh password with mesh off", cfg("default", func(s *v3.BGPConfigurationSpec) {
			s.NodeToNodeMeshEnabled = ptr(false)
			s.NodeMeshPassword = &v3.BGPPassword{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}
		}), "spec.nodeMeshPassword", field.ErrorTypeForbidden, "nodeToNodeMeshEnabled is false"},
		{"bad service cidr", cfg("default", func(s *v3.BGPConfigurationSpec) {
			s.ServiceClusterIPs = []v3.ServiceClusterIPBlock{{CIDR: "10.96.0.1/12"}}
		}), "spec.serviceClusterIPs[0].cidr", field.ErrorTypeInvalid, "network address 10.96.0.0/12"},
		{"communities without advertisements", cfg("default", func(s *v3.BGPConfigurationSpec) { s.Communities = []v3.Community{{Name: "c", Value: "65000:1"}} }), "spec.prefixAdvertisements", field.ErrorTypeRequired, "only used through prefixAdvertisements"},
		{"advertisement without communities", cfg("default", func(s *v3.BGPConfigurationSpec) {
			s.PrefixAdvertisements = []v3.PrefixAdvertisement{{CIDR: "10.0.0.0/8"}}
		}), "spec.prefixAdvertisements[0].communities", field.ErrorTypeRequired, "communities to advertise"},
		{"ignore every interface", cfg("default", func(s *v3.BGPConfigurationSpec) { s.IgnoredInterfaces = []string{"*"} }), "spec.ignoredInterfaces[0]", field.ErrorTypeInvalid, "would ignore every interface"},
		{"peering ip family", cfg("default", func(s *v3.BGPConfigurationSpec) { s.LocalWorkloadPeeringIPV4 = "fd00::1" }), "spec.localWorkloadPeeringIPV4", field.ErrorTypeInvalid, "IPv4"},
	})

	filter := func(f func(*v3.BGPFilterSpec)) *v3.BGPFilter {
		b := &v3.BGPFilter{ObjectMeta: meta("f")}
		f(&b.Spec)
		return b
	}
	checkInvalid(t, []invalidCase{
		{"v6 cidr in v4 rule", filter(func(s *v3.BGPFilterSpec) {
			s.ExportV4 = []v3.BGPFilterRuleV4{{Action: v3.BGPFilterAccept, CIDR: "fd00::/8", MatchOperator: v3.MatchOperatorIn}}
		}), "spec.exportV4[0].cidr", field.ErrorTypeInvalid, "V4 rule"},
		{"cidr without operator", filter(func(s *v3.BGPFilterSpec) {
			s.ImportV4 = []v3.BGPFilterRuleV4{{Action: v3.BGPFilterAccept, CIDR: "10.0.0.0/8"}}
		}), "spec.importV4[0].matchOperator", field.ErrorTypeRequired, "Equal"},
		{"operator without cidr", filter(func(s *v3.BGPFilterSpec) {
			s.ImportV6 = []v3.BGPFilterRuleV6{{Action: v3.BGPFilterAccept, MatchOperator: v3.MatchOperatorIn}}
		}), "spec.importV6[0].cidr", field.ErrorTypeRequired, "needs a cidr"},
		{"unmasked cidr", filter(func(s *v3.BGPFilterSpec) {
			s.ExportV4 = []v3.BGPFilterRuleV4{{Action: v3.BGPFilterAccept, CIDR: "10.0.0.1/16", MatchOperator: v3.MatchOperatorIn}}
		}), "spec.exportV4[0].cidr", field.ErrorTypeInvalid, "network address 10.0.0.0/16"},
		{"interface with at sign", filter(func(s *v3.BGPFilterSpec) {
			s.ImportV4 = []v3.BGPFilterRuleV4{{Action: v3.BGPFilterReject, Interface: "eth0@if3"}}
		}), "spec.importV4[0].interface", field.ErrorTypeInvalid, "interface name or glob"},
		{"v6 prefix too long", filter(func(s *v3.BGPFilterSpec) {
			s.ExportV6 = []v3.BGPFilterRuleV6{{Action: v3.BGPFilterAccept, CIDR: "fd00::/8", MatchOperator: v3.MatchOperatorIn, PrefixLength: &v3.BGPFilterPrefixLengthV6{Max: ptr(int32(129))}}}
		}), "spec.exportV6[0].prefixLength.max", field.ErrorTypeInvalid, "0-128"},
		{"no action", filter(func(s *v3.BGPFilterSpec) { s.ExportV4 = []v3.BGPFilterRuleV4{{}} }), "spec.exportV4[0].action", field.ErrorTypeRequired, "Accept"},
		{"operations on reject", filter(func(s *v3.BGPFilterSpec) {
			s.ExportV4 = []v3.BGPFilterRuleV4{{Action: v3.BGPFilterReject, Operations: []v3.BGPFilterOperation{{SetPriority: &v3.BGPFilterSetPriority{Value: 5}}}}}
		}), "spec.exportV4[0].operations", field.ErrorTypeForbidden, "Accept"},
		{"two operations in one", filter(func(s *v3.BGPFilterSpec) {
			s.ExportV4 = []v3.BGPFilterRuleV4{{Action: v3.BGPFilterAccept, Operations: []v3.BGPFilterOperation{{SetPriority: &v3.BGPFilterSetPriority{Value: 5}, AddCommunity: &v3.BGPFilterAddCommunity{Value: "1:1"}}}}}
		}), "spec.exportV4[0].operations[0]", field.ErrorTypeInvalid, "exactly one"},
		{"bad community value", filter(func(s *v3.BGPFilterSpec) {
			s.ImportV4 = []v3.BGPFilterRuleV4{{Action: v3.BGPFilterReject, Communities: &v3.BGPFilterCommunityMatch{Values: []v3.BGPCommunityValue{"1:2:3:4"}}}}
		}), "spec.importV4[0].communities.values[0]", field.ErrorTypeInvalid, "aa:nn"},
	})
}

func TestConfigKinds(t *testing.T) {
	felix := func(name string, f func(*v3.FelixConfigurationSpec)) *v3.FelixConfiguration {
		c := &v3.FelixConfiguration{ObjectMeta: meta(name)}
		f(&c.Spec)
		v3.Default(c)
		return c
	}
	checkValid(t, "felix selector config", felix("rack1", func(s *v3.FelixConfigurationSpec) { s.NodeSelector = "rack == '1'"; s.ChainInsertMode = "Append" }))
	checkValid(t, "dns settings", felix("default", func(s *v3.FelixConfigurationSpec) {
		s.DNSTrustedServers = &[]string{"10.96.0.10", "10.96.0.10:5353", "fd00::a", "[fd00::a]:53", "k8s-service:kube-dns", "k8s-service:dns/coredns:53"}
		s.DNSPolicyMode, s.DNSLogsFileAggregationKind, s.DNSLogsFileDirectory = ptr("DelayDNSResponse"), ptr(0), ptr("/var/log/dns")
	}))
	trusted := func(v string) *v3.FelixConfiguration {
		return felix("default", func(s *v3.FelixConfigurationSpec) { s.DNSTrustedServers = &[]string{"10.96.0.10", v} })
	}
	checkInvalid(t, []invalidCase{
		{"nodeSelector on default", felix("default", func(s *v3.FelixConfigurationSpec) { s.NodeSelector = "all()" }), "spec.nodeSelector", field.ErrorTypeForbidden, "another name"},
		{"nodeSelector on node.", felix("node.n1", func(s *v3.FelixConfigurationSpec) { s.NodeSelector = "all()" }), "spec.nodeSelector", field.ErrorTypeForbidden, "node.<name>"},
		{"bad nodeSelector", felix("x", func(s *v3.FelixConfigurationSpec) { s.NodeSelector = "a ==" }), "spec.nodeSelector", field.ErrorTypeInvalid, "position"},
		{"enum", felix("default", func(s *v3.FelixConfigurationSpec) { s.BPFExternalServiceMode = "Direct" }), "spec.bpfExternalServiceMode", field.ErrorTypeNotSupported, "DSR"},
		{"flow log aggregation kind", felix("default", func(s *v3.FelixConfigurationSpec) { s.FlowLogsFileAggregationKindForAllowed = ptr(4) }), "spec.flowLogsFileAggregationKindForAllowed", field.ErrorTypeInvalid, "aggregation level 0-3"},
		{"negative flow log interval", felix("default", func(s *v3.FelixConfigurationSpec) {
			s.FlowLogsFlushInterval = &metav1.Duration{Duration: -5 * time.Second}
		}), "spec.flowLogsFlushInterval", field.ErrorTypeInvalid, "must not be negative"},
		{"zero flow log interval", felix("default", func(s *v3.FelixConfigurationSpec) { s.FlowLogsFlushInterval = &metav1.Duration{} }), "spec.flowLogsFlushInterval", field.ErrorTypeInvalid, "must be positive"},
		{"relative flow log directory", felix("default", func(s *v3.FelixConfigurationSpec) { s.FlowLogsFileDirectory = ptr("logs") }), "spec.flowLogsFileDirectory", field.ErrorTypeInvalid, "absolute path"},
		{"relative capture directory", felix("default", func(s *v3.FelixConfigurationSpec) { s.CaptureDir = ptr("pcap") }), "spec.captureDir", field.ErrorTypeInvalid, "absolute path"},
		{"no capture files", felix("default", func(s *v3.FelixConfigurationSpec) { zero := 0; s.CaptureMaxFiles = &zero }), "spec.captureMaxFiles", field.ErrorTypeInvalid, "at least 1"},
		{"trusted server by bare name", trusted("kube-dns"), "spec.dnsTrustedServers[1]", field.ErrorTypeInvalid, "k8s-service:[NAMESPACE/]NAME[:PORT]"},
		{"trusted service bad name", trusted("k8s-service:Kube_DNS"), "spec.dnsTrustedServers[1]", field.ErrorTypeInvalid, `Service name "Kube_DNS"`},
		{"trusted service bad port", trusted("k8s-service:kube-dns:99999"), "spec.dnsTrustedServers[1]", field.ErrorTypeInvalid, "1-65535"},
		{"trusted server port 0", trusted("10.0.0.1:0"), "spec.dnsTrustedServers[1]", field.ErrorTypeInvalid, "port 0"},
		{"dns policy mode", felix("default", func(s *v3.FelixConfigurationSpec) { s.DNSPolicyMode = ptr("Delay") }), "spec.dnsPolicyMode", field.ErrorTypeNotSupported, "DelayDeniedPacket"},
		{"dns aggregation kind", felix("default", func(s *v3.FelixConfigurationSpec) { s.DNSLogsFileAggregationKind = ptr(2) }), "spec.dnsLogsFileAggregationKind", field.ErrorTypeInvalid, "aggregated by workload"},
		{"relative dns log directory", felix("default", func(s *v3.FelixConfigurationSpec) { s.DNSLogsFileDirectory = ptr("dns") }), "spec.dnsLogsFileDirectory", field.ErrorTypeInvalid, "absolute path"},
		{"zero dns log interval", felix("default", func(s *v3.FelixConfigurationSpec) { s.DNSLogsFlushInterval = &metav1.Duration{} }), "spec.dnsLogsFlushInterval", field.ErrorTypeInvalid, "must be positive"},
		{"case-sensitive enum", felix("default", func(s *v3.FelixConfigurationSpec) { s.IPForwarding = "enabled" }), "spec.ipForwarding", field.ErrorTypeNotSupported, "Enabled"},
		{"iptables backend", felix("default", func(s *v3.FelixConfigurationSpec) { s.IptablesBackend = ptr(v3.IptablesBackend("nft")) }), "spec.iptablesBackend", field.ErrorTypeNotSupported, "NFT"},
		{"failsafe protocol", felix("default", func(s *v3.FelixConfigurationSpec) {
			s.FailsafeInboundHostPorts = &[]v3.ProtoPort{{Protocol: "tcp", Port: 22}, {Protocol: "icmp", Port: 1}}
		}), "spec.failsafeInboundHostPorts[1].protocol", field.ErrorTypeNotSupported, "TCP"},
		{"failsafe net", felix("default", func(s *v3.FelixConfigurationSpec) {
			s.FailsafeOutboundHostPorts = &[]v3.ProtoPort{{Protocol: "udp", Port: 53, Net: "bad"}}
		}), "spec.failsafeOutboundHostPorts[0].net[0]", field.ErrorTypeInvalid, "CIDR"},
		{"named node port range", felix("default", func(s *v3.FelixConfigurationSpec) { s.KubeNodePortRanges = &[]v3.Port{port("http")} }), "spec.kubeNodePortRanges[0]", field.ErrorTypeInvalid, "not a name"},
		{"route table ranges", felix("default", func(s *v3.FelixConfigurationSpec) {
			s.RouteTableRanges = &v3.RouteTableRanges{{Min: 10, Max: 5}}
		}), "spec.routeTableRanges[0]", field.ErrorTypeInvalid, "min <= max"},
		{"both route table settings", felix("default", func(s *v3.FelixConfigurationSpec) {
			s.RouteTableRange = &v3.RouteTableRange{Min: 1, Max: 250}
			s.RouteTableRanges = &v3.RouteTableRanges{{Min: 1, Max: 250}}
		}), "spec.routeTableRange", field.ErrorTypeForbidden, "cannot both be set"},
		{"nat address v6", felix("default", func(s *v3.FelixConfigurationSpec) { s.NATOutgoingAddress = "fd00::1" }), "spec.natOutgoingAddress", field.ErrorTypeInvalid, "IPv4"},
		{"regex", felix("default", func(s *v3.FelixConfigurationSpec) { s.MTUIfacePattern = "eth[" }), "spec.mtuIfacePattern", field.ErrorTypeInvalid, "regular expression"},
		{"interfaceExclude regex", felix("default", func(s *v3.FelixConfigurationSpec) { s.InterfaceExclude = "kube-ipvs0,/(/" }), "spec.interfaceExclude", field.ErrorTypeInvalid, "regular expression"},
		{"negative duration", felix("default", func(s *v3.FelixConfigurationSpec) { s.RouteRefreshInterval = &metav1.Duration{Duration: -time.Second} }), "spec.routeRefreshInterval", field.ErrorTypeInvalid, "negative"},
		{"port", felix("default", func(s *v3.FelixConfigurationSpec) { s.HealthPort = ptr(70000) }), "spec.healthPort", field.ErrorTypeInvalid, "0-65535"},
		{"feature override", felix("default", func(s *v3.FelixConfigurationSpec) { s.FeatureDetectOverride = "SNATFullyRandom=yes" }), "spec.featureDetectOverride", field.ErrorTypeInvalid, "true|false"},
		{"rate limit", felix("default", func(s *v3.FelixConfigurationSpec) { s.LogActionRateLimit = ptr("10/week") }), "spec.logActionRateLimit", field.ErrorTypeInvalid, "10/second"},
		{"ct timeout", felix("default", func(s *v3.FelixConfigurationSpec) {
			s.BPFConntrackTimeouts = &v3.BPFConntrackTimeouts{TCPEstablished: ptr("forever")}
		}), "spec.bpfConntrackTimeouts.tcpEstablished", field.ErrorTypeInvalid, "Auto"},
		{"psnat named", felix("default", func(s *v3.FelixConfigurationSpec) { s.BPFPSNATPorts = ptr(port("30000:20000")) }), "spec.bpfPSNATPorts", field.ErrorTypeInvalid, "min <= max"},
	})

	checkInvalid(t, []invalidCase{
		{"kcc log level", &v3.KubeControllersConfiguration{ObjectMeta: meta("default"), Spec: v3.KubeControllersConfigurationSpec{LogSeverityScreen: "Trace"}}, "spec.logSeverityScreen", field.ErrorTypeNotSupported, "Debug"},
		{"kcc template", &v3.KubeControllersConfiguration{ObjectMeta: meta("default"), Spec: v3.KubeControllersConfigurationSpec{Controllers: v3.ControllersConfig{
			Node: &v3.NodeControllerConfig{HostEndpoint: &v3.AutoHostEndpointConfig{Templates: []v3.AutoHostEndpointTemplate{{InterfacePattern: "eth["}}}}}}},
			"spec.controllers.node.hostEndpoint.templates[0].interfacePattern", field.ErrorTypeInvalid, "regular expression"},
		{"ipam max blocks", &v3.IPAMConfiguration{ObjectMeta: meta("default"), Spec: v3.IPAMConfigurationSpec{MaxBlocksPerHost: -1}}, "spec.maxBlocksPerHost", field.ErrorTypeInvalid, "0-1000000"},
		{"ipam cooldown", &v3.IPAMConfiguration{ObjectMeta: meta("default"), Spec: v3.IPAMConfigurationSpec{IPCooldownSeconds: ptr(int32(5000))}}, "spec.ipCooldownSeconds", field.ErrorTypeInvalid, "0-1200"},
		{"node status class", &v3.CalicoNodeStatus{ObjectMeta: meta("s"), Spec: v3.CalicoNodeStatusSpec{Node: "n", Classes: []v3.NodeStatusClassType{"Disk"}}}, "spec.classes[0]", field.ErrorTypeNotSupported, "BGP"},
	})
}

func TestIPAMKinds(t *testing.T) {
	idx := func(i int) *int { return &i }
	block := func(f func(*v3.IPAMBlockSpec)) *v3.IPAMBlock {
		b := &v3.IPAMBlock{ObjectMeta: meta("10-0-0-0-30"), Spec: v3.IPAMBlockSpec{
			CIDR: "10.0.0.0/30", Affinity: ptr("host:node1"), Allocations: []*int{idx(0), nil, nil, nil},
			Unallocated: []int{1, 2, 3}, Attributes: []v3.AllocationAttribute{{HandleID: ptr("h")}}}}
		f(&b.Spec)
		return b
	}
	checkValid(t, "block", block(func(*v3.IPAMBlockSpec) {}))
	checkInvalid(t, []invalidCase{
		{"allocations length", block(func(s *v3.IPAMBlockSpec) { s.Allocations = s.Allocations[:3] }), "spec.allocations", field.ErrorTypeInvalid, "one entry per address of the block (4)"},
		{"attribute index", block(func(s *v3.IPAMBlockSpec) { s.Allocations[3] = idx(5) }), "spec.allocations[3]", field.ErrorTypeInvalid, "index into attributes"},
		{"unallocated in use", block(func(s *v3.IPAMBlockSpec) { s.Unallocated = []int{0} }), "spec.unallocated[0]", field.ErrorTypeInvalid, "free address"},
		{"affinity", block(func(s *v3.IPAMBlockSpec) { s.Affinity = ptr("node1") }), "spec.affinity", field.ErrorTypeInvalid, "host:<node>"},
		{"affinity state", &v3.BlockAffinity{ObjectMeta: meta("a"), Spec: v3.BlockAffinitySpec{State: "claimed", Node: "n", CIDR: "10.0.0.0/26"}}, "spec.state", field.ErrorTypeNotSupported, "confirmed"},
		{"handle", &v3.IPAMHandle{ObjectMeta: meta("h"), Spec: v3.IPAMHandleSpec{HandleID: "h", Block: map[string]int{"bogus": 1}}}, "spec.block[bogus]", field.ErrorTypeInvalid, "block CIDRs"},
	})
}

func TestEndpointKinds(t *testing.T) {
	wep := &v3.WorkloadEndpoint{ObjectMeta: nsMeta("node1-k8s-web--0-eth0"), Spec: v3.WorkloadEndpointSpec{
		Orchestrator: "k8s", Node: "node1", Pod: "web-0", Endpoint: "eth0", InterfaceName: "cali12345678901",
		IPNetworks: []string{"10.244.1.5/32", "fd00::5/128"}, Profiles: []string{"kns.ns1", "ksa.ns1.default"},
		MAC: "02:42:ac:11:00:02", Ports: []v3.WorkloadEndpointPort{{Name: "http", Protocol: *proto("TCP"), Port: 80}},
		IPNATs: []v3.IPNAT{{InternalIP: "10.244.1.5", ExternalIP: "192.0.2.5"}}}}
	checkValid(t, "wep", wep)
	bad := wep.DeepCopy()
	bad.Spec.IPNetworks[0] = "10.244.1.0/24"
	checkInvalid(t, []invalidCase{
		{"wep network", bad, "spec.ipNetworks[0]", field.ErrorTypeInvalid, "/32 or /128"},
		{"profile labels", &v3.Profile{ObjectMeta: meta("kns.ns1"), Spec: v3.ProfileSpec{LabelsToApply: map[string]string{"bad key!": "v"}}}, "spec.labelsToApply", field.ErrorTypeInvalid, ""},
		{"profile rule", &v3.Profile{ObjectMeta: meta("p"), Spec: v3.ProfileSpec{Ingress: []v3.Rule{{Action: "Accept"}}}}, "spec.ingress[0].action", field.ErrorTypeNotSupported, "Allow"},
	})
}

func TestValidateUpdate(t *testing.T) {
	old := pool("10.244.0.0/16", nil)
	old.ResourceVersion = "1"
	changed := old.DeepCopy()
	changed.Spec.CIDR = "10.245.0.0/16"
	errs := validation.ValidateUpdate(changed, old)
	if len(errs) != 1 || errs[0].Field != "spec.cidr" || errs[0].Type != field.ErrorTypeForbidden {
		t.Errorf("cidr change: %v", errs.ToAggregate())
	}
	bs := old.DeepCopy()
	bs.Spec.BlockSize = 24
	if errs := validation.ValidateUpdate(bs, old); len(errs) != 1 || errs[0].Field != "spec.blockSize" {
		t.Errorf("blockSize change: %v", errs.ToAggregate())
	}
	// A stored pool without defaults compares equal to its defaulted update.
	raw := &v3.IPPool{ObjectMeta: meta("pool"), Spec: v3.IPPoolSpec{CIDR: "10.244.0.0/16"}}
	raw.ResourceVersion = "1"
	if errs := validation.ValidateUpdate(old, raw); len(errs) > 0 {
		t.Errorf("defaults-only difference rejected: %v", errs.ToAggregate())
	}
	ok := old.DeepCopy()
	ok.Spec.NATOutgoing = true
	if errs := validation.ValidateUpdate(ok, old); len(errs) > 0 {
		t.Errorf("natOutgoing change rejected: %v", errs.ToAggregate())
	}
	renamed := old.DeepCopy()
	renamed.Name = "other"
	if errs := validation.ValidateUpdate(renamed, old); len(errs) == 0 || errs[0].Field != "metadata.name" {
		t.Errorf("rename: %v", errs.ToAggregate())
	}
	if errs := validation.ValidateUpdate(np(), old); len(errs) == 0 {
		t.Error("type change accepted")
	}
	ba := &v3.BlockAffinity{ObjectMeta: meta("a"), Spec: v3.BlockAffinitySpec{State: v3.StatePending, Node: "n1", CIDR: "10.0.0.0/26"}}
	ba.ResourceVersion = "7"
	ba2 := ba.DeepCopy()
	ba2.Spec.State = v3.StateConfirmed
	if errs := validation.ValidateUpdate(ba2, ba); len(errs) > 0 {
		t.Errorf("affinity confirm rejected: %v", errs.ToAggregate())
	}
	ba2.Spec.Node = "n2"
	if errs := validation.ValidateUpdate(ba2, ba); len(errs) != 1 || errs[0].Field != "spec.node" {
		t.Errorf("affinity node change: %v", errs.ToAggregate())
	}
}

func TestValidateLists(t *testing.T) {
	l := &v3.GlobalNetworkPolicyList{Items: []v3.GlobalNetworkPolicy{*gnp(), *gnp(v3.Rule{Action: "x"})}}
	errs := validation.Validate(l)
	if len(errs) != 1 || errs[0].Field != "items[1].spec.ingress[0].action" {
		t.Errorf("list: %v", errs.ToAggregate())
	}
	if errs := validation.Validate(&metav1.Status{}); len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
		t.Errorf("foreign type: %v", errs)
	}
}

// A write may not give a policy a tier label other than its tier; what is
// stored already is still read (Validate leaves the label alone).
func TestTierLabel(t *testing.T) {
	labelled := func(obj v3.Object, tier, label string) v3.Object {
		switch p := obj.(type) {
		case *v3.NetworkPolicy:
			p.Spec.Tier = tier
		case *v3.GlobalNetworkPolicy:
			p.Spec.Tier = tier
		case *v3.StagedNetworkPolicy:
			p.Spec.Tier = tier
		case *v3.StagedGlobalNetworkPolicy:
			p.Spec.Tier = tier
		}
		if label != "" {
			obj.SetLabels(map[string]string{v3.LabelTier: label, "team": "a"})
		}
		return obj
	}
	for _, newObj := range []func() v3.Object{
		func() v3.Object { return np() },
		func() v3.Object { return gnp() },
		func() v3.Object { return &v3.StagedNetworkPolicy{ObjectMeta: nsMeta("p")} },
		func() v3.Object { return &v3.StagedGlobalNetworkPolicy{ObjectMeta: meta("p")} },
	} {
		k, _ := v3.KindOf(newObj())
		kind := k.Kind
		for _, ok := range []v3.Object{
			labelled(newObj(), "sec", "sec"),
			labelled(newObj(), "sec", ""),
			labelled(newObj(), "", "default"),
			labelled(newObj(), "default", "default"),
		} {
			v3.Default(ok)
			if errs := validation.ValidateWrite(ok); len(errs) > 0 {
				t.Errorf("%s %v: %v", kind, ok.GetLabels(), errs.ToAggregate())
			}
		}
		bad := labelled(newObj(), "sec", "default")
		bad.SetResourceVersion("1")
		v3.Default(bad)
		if errs := validation.Validate(bad); len(errs) > 0 {
			t.Errorf("%s: Validate (readers) refuses a stored wrong label: %v", kind, errs.ToAggregate())
		}
		errs := validation.ValidateWrite(bad)
		if len(errs) != 1 || errs[0].Field != "metadata.labels[projectcalico.org/tier]" || errs[0].Type != field.ErrorTypeInvalid ||
			!strings.Contains(errs[0].Error(), `must name the policy's tier "sec" (spec.tier)`) {
			t.Errorf("%s: ValidateWrite: %v", kind, errs.ToAggregate())
		}
		old := bad.DeepCopyObject().(v3.Object)
		old.SetLabels(nil)
		if errs := validation.ValidateUpdate(bad, old); len(errs) != 1 || errs[0].Field != "metadata.labels[projectcalico.org/tier]" {
			t.Errorf("%s: ValidateUpdate: %v", kind, errs.ToAggregate())
		}
	}
	// Other kinds may carry the label freely.
	sknp := &v3.StagedKubernetesNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "k", Namespace: "ns1", Labels: map[string]string{v3.LabelTier: "x"}}}
	v3.Default(sknp)
	if errs := validation.ValidateWrite(sknp); len(errs) > 0 {
		t.Errorf("StagedKubernetesNetworkPolicy: %v", errs.ToAggregate())
	}
}

// egress returns a defaulted GlobalNetworkPolicy with the given egress
// rules.
func egress(rules ...v3.Rule) *v3.GlobalNetworkPolicy {
	p := &v3.GlobalNetworkPolicy{ObjectMeta: meta("p"), Spec: v3.GlobalNetworkPolicySpec{Egress: rules, Types: []v3.PolicyType{v3.PolicyTypeEgress}}}
	v3.Default(p)
	return p
}

// TestDomains: domain names only in the destination of egress Allow
// rules, and in network sets' allowedEgressDomains; a bad name says why.
func TestDomains(t *testing.T) {
	allow := v3.Rule{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{
		Domains: []string{"api.example.test", "*.example.test", "*.cdn.example.com"}, Ports: []v3.Port{port("443")}}}
	checkValid(t, "egress allow to domains", egress(allow))
	nsEgress := &v3.NetworkPolicy{ObjectMeta: nsMeta("p"), Spec: v3.NetworkPolicySpec{Egress: []v3.Rule{allow}, Types: []v3.PolicyType{v3.PolicyTypeEgress}}}
	v3.Default(nsEgress)
	checkValid(t, "namespaced egress allow to domains", nsEgress)
	checkValid(t, "gns with domains", &v3.GlobalNetworkSet{ObjectMeta: meta("g"), Spec: v3.GlobalNetworkSetSpec{AllowedEgressDomains: []string{"*.example.test"}}})
	checkValid(t, "ns with domains", &v3.NetworkSet{ObjectMeta: nsMeta("n"), Spec: v3.NetworkSetSpec{AllowedEgressDomains: []string{"example.test"}}})

	eg0 := "spec.egress[0]"
	checkInvalid(t, []invalidCase{
		{"domains in ingress", gnp(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Domains: []string{"example.test"}}}),
			"spec.ingress[0].destination.domains", field.ErrorTypeForbidden, "not allowed in ingress rules"},
		{"domains in source", egress(v3.Rule{Action: v3.Allow, Source: v3.EntityRule{Domains: []string{"example.test"}}}),
			eg0 + ".source.domains", field.ErrorTypeForbidden, "in the destination of an egress rule"},
		{"domains in a deny rule", egress(v3.Rule{Action: v3.Deny, Destination: v3.EntityRule{Domains: []string{"example.test"}}}),
			eg0 + ".destination.domains", field.ErrorTypeForbidden, "only in Allow rules, not Deny"},
		{"two wildcards", egress(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Domains: []string{"ok.test", "*.*.test"}}}),
			eg0 + ".destination.domains[1]", field.ErrorTypeInvalid, "more than one"},
		{"a wildcard inside the name", egress(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Domains: []string{"a.*.b"}}}),
			eg0 + ".destination.domains[0]", field.ErrorTypeInvalid, "must be the first label"},
		{"partial wildcard", egress(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Domains: []string{"a*.example.test"}}}),
			eg0 + ".destination.domains[0]", field.ErrorTypeInvalid, "whole label"},
		{"bare wildcard", egress(v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Domains: []string{"*"}}}),
			eg0 + ".destination.domains[0]", field.ErrorTypeInvalid, "every name"},
		{"a URL", &v3.GlobalNetworkSet{ObjectMeta: meta("g"), Spec: v3.GlobalNetworkSetSpec{AllowedEgressDomains: []string{"https://example.test/"}}},
			"spec.allowedEgressDomains[0]", field.ErrorTypeInvalid, "use letters, digits and hyphens"},
	})
}
