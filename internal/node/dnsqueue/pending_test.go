package dnsqueue

import (
	"net/netip"
	"testing"
	"time"

	"github.com/calicong/calico/internal/node/dnssnoop"
)

func TestPending(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	cli := netip.MustParseAddr("192.168.1.10")
	p := newPending(2)
	for i := range 3 {
		p.add(dnssnoop.Query{Client: cli, ClientPort: 40000, ID: uint16(i)}, t0.Add(time.Duration(i)*time.Second))
	}
	if _, ok := p.take(cli, 40000, 0); ok {
		t.Error("the oldest query was kept beyond the bound")
	}
	if at, ok := p.take(cli, 40000, 2); !ok || !at.Equal(t0.Add(2*time.Second)) {
		t.Errorf("query 2: %v %v", at, ok)
	}
	if _, ok := p.take(cli, 40000, 2); ok {
		t.Error("a query matched two answers")
	}
	if _, ok := p.take(cli, 40001, 1); ok {
		t.Error("another port's answer matched")
	}
}
