// Package event defines what the flow-log collector hears from the
// kernel: conntrack's view of each connection (its tuples, NAT and
// counters) and NFLOG's reports of which of our rules decided on a
// packet. The kernel readers (flowlogs/conntrack, flowlogs/nflog) produce
// these; the collector (flowlogs) consumes them. It is pure data.
package event

import (
	"fmt"
	"net/netip"
	"time"
)

// IP protocol numbers the collector names.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
	ProtoSCTP   uint8 = 132
)

// Tuple is one direction of a connection, as the packets carry it. Ports
// are 0 for protocols without ports (ICMP: the echo identifier is not
// kept).
type Tuple struct {
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

// Reverse is the tuple of the other direction.
func (t Tuple) Reverse() Tuple {
	return Tuple{Proto: t.Proto, Src: t.Dst, Dst: t.Src, SrcPort: t.DstPort, DstPort: t.SrcPort}
}

func (t Tuple) String() string {
	return fmt.Sprintf("%d %s:%d→%s:%d", t.Proto, t.Src, t.SrcPort, t.Dst, t.DstPort)
}

// ConnKind says what a conntrack observation is.
type ConnKind uint8

const (
	// ConnStarted: conntrack confirmed a new connection (its first packet
	// was allowed).
	ConnStarted ConnKind = iota + 1
	// ConnCounters: a periodic reading of a live connection's counters.
	ConnCounters
	// ConnEnded: conntrack forgot the connection (closed or timed out),
	// with its final counters.
	ConnEnded
)

func (k ConnKind) String() string {
	switch k {
	case ConnStarted:
		return "started"
	case ConnCounters:
		return "counters"
	case ConnEnded:
		return "ended"
	}
	return fmt.Sprintf("ConnKind(%d)", uint8(k))
}

// Conn is one conntrack observation of a connection.
type Conn struct {
	Kind ConnKind
	// ID is conntrack's id of the entry: a connection's observations share
	// it (while the entry lives).
	ID uint32
	// Orig is the tuple as the originator sent it; Reply as the answer
	// comes back. With DNAT (a Service), Orig.Dst is the Service's address
	// and port and Reply.Src the chosen backend's; with SNAT, Reply.Dst is
	// the translated source.
	Orig, Reply Tuple
	// Counters since the connection began (nf_conntrack_acct), in the
	// originator's direction and the reply's. Zero when accounting is off.
	OrigPackets, OrigBytes   uint64
	ReplyPackets, ReplyBytes uint64
	// At is when it was observed.
	At time.Time
}

// Verdict is one NFLOG report: one of our rules decided on a packet.
type Verdict struct {
	// Prefix is the rule's ID as the dataplane rendered it into the log
	// statement, e.g. "AI3|pi-abcd…" or "DE|no profile".
	Prefix string
	// Tuple is the packet's, as seen where the rule ran (before any
	// source NAT, after DNAT for traffic to a workload).
	Tuple Tuple
	// Bytes is the packet's length (the IP header's total length, so a
	// truncated copy still counts the whole packet).
	Bytes int
	// Hook is the netfilter hook the rule ran in (HookPrerouting…).
	Hook uint8
	// Mark is the packet's mark when the rule ran: the dataplane marks
	// packets while a host endpoint's chains judge them.
	Mark uint32
	At   time.Time
}

// Netfilter hooks (include/uapi/linux/netfilter.h), as NFLOG reports
// them.
const (
	HookPrerouting  uint8 = 0
	HookInput       uint8 = 1
	HookForward     uint8 = 2
	HookOutput      uint8 = 3
	HookPostrouting uint8 = 4
)
