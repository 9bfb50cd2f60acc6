package dnslogs

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/calicong/calico/internal/dnscache"
	"github.com/calicong/calico/internal/node/dnssnoop"
)

func TestNames(t *testing.T) {
	n := NewNames(2, time.Minute)
	addr := netip.MustParseAddr("192.0.2.7")
	// www asked, through a CNAME to an edge name.
	n.Observe(dnssnoop.Response{Name: "www.example.test", Records: []dnscache.Record{
		{Name: "www.example.test", Target: "edge.cdn.test", TTL: time.Hour},
		{Name: "edge.cdn.test", Addr: addr, TTL: 5 * time.Second}}}, t0)
	if got := n.Lookup(addr, t0.Add(30*time.Second)); !slices.Equal(got, []string{"edge.cdn.test", "www.example.test"}) {
		t.Errorf("names %v", got)
	}
	if got := n.Lookup(addr, t0.Add(2*time.Minute)); got != nil {
		t.Errorf("after keep: %v", got)
	}
	// The cap: a third address waits until older answers ran out.
	for i, a := range []string{"192.0.2.8", "192.0.2.9"} {
		n.Observe(dnssnoop.Response{Name: "x.test", Records: []dnscache.Record{{Name: "x.test", Addr: netip.MustParseAddr(a), TTL: time.Second}}}, t0.Add(time.Duration(i)*time.Second))
	}
	if got := n.Lookup(netip.MustParseAddr("192.0.2.9"), t0.Add(2*time.Second)); got != nil {
		t.Errorf("beyond the cap: %v", got)
	}
	n.Observe(dnssnoop.Response{Name: "y.test", Records: []dnscache.Record{{Name: "y.test", Addr: netip.MustParseAddr("192.0.2.10"), TTL: time.Second}}}, t0.Add(3*time.Minute))
	if got := n.Lookup(netip.MustParseAddr("192.0.2.10"), t0.Add(3*time.Minute)); !slices.Equal(got, []string{"y.test"}) {
		t.Errorf("once older answers ran out: %v", got)
	}
}
