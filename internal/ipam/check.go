package ipam

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/calicong/calico/api/v3"
)

// Problem is one inconsistency Check found.
type Problem struct {
	// Kind: "leaked" (an allocation whose owner is gone), "no-handle" (an
	// allocation whose handle object is missing), "handle-count" (a
	// handle's counts do not match the blocks), "affinity-no-block",
	// "block-no-affinity", "pending-affinity", "not-in-pool", "pod-ip-not-allocated".
	Kind   string `json:"kind"`
	IP     string `json:"ip,omitempty"`
	Object string `json:"object,omitempty"`
	Detail string `json:"detail"`
}

// Report is what Check found.
type Report struct {
	Pools       int       `json:"pools"`
	Blocks      int       `json:"blocks"`
	Allocations int       `json:"allocations"`
	Handles     int       `json:"handles"`
	Problems    []Problem `json:"problems"`
}

// Owners judges whether allocations are still wanted. Nil fields skip
// that check.
type Owners struct {
	// Valid says whether an allocation's owner exists (its pod is there,
	// on that node, with that address), and if not why.
	Valid func(Allocation) (bool, string)
	// PodIPs are the addresses pods say they have, by "namespace/pod", to
	// find addresses in use that IPAM does not know.
	PodIPs map[string][]netip.Addr
}

// Check reads every IPAM object and reports inconsistencies and leaks.
func (m *IPAM) Check(ctx context.Context, owners Owners) (Report, error) {
	var r Report
	pools, err := m.loadPools(ctx)
	if err != nil {
		return r, err
	}
	r.Pools = len(pools)
	blockObjs, err := m.store.List(ctx, KindBlock)
	if err != nil {
		return r, err
	}
	affObjs, err := m.store.List(ctx, KindAffinity)
	if err != nil {
		return r, err
	}
	handleObjs, err := m.store.List(ctx, KindHandle)
	if err != nil {
		return r, err
	}
	r.Blocks, r.Handles = len(blockObjs), len(handleObjs)
	add := func(kind, ip, obj, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{Kind: kind, IP: ip, Object: obj, Detail: fmt.Sprintf(format, args...)})
	}

	// Affinities and blocks agree.
	blocks := map[string]*block{}
	for _, o := range blockObjs {
		b, err := newBlock(o.(*v3.IPAMBlock))
		if err != nil {
			add("bad-block", "", o.GetName(), "%v", err)
			continue
		}
		blocks[b.cidr.String()] = b
	}
	confirmed := map[string]string{} // block CIDR → affinity "host:<node>" or "virtual:<name>"
	for _, o := range affObjs {
		a := o.(*v3.BlockAffinity)
		switch a.Spec.State {
		case v3.StateConfirmed, v3.StatePending, "":
			// A pending claim's block is reported once, as the pending
			// affinity below.
			typ := a.Spec.Type
			if typ == "" {
				typ = "host"
			}
			confirmed[a.Spec.CIDR] = typ + ":" + a.Spec.Node
		}
		switch a.Spec.State {
		case v3.StateConfirmed:
			if _, ok := blocks[a.Spec.CIDR]; !ok {
				add("affinity-no-block", "", "BlockAffinity/"+a.Name, "node %s is affine to block %s, which does not exist", a.Spec.Node, a.Spec.CIDR)
			}
		default:
			add("pending-affinity", "", "BlockAffinity/"+a.Name, "node %s's claim on block %s is %q (an interrupted claim or release)", a.Spec.Node, a.Spec.CIDR, a.Spec.State)
		}
	}
	for c, b := range blocks {
		if aff := b.affinity(); (strings.HasPrefix(aff, "host:") || strings.HasPrefix(aff, VirtualPrefix)) && confirmed[c] != aff {
			add("block-no-affinity", "", "IPAMBlock/"+b.obj.Name, "block %s says %s but there is no confirmed BlockAffinity for it", c, aff)
		}
		if !slices.ContainsFunc(pools, func(p pool) bool { return p.cidr.Contains(b.cidr.Addr()) }) {
			add("not-in-pool", "", "IPAMBlock/"+b.obj.Name, "block %s is in no IP pool (was the pool deleted?)", c)
		}
	}

	// Handles and allocations agree.
	counts := map[string]map[string]int{} // handle → block → allocations
	allocated := map[netip.Addr]Allocation{}
	for _, b := range blocks {
		for _, al := range b.allocations() {
			r.Allocations++
			allocated[al.Addr] = al
			if al.Released {
				continue
			}
			if counts[al.Handle] == nil {
				counts[al.Handle] = map[string]int{}
			}
			counts[al.Handle][b.cidr.String()]++
			if owners.Valid != nil {
				if ok, why := owners.Valid(al); !ok {
					add("leaked", al.Addr.String(), "handle "+al.Handle, "%s", why)
				}
			}
		}
	}
	handles := map[string]map[string]int{}
	for _, o := range handleObjs {
		h := o.(*v3.IPAMHandle)
		handles[h.Spec.HandleID] = h.Spec.Block
	}
	for h, byBlock := range counts {
		hb, ok := handles[h]
		if !ok {
			for c, n := range byBlock {
				add("no-handle", "", "handle "+h, "%d allocation(s) in block %s belong to handle %q, which has no IPAMHandle", n, c, h)
			}
			continue
		}
		for c, n := range byBlock {
			if hb[c] != n {
				add("handle-count", "", "handle "+h, "handle counts %d in block %s, the block holds %d", hb[c], c, n)
			}
		}
	}
	for h, hb := range handles {
		for c, n := range hb {
			if counts[h][c] == 0 && n != 0 {
				add("handle-count", "", "handle "+h, "handle counts %d in block %s, the block holds none", n, c)
			}
		}
	}

	// Pods' addresses are allocated.
	var pods []string
	for p := range owners.PodIPs {
		pods = append(pods, p)
	}
	slices.Sort(pods)
	for _, p := range pods {
		for _, a := range owners.PodIPs[p] {
			if _, ok := allocated[a]; !ok {
				add("pod-ip-not-allocated", a.String(), "pod "+p, "pod %s uses %s, which IPAM has not allocated (it could be handed out again)", p, a)
			}
		}
	}
	slices.SortStableFunc(r.Problems, func(a, b Problem) int {
		return strings.Compare(a.Kind+a.IP+a.Object, b.Kind+b.IP+b.Object)
	})
	return r, nil
}

// Pod is what the leak check needs to know about a pod.
type Pod struct {
	Namespace, Name, Node string
	// IPs are the addresses the pod's annotations record.
	IPs []netip.Addr
}

// OwnersFromPods judges allocations against the cluster's pods and nodes:
// a pod's allocation is valid while the pod exists, on the allocation's
// node, and (if it records addresses) records this one; a tunnel
// address is valid while its node exists; an allocation without owner
// attributes is assumed valid.
func OwnersFromPods(pods []Pod, nodes map[string]bool) Owners {
	byName := map[string]Pod{}
	podIPs := map[string][]netip.Addr{}
	for _, p := range pods {
		key := p.Namespace + "/" + p.Name
		byName[key] = p
		if len(p.IPs) > 0 {
			podIPs[key] = p.IPs
		}
	}
	return Owners{
		PodIPs: podIPs,
		Valid: func(al Allocation) (bool, string) {
			node := al.Attrs[AttrNode]
			if t := al.Attrs[AttrType]; t != "" {
				if node != "" && !nodes[node] {
					return false, fmt.Sprintf("%s address of node %s, which no longer exists", t, node)
				}
				return true, ""
			}
			ns, name := al.Attrs[AttrNamespace], al.Attrs[AttrPod]
			if ns == "" || name == "" {
				return true, "" // not a pod's: nothing to judge by
			}
			key := ns + "/" + name
			p, ok := byName[key]
			switch {
			case !ok && node != "" && !nodes[node]:
				return false, fmt.Sprintf("pod %s and its node %s no longer exist", key, node)
			case !ok:
				return false, fmt.Sprintf("pod %s no longer exists", key)
			case node != "" && p.Node != "" && p.Node != node:
				return false, fmt.Sprintf("pod %s is on node %s, not %s", key, p.Node, node)
			case len(p.IPs) > 0 && !slices.Contains(p.IPs, al.Addr):
				return false, fmt.Sprintf("pod %s uses %v, not this address", key, p.IPs)
			}
			return true, ""
		},
	}
}

// NodeGone tells whether an allocation belongs to a node that no longer
// exists (its leak is certain: no grace period is needed).
func NodeGone(al Allocation, nodes map[string]bool) bool {
	n := al.Attrs[AttrNode]
	return n != "" && !nodes[n]
}

// AffineNodes lists the nodes that hold block affinities.
func (m *IPAM) AffineNodes(ctx context.Context) ([]string, error) {
	objs, err := m.store.List(ctx, KindAffinity)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, o := range objs {
		a := o.(*v3.BlockAffinity)
		if (a.Spec.Type == "" || a.Spec.Type == "host") && !seen[a.Spec.Node] {
			seen[a.Spec.Node] = true
			out = append(out, a.Spec.Node)
		}
	}
	slices.Sort(out)
	return out, nil
}

// BlockCount is the number of blocks.
func (m *IPAM) BlockCount(ctx context.Context) (int, error) {
	objs, err := m.listCached(ctx, KindBlock)
	return len(objs), err
}
