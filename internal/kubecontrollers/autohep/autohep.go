// Package autohep is calico-kube-controllers' automatic host endpoints.
// With KubeControllersConfiguration's node.hostEndpoint.autoCreate
// Enabled, every node gets a HostEndpoint named <node>-auto-hep covering
// all of its interfaces ("*"), carrying the node's labels, its addresses
// as expected IPs and the default-allow profile: host policy can then
// select nodes by their labels without cutting them off (the profile
// allows what no policy decides). The endpoints follow their nodes'
// labels and addresses, go with their nodes, and all go when autoCreate
// is turned off. Endpoints the controller did not make are never
// touched.
package autohep

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
)

// LabelCreatedBy marks the endpoints this controller owns.
const (
	LabelCreatedBy = "projectcalico.org/created-by"
	CreatedBy      = "calico-kube-controllers"
)

// Name is a node's automatic host endpoint.
func Name(node string) string { return node + "-auto-hep" }

// Desired is the automatic host endpoint of a node.
func Desired(n *v3.Node) *v3.HostEndpoint {
	labels := maps.Clone(n.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelCreatedBy] = CreatedBy
	h := &v3.HostEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: Name(n.Name), Labels: labels},
		Spec: v3.HostEndpointSpec{Node: n.Name, InterfaceName: "*", ExpectedIPs: ExpectedIPs(n),
			Profiles: []string{v3.DefaultAllowProfile}},
	}
	h.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("HostEndpoint"))
	return h
}

// ExpectedIPs are every address the node is known by: its BGP and tunnel
// addresses and its Kubernetes addresses, without prefix lengths, sorted
// and without repeats.
func ExpectedIPs(n *v3.Node) []string {
	var raw []string
	if b := n.Spec.BGP; b != nil {
		raw = append(raw, b.IPv4Address, b.IPv6Address, b.IPv4IPIPTunnelAddr)
	}
	raw = append(raw, n.Spec.IPv4VXLANTunnelAddr, n.Spec.IPv6VXLANTunnelAddr)
	for _, a := range n.Spec.Addresses {
		raw = append(raw, a.Address)
	}
	var addrs []netip.Addr
	for _, s := range raw {
		s, _, _ = strings.Cut(s, "/")
		if a, err := netip.ParseAddr(s); err == nil && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// Changes are what one pass did, by endpoint name.
type Changes struct{ Created, Updated, Deleted []string }

// Reconcile makes the automatic host endpoints match the nodes: with
// enabled, one per node, as Desired says; without, none. It stops at the
// first failed write; the next pass carries on from there.
func Reconcile(ctx context.Context, s *datastore.Client, nodes []*v3.Node, enabled bool) (Changes, error) {
	var ch Changes
	kind, _ := v3.KindFor("HostEndpoint")
	objs, err := s.List(ctx, kind, "")
	if err != nil {
		return ch, fmt.Errorf("listing host endpoints: %w", err)
	}
	have := map[string]*v3.HostEndpoint{}
	for _, o := range objs {
		h := o.(*v3.HostEndpoint)
		if h.Labels[LabelCreatedBy] == CreatedBy {
			have[h.Name] = h
		}
	}
	want := map[string]*v3.HostEndpoint{}
	if enabled {
		for _, n := range nodes {
			want[Name(n.Name)] = Desired(n)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		w, h := want[name], have[name]
		switch {
		case h == nil:
			if _, err := s.Create(ctx, w); err != nil {
				return ch, fmt.Errorf("creating host endpoint %s: %w", name, err)
			}
			ch.Created = append(ch.Created, name)
		case !same(h, w):
			w.ResourceVersion = h.ResourceVersion
			if _, err := s.Update(ctx, w); err != nil {
				return ch, fmt.Errorf("updating host endpoint %s: %w", name, err)
			}
			ch.Updated = append(ch.Updated, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(have)) {
		if want[name] != nil {
			continue
		}
		rv := have[name].ResourceVersion
		if err := s.Delete(ctx, kind, "", name, &metav1.Preconditions{ResourceVersion: &rv}); err != nil {
			return ch, fmt.Errorf("deleting host endpoint %s: %w", name, err)
		}
		ch.Deleted = append(ch.Deleted, name)
	}
	return ch, nil
}

func same(a, b *v3.HostEndpoint) bool {
	return maps.Equal(a.Labels, b.Labels) && a.Spec.Node == b.Spec.Node && a.Spec.InterfaceName == b.Spec.InterfaceName &&
		slices.Equal(a.Spec.ExpectedIPs, b.Spec.ExpectedIPs) && slices.Equal(a.Spec.Profiles, b.Spec.Profiles) && len(a.Spec.Ports) == 0
}
