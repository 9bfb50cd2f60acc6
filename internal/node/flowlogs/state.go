package flowlogs

import (
	"net/netip"

	"github.com/calicong/calico/internal/node/flowlogs/event"
)

// The per-connection state is kept small and free of pointers, so that
// 100,000 live connections cost a few megabytes that the garbage
// collector does not scan: the key holds addresses as 16 bytes, the
// value numbers (traces and Service addresses are interned).

// tkey is a flow's tuple as the filter saw it (after DNAT).
type tkey struct {
	src, dst     [16]byte
	sport, dport uint16
	proto        uint8
	v6           bool
}

func keyOf(t event.Tuple) tkey {
	return tkey{src: t.Src.As16(), dst: t.Dst.As16(), sport: t.SrcPort, dport: t.DstPort, proto: t.Proto, v6: !t.Src.Unmap().Is4()}
}

// ctKey is the filter's tuple of a conntrack observation: the original
// tuple with the destination the reply comes from.
func ctKey(c event.Conn) tkey {
	t := c.Orig
	t.Dst, t.DstPort = c.Reply.Src, c.Reply.SrcPort
	return keyOf(t)
}

func addrOf(b [16]byte, v6 bool) netip.Addr {
	a := netip.AddrFrom16(b)
	if !v6 {
		a = a.Unmap()
	}
	return a
}

func (k tkey) tuple() event.Tuple {
	return event.Tuple{Proto: k.proto, Src: addrOf(k.src, k.v6), Dst: addrOf(k.dst, k.v6), SrcPort: k.sport, DstPort: k.dport}
}

// Reporter sides: a trace's index in conn.trace and row.trace.
const (
	sideSrc = 0
	sideDst = 1
)

// conn flags.
const (
	// fCT: conntrack knows the connection (it was allowed).
	fCT uint16 = 1 << iota
	// fStarted: it started in this interval (counts in num_flows_started).
	fStarted
	// fEnded: conntrack forgot it; it is reported and dropped at flush.
	fEnded
	// fNew: an NFLOG-only flow not yet counted as started.
	fNew
	// fEndpointFinal: the last verdict was an endpoint's allow (a
	// host endpoint's denial right after it is the same packet's).
	fEndpointFinal
)

// conn is one flow's state (120 bytes: Go stores map values up to 128
// bytes in place).
type conn struct {
	id    uint32
	flags uint16
	// tstage is the transit stage of the last transit verdict.
	tstage uint8
	_      uint8
	// trace is, per reporter side, the node of the trie of rule IDs hit
	// (0: none).
	trace [2]uint32
	// transit is the trace of the host endpoints' rules a forwarded
	// flow hit (transit_policies; 0: none).
	transit uint32
	// svc is the interned original destination when conntrack saw DNAT
	// (0: none).
	svc uint32
	// nfPkts and nfBytes count, per side, the packets that reached a
	// final verdict (allow or deny) in this interval: a denied flow's
	// only counters.
	nfPkts [2]uint32
	// last is conntrack's last reading (orig packets, orig bytes, reply
	// packets, reply bytes), pend what it added in this interval.
	last, pend [4]uint64
	nfBytes    [2]uint64
	// lastSeen is the time of the last verdict (unix nanoseconds).
	lastSeen int64
}

// row is what a flush reads of one flow.
type row struct {
	key       tkey
	trace     [2]uint32
	transit   uint32
	svc       uint32
	ct        bool
	started   bool
	completed bool
	nfPkts    [2]uint32
	ctCount   [4]uint64
	nfBytes   [2]uint64
}

func (c *conn) row(k tkey) row {
	return row{
		key: k, trace: c.trace, transit: c.transit, svc: c.svc,
		ct: c.flags&fCT != 0, started: c.flags&fStarted != 0, completed: c.flags&fEnded != 0,
		nfPkts: c.nfPkts, ctCount: c.pend, nfBytes: c.nfBytes,
	}
}

// tnode is a node of the trie of traces: the sequence of rule IDs from
// the root to it. Node 0 is the root (the empty trace).
type tnode struct {
	parent uint32
	depth  uint16
	action byte
	id     string
}

type childKey struct {
	parent uint32
	id     string
}

// trie interns traces, so a flow holds its trace as one number.
type trie struct {
	nodes    []tnode
	children map[childKey]uint32
}

func newTrie() trie {
	return trie{nodes: []tnode{{}}, children: map[childKey]uint32{}}
}

func (t *trie) child(parent uint32, id string, action byte) uint32 {
	k := childKey{parent, id}
	if n, ok := t.children[k]; ok {
		return n
	}
	n := uint32(len(t.nodes))
	t.nodes = append(t.nodes, tnode{parent: parent, depth: t.nodes[parent].depth + 1, action: action, id: id})
	t.children[k] = n
	return n
}

// path lists a trace's rule IDs in the order they were hit.
func path(nodes []tnode, n uint32) []string {
	out := make([]string, nodes[n].depth)
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = nodes[n].id
		n = nodes[n].parent
	}
	return out
}

// svcAddr is a Service's address as the client used it.
type svcAddr struct {
	addr  [16]byte
	v6    bool
	proto uint8
	port  uint16
}

// services interns the original destinations of DNATted flows. Index 0
// is "none".
type services struct {
	addrs []svcAddr
	index map[svcAddr]uint32
}

func newServices() services {
	return services{addrs: []svcAddr{{}}, index: map[svcAddr]uint32{}}
}

func (s *services) intern(t event.Tuple) uint32 {
	a := svcAddr{addr: t.Dst.As16(), v6: !t.Dst.Unmap().Is4(), proto: t.Proto, port: t.DstPort}
	if i, ok := s.index[a]; ok {
		return i
	}
	i := uint32(len(s.addrs))
	s.addrs = append(s.addrs, a)
	s.index[a] = i
	return i
}
