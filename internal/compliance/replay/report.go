package replay

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/calicong/calico/internal/compliance/report"
	"github.com/calicong/calico/internal/proto"
)

// policyID names a policy as reports do: its kind, namespace and name.
func policyID(p proto.PolicyID) report.ResourceID {
	return report.ResourceID{Kind: p.Kind, Name: p.Name, Namespace: p.Namespace}
}

// AddEndpoints fills the report's endpoints, namespaces and services
// from a replay of its interval, with their summaries:
//   - a namespace (a service) is protected when every endpoint of it in
//     scope is, and reachable when any is;
//   - an endpoint belongs to the services (of its namespace) whose
//     selector matches its labels.
func AddEndpoints(d *report.ReportData, eps []Endpoint, services []*corev1.Service) {
	type group struct {
		ingress, egress, fromInternet, toInternet, fromOther, toOther bool
		n                                                             int
	}
	add := func(g *group, e Endpoint) {
		if g.n == 0 {
			g.ingress, g.egress = true, true
		}
		g.n++
		g.ingress = g.ingress && e.IngressProtected
		g.egress = g.egress && e.EgressProtected
		g.fromInternet = g.fromInternet || e.IngressFromInternet
		g.toInternet = g.toInternet || e.EgressToInternet
		g.fromOther = g.fromOther || e.IngressFromOtherNamespace
		g.toOther = g.toOther || e.EgressToOtherNamespace
	}
	namespaces := map[string]*group{}
	svcGroups := map[report.ResourceID]*group{}
	accounts := map[string]bool{}
	d.Endpoints = d.Endpoints[:0]
	for _, e := range eps {
		out := report.Endpoint{Endpoint: report.ResourceID{Kind: "Pod", Name: e.Pod, Namespace: e.Namespace}, ServiceAccount: e.ServiceAccount,
			IngressProtected: e.IngressProtected, EgressProtected: e.EgressProtected,
			IngressFromInternet: e.IngressFromInternet, EgressToInternet: e.EgressToInternet,
			IngressFromOtherNamespace: e.IngressFromOtherNamespace, EgressToOtherNamespace: e.EgressToOtherNamespace}
		for _, p := range e.AppliedPolicies {
			out.AppliedPolicies = append(out.AppliedPolicies, policyID(p))
		}
		for _, s := range services {
			if s.Namespace != e.Namespace || len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(e.Labels)) {
				continue
			}
			id := report.ResourceID{Kind: "Service", Name: s.Name, Namespace: s.Namespace}
			out.Services = append(out.Services, id)
			if svcGroups[id] == nil {
				svcGroups[id] = &group{}
			}
			add(svcGroups[id], e)
		}
		if namespaces[e.Namespace] == nil {
			namespaces[e.Namespace] = &group{}
		}
		add(namespaces[e.Namespace], e)
		if e.ServiceAccount != "" {
			accounts[e.Namespace+"/"+e.ServiceAccount] = true
		}
		d.Endpoints = append(d.Endpoints, out)
		count(&d.EndpointsSummary, out.IngressProtected, out.EgressProtected, out.IngressFromInternet, out.EgressToInternet,
			out.IngressFromOtherNamespace, out.EgressToOtherNamespace, out.EnvoyEnabled)
	}
	d.EndpointsSummary.NumServiceAccounts = len(accounts)
	d.Namespaces = d.Namespaces[:0]
	for name, g := range namespaces {
		n := report.Namespace{Namespace: report.ResourceID{Kind: "Namespace", Name: name}, IngressProtected: g.ingress, EgressProtected: g.egress,
			IngressFromInternet: g.fromInternet, EgressToInternet: g.toInternet, IngressFromOtherNamespace: g.fromOther, EgressToOtherNamespace: g.toOther}
		d.Namespaces = append(d.Namespaces, n)
		count(&d.NamespacesSummary, n.IngressProtected, n.EgressProtected, n.IngressFromInternet, n.EgressToInternet,
			n.IngressFromOtherNamespace, n.EgressToOtherNamespace, false)
	}
	slices.SortFunc(d.Namespaces, func(a, b report.Namespace) int { return cmp.Compare(a.Namespace.Name, b.Namespace.Name) })
	d.Services = d.Services[:0]
	for id, g := range svcGroups {
		s := report.Service{Service: id, IngressProtected: g.ingress, IngressFromInternet: g.fromInternet, IngressFromOtherNamespace: g.fromOther}
		d.Services = append(d.Services, s)
		count(&d.ServicesSummary, s.IngressProtected, false, s.IngressFromInternet, false, s.IngressFromOtherNamespace, false, false)
	}
	slices.SortFunc(d.Services, func(a, b report.Service) int { return cmp.Compare(a.Service.String(), b.Service.String()) })
}

func count(s *report.EndpointsSummary, ingress, egress, fromInternet, toInternet, fromOther, toOther, envoy bool) {
	s.NumTotal++
	for _, c := range []struct {
		on bool
		n  *int
	}{{ingress, &s.NumIngressProtected}, {egress, &s.NumEgressProtected}, {fromInternet, &s.NumIngressFromInternet},
		{toInternet, &s.NumEgressToInternet}, {fromOther, &s.NumIngressFromOtherNamespace}, {toOther, &s.NumEgressToOtherNamespace},
		{envoy, &s.NumEnvoyEnabled}} {
		if c.on {
			*c.n++
		}
	}
}
