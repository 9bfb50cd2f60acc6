package kdd_test

import (
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/ipam/kdd"
	"github.com/calicong/calico/internal/poll"
)

// Golden values of Calico's hostname hash (unpadded standard base32 of
// the SHA3-256 of the name), computed outside Go with Python's
// hashlib.sha3_256 and base64.b32encode.
var goldenHash = map[string]string{
	"kddc-node": "NM2C7IMFO6LV3IIXHQ7T3RKCAJFFW376BOAUW7GDGPXQ3UA3AZQQ",
	"kddl-node": "EPOUB3ZPROM67BL2EW7A355XFVPWLKD2O5YUZM73F46MLKUDW27Q",
	"kddm-node": "3WO66UA32VUWZAKOQLHI32LTHPHV4R7VVKRBFV77Y2MWZ4KM3BUA",
	"kddm-virt": "JW5HNN5KUM5MZDAYNHAU3ARC3M6PYYNJVUI6XNGVH6IT236IBQMQ",
}

// calicoSelector is the label selector Calico's IPAM lists a host's
// affinities of one IP version with (libcalico-go/lib/backend/model
// block_affinity.go CalculateBlockAffinityLabelSelector, from
// ipam_block_reader_writer.go getAffineBlocks).
func calicoSelector(owner, typ, version string) string {
	return "projectcalico.org/affinity-type=" + typ + ",projectcalico.org/hostname-hash=" + goldenHash[owner] +
		",projectcalico.org/ip-version=" + version
}

func blockName(c netip.Prefix) string {
	return strings.NewReplacer(".", "-", ":", "-", "/", "-").Replace(c.String())
}

// calicoBlock is an empty block as Calico's IPAM creates it.
func calicoBlock(cidr netip.Prefix, affinity string) *v3.IPAMBlock {
	n := 1 << (cidr.Addr().BitLen() - cidr.Bits())
	b := &v3.IPAMBlock{ObjectMeta: metav1.ObjectMeta{Name: blockName(cidr)}, Spec: v3.IPAMBlockSpec{
		CIDR: cidr.String(), Affinity: &affinity, Allocations: make([]*int, n), Unallocated: make([]int, n),
		Attributes: []v3.AllocationAttribute{}, SequenceNumberForAllocation: map[string]uint64{},
	}}
	for i := range n {
		b.Spec.Unallocated[i] = i
	}
	now := metav1.Now()
	b.Spec.AffinityClaimTime = &now
	b.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPAMBlock"))
	return b
}

// affinity builds a BlockAffinity with these labels.
func affinity(name, node, typ string, cidr netip.Prefix, labels map[string]string) *v3.BlockAffinity {
	a := &v3.BlockAffinity{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: v3.BlockAffinitySpec{State: v3.StateConfirmed, Node: node, Type: typ, CIDR: cidr.String()}}
	a.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("BlockAffinity"))
	return a
}

func create(t *testing.T, o v3.Object) {
	t.Helper()
	if _, err := testLab.Client.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

// listedByCalico waits for the watch cache to list exactly these
// affinity names under Calico's selector.
func listedByCalico(t *testing.T, selector string, want ...string) {
	t.Helper()
	var last string
	poll.Until(t, 10*time.Second, "affinities listed by "+selector+": "+strings.Join(want, ", "), func() bool {
		objs, err := testLab.Client.ListCachedSelected(context.Background(), ipam.KindAffinity, "", selector)
		if err != nil {
			last = err.Error()
			return false
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.GetName())
		}
		last = strings.Join(got, ", ")
		return last == strings.Join(want, ", ")
	}, &last)
}

// countingStore counts consistent lists of every affinity (the fallback
// when the labelled look was not enough).
type countingStore struct {
	*kdd.Store
	affinityLists atomic.Int32
}

func (s *countingStore) List(ctx context.Context, kind v3.KindInfo) ([]v3.Object, error) {
	if kind.Kind == ipam.KindAffinity.Kind {
		s.affinityLists.Add(1)
	}
	return s.Store.List(ctx, kind)
}

// TestCalicoWrittenAffinityIsUsed: a block claimed by Calico's IPAM, its
// affinity as Calico writes it (Calico's name, only Calico's labels), is
// found from the API server's cache by the labels and used: the node's
// addresses come from it, no second block is claimed and every
// affinity is never listed.
func TestCalicoWrittenAffinityIsUsed(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	ctx := context.Background()
	pool(t, "kdd-compat", "10.81.0.0/24", 26)
	node, block := "kddc-node", netip.MustParsePrefix("10.81.0.128/26")
	create(t, affinity(node+"-"+blockName(block), node, "host", block, map[string]string{
		"projectcalico.org/hostname-hash": goldenHash[node], "projectcalico.org/affinity-type": "host",
		"projectcalico.org/ip-version": "4"}))
	create(t, calicoBlock(block, "host:"+node))
	m0 := testLab.Client.IPAM()
	t.Cleanup(func() {
		for _, h := range []string{"kddc-1", "kddc-2"} {
			_ = m0.ReleaseByHandle(ctx, h)
		}
		_ = m0.ReleaseNodeAffinities(ctx, node)
	})
	listedByCalico(t, calicoSelector(node, "host", "4"), node+"-"+blockName(block))
	cs := &countingStore{Store: kdd.New(testLab.Client.Client)}
	m := ipam.New(ipam.Options{Store: cs})
	for _, h := range []string{"kddc-1", "kddc-2"} {
		a, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: h, Node: node, Attrs: map[string]string{ipam.AttrNode: node}})
		if err != nil {
			t.Fatal(err)
		}
		if !block.Contains(a.IPv4[0].Addr()) {
			t.Errorf("%s got %s, not from the block Calico claimed for the node (%s)", h, a.IPv4[0], block)
		}
	}
	if n := cs.affinityLists.Load(); n != 0 {
		t.Errorf("%d consistent lists of every affinity: the labelled look did not find Calico's affinity", n)
	}
	nodes, err := m.AffineNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := m.ReadBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, al := range blocks.Allocations() {
		if netip.MustParsePrefix("10.81.0.0/24").Contains(al.Addr) {
			n++
			if al.Block != block {
				t.Errorf("%s allocated in %s", al.Addr, al.Block)
			}
		}
	}
	if n != 2 || !containsString(nodes, node) {
		t.Errorf("%d allocations in the pool, affine nodes %v", n, nodes)
	}
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestOurAffinitiesFoundByCalico: the affinities the allocator writes
// are found by Calico's own selector for the host and each IP version, so
// Calico's IPAM and BGP syncer on the node see its blocks.
func TestOurAffinitiesFoundByCalico(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	ctx := context.Background()
	pool(t, "kdd-lbl-v4", "10.82.0.0/24", 26)
	pool(t, "kdd-lbl-v6", "fd00:82::/120", 122)
	node := "kddl-node"
	m := testLab.Client.IPAM()
	t.Cleanup(func() {
		_ = m.ReleaseByHandle(ctx, "kddl-1")
		_ = m.ReleaseNodeAffinities(ctx, node)
	})
	a, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, Num6: 1, HandleID: "kddl-1", Node: node})
	if err != nil {
		t.Fatal(err)
	}
	listedByCalico(t, calicoSelector(node, "host", "4"), node+"-"+blockName(a.IPv4[0].Masked()))
	listedByCalico(t, calicoSelector(node, "host", "6"), node+"-"+blockName(a.IPv6[0].Masked()))
}

// TestUpgradeHostAgainstTheAPIServer: affinities stored by an older
// version (its own label only, no type; a virtual owner's under a hashed
// name) are found by Calico's selectors after UpgradeHost, under Calico's
// names, and the host's block is used by the labelled look alone.
func TestUpgradeHostAgainstTheAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	ctx := context.Background()
	pool(t, "kdd-upgrade", "10.83.0.0/24", 26)
	node, virt := "kddm-node", "kddm-virt"
	hostBlock, virtBlock := netip.MustParsePrefix("10.83.0.64/26"), netip.MustParsePrefix("10.83.0.192/26")
	oldVirtName := "h-0123456789abcdef0123456789abcdef01234567"
	create(t, affinity(node+"-"+blockName(hostBlock), node, "", hostBlock, map[string]string{"projectcalico.org/node": node}))
	create(t, calicoBlock(hostBlock, "host:"+node))
	create(t, affinity(oldVirtName, virt, "virtual", virtBlock, map[string]string{"projectcalico.org/node": "h-0123"}))
	create(t, calicoBlock(virtBlock, "virtual:"+virt))
	m0 := testLab.Client.IPAM()
	t.Cleanup(func() {
		_ = m0.ReleaseByHandle(ctx, "kddm-1")
		_ = m0.ReleaseNodeAffinities(ctx, node)
		_ = m0.ReleaseNodeAffinities(ctx, ipam.VirtualPrefix+virt)
	})
	if err := m0.UpgradeHost(ctx, node); err != nil {
		t.Fatal(err)
	}
	if err := m0.UpgradeHost(ctx, ipam.VirtualPrefix+virt); err != nil {
		t.Fatal(err)
	}
	listedByCalico(t, calicoSelector(node, "host", "4"), node+"-"+blockName(hostBlock))
	listedByCalico(t, calicoSelector(virt, "virtual", "4"), virt+"-"+blockName(virtBlock))
	if _, err := testLab.Client.Get(ctx, ipam.KindAffinity, "", oldVirtName); err == nil {
		t.Errorf("the virtual owner's affinity is still under its old name %s", oldVirtName)
	}
	o, err := testLab.Client.Get(ctx, ipam.KindAffinity, "", node+"-"+blockName(hostBlock))
	if err != nil {
		t.Fatal(err)
	}
	if a := o.(*v3.BlockAffinity); a.Spec.Type != "host" || a.Labels["projectcalico.org/node"] != node {
		t.Errorf("the host's affinity after UpgradeHost: %+v", a)
	}
	cs := &countingStore{Store: kdd.New(testLab.Client.Client)}
	a, err := ipam.New(ipam.Options{Store: cs}).AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: "kddm-1", Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if !hostBlock.Contains(a.IPv4[0].Addr()) || cs.affinityLists.Load() != 0 {
		t.Errorf("after UpgradeHost the node got %s (its block %s), with %d consistent lists of every affinity", a.IPv4[0], hostBlock, cs.affinityLists.Load())
	}
}
