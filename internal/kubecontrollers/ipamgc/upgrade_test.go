package ipamgc

import (
	"context"
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/poll"
)

// TestRunUpgradesAffinities: when the collector starts, a block affinity
// stored by an older version (its own label only, no type) is given
// Calico's labels, so that Calico's IPAM and BGP syncer, which list a
// host's affinities by label, find it; the node's block is kept.
func TestRunUpgradesAffinities(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	ctx := context.Background()
	gcPool(t, "gc-upgrade", "10.98.0.0/24", 26)
	node, block := "gcu-node", netip.MustParsePrefix("10.98.0.64/26")
	name := node + "-10-98-0-64-26"
	a := &v3.BlockAffinity{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"projectcalico.org/node": node}},
		Spec: v3.BlockAffinitySpec{State: v3.StateConfirmed, Node: node, CIDR: block.String()}}
	a.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("BlockAffinity"))
	if _, err := testLab.Client.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	m := testLab.Client.IPAM()
	t.Cleanup(func() { _ = m.ReleaseNodeAffinities(context.Background(), node) })
	// The node's block, as a claim leaves it.
	if _, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: "gcu-1", Node: node}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.ReleaseByHandle(context.Background(), "gcu-1") })
	// The assignment found the block through the consistent look and
	// labelled the affinity: take the labels off again.
	o, err := testLab.Client.Get(ctx, ipam.KindAffinity, "", name)
	if err != nil {
		t.Fatal(err)
	}
	a = o.(*v3.BlockAffinity)
	a.Labels = map[string]string{"projectcalico.org/node": node}
	a.Spec.Type = ""
	if _, err := testLab.Client.Update(ctx, a); err != nil {
		t.Fatal(err)
	}

	cl := &cluster{nodes: liveNodes(t, m, node)}
	c, err := New(Config{IPAM: m, Cluster: cl, GracePeriod: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(runCtx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	var last string
	poll.Until(t, 10*time.Second, "the affinity given Calico's labels", func() bool {
		o, err := testLab.Client.Get(ctx, ipam.KindAffinity, "", name)
		if err != nil {
			last = err.Error()
			return false
		}
		a := o.(*v3.BlockAffinity)
		last = a.Spec.Type + " " + labelString(a.Labels)
		return a.Spec.Type == "host" && a.Labels[ipam.LabelHostnameHash] == ipam.HostnameHash(node) &&
			a.Labels[ipam.LabelAffinityType] == "host" && a.Labels[ipam.LabelIPVersion] == "4"
	}, &last)
}

func labelString(l map[string]string) string {
	s := ""
	for k, v := range l {
		s += k + "=" + v + " "
	}
	return s
}
