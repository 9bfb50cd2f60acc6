// Package lookup answers the flow-log collector's questions from
// calico-node's view of the cluster: which endpoint or network set an
// address belongs to (from the datastore stream), which Service a
// ClusterIP and port are (from the Services the caller feeds it), and
// which tier, policy and rule a rule ID names (from the dataplane). It
// does no I/O; every index is safe for concurrent use.
package lookup

import (
	"maps"
	"net/netip"
	"strings"
	"sync"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/flowlogs"
)

// Endpoint is what flow logs say about one end of a flow.
type Endpoint struct {
	// Type is wep (a workload), hep (a host endpoint) or ns (a network
	// set).
	Type string
	// Name is the pod's, host endpoint's or network set's name; AggrName
	// its name when pods of one workload are collapsed ("frontend-7d4b9-*";
	// a host endpoint's node).
	Name, AggrName string
	// Namespace is "" for cluster-wide objects.
	Namespace string
	Labels    map[string]string
	// Node is the node of a workload or host endpoint.
	Node string
}

// Index maps addresses to the endpoints and network sets that hold them.
// It consumes the datastore stream (model.SyncerCallbacks): workload and
// host endpoints of every node, NetworkSets and GlobalNetworkSets.
type Index struct {
	mu  sync.RWMutex
	ips map[netip.Addr]*entry // endpoints, by exact address
	// nets4 and nets6 hold the network sets' prefixes per prefix length,
	// for a longest-prefix match. Two sets with one prefix: the last
	// written holds it.
	nets4 [33]map[netip.Prefix]*entry
	nets6 [129]map[netip.Prefix]*entry
	byKey map[model.Key][]netip.Prefix
}

type entry struct {
	key model.Key
	ep  Endpoint
}

// NewIndex makes an empty index.
func NewIndex() *Index {
	return &Index{ips: map[netip.Addr]*entry{}, byKey: map[model.Key][]netip.Prefix{}}
}

// OnStatusUpdated is part of model.SyncerCallbacks.
func (x *Index) OnStatusUpdated(model.SyncStatus) {}

// OnUpdates follows endpoints and network sets.
func (x *Index) OnUpdates(us []model.Update) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, u := range us {
		var ep Endpoint
		var addrs []string
		switch v := u.Value.(type) {
		case *v3.WorkloadEndpoint:
			name := v.Spec.Pod
			aggr := name
			if v.GenerateName != "" {
				aggr = v.GenerateName + "*"
			}
			ep = Endpoint{Type: "wep", Name: name, AggrName: aggr, Namespace: v.Namespace, Labels: userLabels(v.Labels), Node: v.Spec.Node}
			addrs = v.Spec.IPNetworks
		case *v3.HostEndpoint:
			ep = Endpoint{Type: "hep", Name: v.Name, AggrName: v.Spec.Node, Labels: userLabels(v.Labels), Node: v.Spec.Node}
			addrs = v.Spec.ExpectedIPs
		case *v3.NetworkSet:
			ep = Endpoint{Type: "ns", Name: v.Name, AggrName: v.Name, Namespace: v.Namespace, Labels: userLabels(v.Labels)}
			addrs = v.Spec.Nets
		case *v3.GlobalNetworkSet:
			ep = Endpoint{Type: "ns", Name: v.Name, AggrName: v.Name, Labels: userLabels(v.Labels)}
			addrs = v.Spec.Nets
		case nil:
			switch u.Key.Kind {
			case model.KindWorkloadEndpoint, "HostEndpoint", "NetworkSet", "GlobalNetworkSet":
				x.remove(u.Key)
			}
			continue
		default:
			continue
		}
		x.remove(u.Key)
		e := &entry{key: u.Key, ep: ep}
		var ps []netip.Prefix
		for _, a := range addrs {
			p, ok := parsePrefix(a)
			if !ok {
				continue
			}
			ps = append(ps, p)
			if ep.Type == "ns" {
				slot := x.netsFor(p.Addr(), p.Bits())
				if *slot == nil {
					*slot = map[netip.Prefix]*entry{}
				}
				(*slot)[p] = e
			} else if p.IsSingleIP() {
				x.ips[p.Addr()] = e
			}
		}
		x.byKey[u.Key] = ps
	}
}

// remove forgets what an object added (its addresses now belong to no
// one unless another object holds them too, in which case the other's
// next update restores them).
func (x *Index) remove(k model.Key) {
	for _, p := range x.byKey[k] {
		if m := *x.netsFor(p.Addr(), p.Bits()); m != nil && m[p] != nil && m[p].key == k {
			delete(m, p)
		}
		if e := x.ips[p.Addr()]; e != nil && e.key == k && p.IsSingleIP() {
			delete(x.ips, p.Addr())
		}
	}
	delete(x.byKey, k)
}

// Endpoint returns the workload or host endpoint holding addr.
func (x *Index) Endpoint(addr netip.Addr) (Endpoint, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if e := x.ips[addr.Unmap()]; e != nil {
		return e.ep, true
	}
	return Endpoint{}, false
}

// NetworkSet returns the network set with the longest prefix holding addr.
func (x *Index) NetworkSet(addr netip.Addr) (Endpoint, bool) {
	addr = addr.Unmap()
	x.mu.RLock()
	defer x.mu.RUnlock()
	for bits := addr.BitLen(); bits >= 0; bits-- {
		m := *x.netsFor(addr, bits)
		if m == nil {
			continue
		}
		p, _ := addr.Prefix(bits)
		if e := m[p]; e != nil {
			return e.ep, true
		}
	}
	return Endpoint{}, false
}

func (x *Index) netsFor(a netip.Addr, bits int) *map[netip.Prefix]*entry {
	if a.Is4() {
		return &x.nets4[bits]
	}
	return &x.nets6[bits]
}

// userLabels are an object's labels without Calico's own
// (projectcalico.org/...), which flow logs do not show.
func userLabels(l map[string]string) map[string]string {
	out := maps.Clone(l)
	for k := range out {
		if strings.HasPrefix(k, "projectcalico.org/") {
			delete(out, k)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		return netip.PrefixFrom(p.Addr().Unmap(), bits).Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// ForNode answers the collector's flowlogs.Endpoints for one node: a
// workload or host endpoint of that node is local (its flows are reported
// here); an address no endpoint holds is named by its network set.
type ForNode struct {
	Index *Index
	Node  string
}

// Lookup implements flowlogs.Endpoints.
func (n ForNode) Lookup(addr netip.Addr) (flowlogs.Endpoint, bool) {
	ep, ok := n.Index.Endpoint(addr)
	if !ok {
		if ep, ok = n.Index.NetworkSet(addr); !ok {
			return flowlogs.Endpoint{}, false
		}
	}
	return flowlogs.Endpoint{Type: ep.Type, Name: ep.Name, AggrName: ep.AggrName, Namespace: ep.Namespace, Labels: ep.Labels,
		Local: ep.Node != "" && ep.Node == n.Node}, true
}
