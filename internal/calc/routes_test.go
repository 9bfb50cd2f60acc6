package calc

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

func block(cidr, affinity string, allocated int, deleted bool) model.KVPair {
	b := &v3.IPAMBlock{ObjectMeta: metav1.ObjectMeta{Name: strings.NewReplacer(".", "-", "/", "-", ":", "-").Replace(cidr)},
		Spec: v3.IPAMBlockSpec{CIDR: cidr, Deleted: deleted}}
	if affinity != "" {
		b.Spec.Affinity = &affinity
	}
	for i := range allocated {
		b.Spec.Allocations = append(b.Spec.Allocations, &i)
	}
	return model.KVPair{Key: model.Key{Kind: "IPAMBlock", Name: b.Name}, Value: b}
}

func routesOf(s *proto.State) []string {
	var out []string
	for p, typ := range s.Routes {
		out = append(out, p.String()+" "+typ.String())
	}
	slices.Sort(out)
	return out
}

// TestLocalBlockRoutes: blocks affine to this node become local-block
// routes; other nodes' blocks, unaffine and deleted blocks do not; and
// allocation churn inside a block sends nothing.
func TestLocalBlockRoutes(t *testing.T) {
	base := state{name: "blocks"}.with(
		block("10.65.0.0/26", "host:"+node, 1, false),
		block("10.65.0.64/26", "host:node-2", 3, false),
		block("fd00:65::/122", "host:"+node, 0, false),
		block("10.65.0.128/26", "", 0, false),
		block("10.65.0.192/26", "host:"+node, 0, true),
	)
	moved := base.with(block("10.65.0.64/26", "host:"+node, 3, false), block("10.65.0.0/26", "host:node-2", 1, false)).named("affinity moved")
	gone := moved.without(model.Key{Kind: "IPAMBlock", Name: "fd00-65---122"}).named("block deleted")
	states := []state{base, moved, gone}
	got := run(t, node, states, nil)
	want := [][]string{
		{"10.65.0.0/26 local-block", "fd00:65::/122 local-block"},
		{"10.65.0.64/26 local-block", "fd00:65::/122 local-block"},
		{"10.65.0.64/26 local-block"},
	}
	for i := range states {
		if r := routesOf(got[i]); !slices.Equal(r, want[i]) {
			t.Errorf("after %q: routes %v, want %v", states[i].name, r, want[i])
		}
	}
	// Path independence, as for policy.
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 9))
		seq := slices.Clone(states)
		r.Shuffle(len(seq), func(a, b int) { seq[a], seq[b] = seq[b], seq[a] })
		res := run(t, node, seq, r)
		for i, s := range seq {
			if r := routesOf(res[i]); !reflect.DeepEqual(r, want[slices.IndexFunc(states, func(x state) bool { return x.name == s.name })]) {
				t.Fatalf("seed %d after %q: routes %v", seed, s.name, r)
			}
		}
	}

	// An allocation in a local block changes the block, not the route.
	var msgs []proto.Message
	g := New(Config{Hostname: node}, func(m []proto.Message) { msgs = append(msgs, m...) })
	g.OnUpdates([]model.Update{{KVPair: block("10.65.0.0/26", "host:"+node, 1, false)}})
	g.Flush()
	if want := []proto.Message{proto.RouteUpdate{Dst: netip.MustParsePrefix("10.65.0.0/26"), Type: proto.RouteLocalBlock}}; !reflect.DeepEqual(msgs, want) {
		t.Fatalf("messages %v, want %v", msgs, want)
	}
	msgs = nil
	g.OnUpdates([]model.Update{{KVPair: block("10.65.0.0/26", "host:"+node, 2, false)}})
	g.Flush()
	if len(msgs) != 0 {
		t.Errorf("an allocation sent %v", msgs)
	}
}
