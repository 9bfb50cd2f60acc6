package ipam

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"

	v3 "github.com/calicong/calico/api/v3"
)

// Calico's BlockAffinity labels (api/pkg/apis/projectcalico/v3
// constants.go), spelled out here so these tests do not lean on the
// package's own constants.
const (
	calicoHashLabel    = "projectcalico.org/hostname-hash"
	calicoTypeLabel    = "projectcalico.org/affinity-type"
	calicoVersionLabel = "projectcalico.org/ip-version"
)

// Golden values of Calico's hostname hash (unpadded standard base32 of
// the SHA3-256 of the name), computed outside Go with Python's
// hashlib.sha3_256 and base64.b32encode, and checked with
// `openssl dgst -sha3-256`.
var goldenHostnameHash = map[string]string{
	"node-a":             "PY3TQE2E3XMTETLM2MJO3UITKPFB27YUJ4T4E5XGPEJON3SM4QAA",
	"kind-control-plane": "RLBCRO3IX3QQV6BPPDEDUBOTWHZ2CHKUZQUIKELDIYNV2D4W4NFA",
	"ip-10-0-1-23.eu-west-1.compute.internal": "SR5OBQUP3WXBQ74TUSUC2XU77W6VZGLHOSME3M2UGFT4KSTDDMGQ",
	"load-balancer": "TAU2RK2F2FG7MIS72DPZYC6FJ3U3BIWIDZAMUTQY7ZXMSKQZ5GSQ",
	"":              "U774N6F7D3LWMUOBI5LKAYOWML2YB72N4Q5UT6UC3AFEXAHYINFA",
}

// affinitiesOf lists the stored affinities of an owner name, by spec.
func (e *env) affinitiesOf(owner string) []*v3.BlockAffinity {
	e.t.Helper()
	objs, err := e.s.List(e.ctx, KindAffinity)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*v3.BlockAffinity
	for _, o := range objs {
		if a := o.(*v3.BlockAffinity); a.Spec.Node == owner {
			out = append(out, a)
		}
	}
	return out
}

// wantCalicoLabels requires an affinity to carry Calico's three labels
// with these values.
func wantCalicoLabels(t *testing.T, a *v3.BlockAffinity, hash, typ, version string) {
	t.Helper()
	l := a.Labels
	if l[calicoHashLabel] != hash || l[calicoTypeLabel] != typ || l[calicoVersionLabel] != version {
		t.Errorf("affinity %s (%s) labels %v, want %s=%s %s=%s %s=%s", a.Name, a.Spec.CIDR, l,
			calicoHashLabel, hash, calicoTypeLabel, typ, calicoVersionLabel, version)
	}
}

// TestAffinitiesCarryCalicoLabels: every affinity the allocator writes
// carries Calico's labels (hostname hash, affinity type, IP version) and
// Calico's name (<owner>-<block name>), for a host and for a virtual
// owner, IPv4 and IPv6 (Calico's libcalico-go/lib/backend/model
// block_affinity.go EnsureBlockAffinityLabelsV3 and
// backend/k8s/resources/ipam_affinity_v1.go parseKey).
func TestAffinitiesCarryCalicoLabels(t *testing.T) {
	e := newEnv(t)
	e.pool("p4", "10.60.0.0/24", 26)
	e.pool("p6", "fd00:60::/120", 122)
	e.pool("lb", "10.61.0.0/24", 28, func(s *v3.IPPoolSpec) {
		s.AllowedUses = []v3.IPPoolAllowedUse{v3.IPPoolAllowedUseLoadBalancer}
	})
	a := e.mustAssign("node-a", "h1", 1, 1)
	affs := e.affinitiesOf("node-a")
	if len(affs) != 2 {
		t.Fatalf("node-a's affinities: %+v", affs)
	}
	for _, aff := range affs {
		version := "4"
		block := a.IPv4[0].Masked()
		if strings.Contains(aff.Spec.CIDR, ":") {
			version, block = "6", a.IPv6[0].Masked()
		}
		wantCalicoLabels(t, aff, goldenHostnameHash["node-a"], "host", version)
		if want := "node-a-" + BlockName(block); aff.Name != want || aff.Spec.CIDR != block.String() {
			t.Errorf("affinity %s for %s, want %s", aff.Name, aff.Spec.CIDR, want)
		}
	}
	v, err := e.m.AutoAssign(e.ctx, AssignArgs{Num4: 1, HandleID: "lb-1", Node: VirtualPrefix + "load-balancer",
		Use: v3.IPPoolAllowedUseLoadBalancer})
	if err != nil {
		t.Fatal(err)
	}
	lb := e.affinitiesOf("load-balancer")
	if len(lb) != 1 || lb[0].Spec.Type != "virtual" {
		t.Fatalf("the virtual owner's affinities: %+v", lb)
	}
	wantCalicoLabels(t, lb[0], goldenHostnameHash["load-balancer"], "virtual", "4")
	if want := "load-balancer-" + strings.NewReplacer(".", "-", "/", "-").Replace(v.IPv4[0].Masked().String()); lb[0].Name != want {
		t.Errorf("virtual affinity named %s, want Calico's %s", lb[0].Name, want)
	}
	e.consistent()
}

// countingStore counts consistent lists of affinities (the fallback
// when the labelled look from the cache was not enough).
type countingStore struct {
	*memStore
	mu              sync.Mutex
	affinityListing int
}

func (s *countingStore) List(ctx context.Context, kind v3.KindInfo) ([]v3.Object, error) {
	if kind.Kind == KindAffinity.Kind {
		s.mu.Lock()
		s.affinityListing++
		s.mu.Unlock()
	}
	return s.memStore.List(ctx, kind)
}

// calicoAffinity is an affinity as Calico's IPAM writes it (only its own
// labels, its own name).
func calicoAffinity(node string, cidr netip.Prefix, state v3.BlockAffinityState) *v3.BlockAffinity {
	a := KindAffinity.New().(*v3.BlockAffinity)
	a.Name = node + "-" + strings.NewReplacer(".", "-", ":", "-", "/", "-").Replace(cidr.String())
	version := "4"
	if cidr.Addr().Is6() {
		version = "6"
	}
	a.Labels = map[string]string{calicoHashLabel: goldenHostnameHash[node], calicoTypeLabel: "host", calicoVersionLabel: version}
	a.Spec = v3.BlockAffinitySpec{State: state, Node: node, Type: "host", CIDR: cidr.String()}
	return a
}

// TestAffinityWrittenByCalicoIsUsed: a block claimed by Calico's IPAM
// (its affinity with only Calico's labels) is found by the labelled look
// alone, as Calico's own IPAM finds it (ipam_block_reader_writer.go
// getAffineBlocks), and used: no second block is claimed and no
// consistent list of every affinity is needed.
func TestAffinityWrittenByCalicoIsUsed(t *testing.T) {
	e := newEnv(t)
	cs := &countingStore{memStore: e.s}
	e.m = New(Options{Store: cs, Now: e.m.now})
	e.pool("p4", "10.60.0.0/24", 26)
	block := netip.MustParsePrefix("10.60.0.128/26")
	if _, err := e.s.Create(e.ctx, calicoAffinity("node-a", block, v3.StateConfirmed)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Create(e.ctx, emptyBlock(block, "host:node-a", e.now)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"h1", "h2"} {
		if got := e.mustAssign("node-a", h, 1, 0).IPv4[0]; !block.Contains(got.Addr()) {
			t.Errorf("%s got %s, not from the node's block %s", h, got, block)
		}
	}
	if blocks, _ := e.s.List(e.ctx, KindBlock); len(blocks) != 1 {
		t.Errorf("%d blocks, want the one Calico claimed", len(blocks))
	}
	if affs := e.affinitiesOf("node-a"); len(affs) != 1 {
		t.Errorf("node-a's affinities: %+v", affs)
	}
	if cs.affinityListing != 0 {
		t.Errorf("%d consistent lists of every affinity: the labelled look did not find Calico's affinity", cs.affinityListing)
	}
	e.consistent()
}

// TestUnlabelledAffinitiesGetCalicoLabels: an affinity stored before
// (with only this project's old label) is still used, and is given
// Calico's labels on the way (the repair of the consistent look).
func TestUnlabelledAffinitiesGetCalicoLabels(t *testing.T) {
	e := newEnv(t)
	e.pool("p", "10.60.0.0/24", 26)
	first := e.mustAssign("node-a", "h1", 1, 0).IPv4[0]
	affs := e.affinitiesOf("node-a")
	if len(affs) != 1 {
		t.Fatalf("affinities after the first assignment: %+v", affs)
	}
	old := affs[0].DeepCopy()
	old.Labels = map[string]string{"projectcalico.org/node": "node-a"}
	if _, err := e.s.Update(e.ctx, old); err != nil {
		t.Fatal(err)
	}
	second := e.mustAssign("node-a", "h2", 1, 0).IPv4[0]
	if !first.Masked().Contains(second.Addr()) {
		t.Errorf("second address %s is not from the node's block %s", second, first.Masked())
	}
	affs = e.affinitiesOf("node-a")
	if len(affs) != 1 {
		t.Fatalf("affinities after the second assignment: %+v", affs)
	}
	wantCalicoLabels(t, affs[0], goldenHostnameHash["node-a"], "host", "4")
	e.consistent()
}
