package dnslogs

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/calicong/calico/internal/node/dnssnoop"
)

// Names remembers which names the node's workloads looked up resolved to
// each address, until their answers run out: flow logs name a
// destination's domains with it (dest_domains). It is safe for
// concurrent use.
type Names struct {
	mu    sync.Mutex
	addrs map[netip.Addr]map[string]time.Time
	// max bounds the addresses held: beyond it, new ones are left out
	// until answers run out.
	max int
	// keep is the least an answer is kept, however short its TTL: flows
	// are recorded up to a flush interval after they start.
	keep time.Duration
}

// NewNames makes an empty map holding at most max addresses (0: 100,000)
// that keeps each answer for its TTL, and at least keep.
func NewNames(max int, keep time.Duration) *Names {
	if max <= 0 {
		max = 100_000
	}
	return &Names{addrs: map[netip.Addr]map[string]time.Time{}, max: max, keep: keep}
}

// Observe records an answer: each address it gives belongs to the name
// asked (and to the name of its own record, at the end of a CNAME chain)
// until its TTL runs out (or keep, if longer).
func (n *Names) Observe(r dnssnoop.Response, at time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, rec := range r.Records {
		if !rec.Addr.IsValid() {
			continue
		}
		a := rec.Addr.Unmap()
		m := n.addrs[a]
		if m == nil {
			if len(n.addrs) >= n.max {
				n.expire(at)
				if len(n.addrs) >= n.max {
					continue
				}
			}
			m = map[string]time.Time{}
			n.addrs[a] = m
		}
		until := at.Add(max(rec.TTL, n.keep))
		for _, name := range []string{r.Name, rec.Name} {
			if name != "" && until.After(m[name]) {
				m[name] = until
			}
		}
	}
}

// Lookup lists the names an address was answered for and still is at
// now, sorted; nil if none.
func (n *Names) Lookup(a netip.Addr, now time.Time) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for name, until := range n.addrs[a.Unmap()] {
		if until.After(now) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Expire drops what ran out before now.
func (n *Names) Expire(now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.expire(now)
}

func (n *Names) expire(now time.Time) {
	for a, m := range n.addrs {
		for name, until := range m {
			if !until.After(now) {
				delete(m, name)
			}
		}
		if len(m) == 0 {
			delete(n.addrs, a)
		}
	}
}
