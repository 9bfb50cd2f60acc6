package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/calicong/calico/internal/node/dataplane/nft"
)

// DNSSnoop says which DNS answers calico-node reads for domain-based
// policy (docs/dns-policy.md): UDP answers from a trusted server on their
// way to a workload get the mark, and a rule outside this table (nft's
// own queue statement is not in every kernel; iptables' NFQUEUE target
// is) queues marked packets to calico-node.
//
// The server is the answer's conntrack reply source: the DNS pod itself,
// also when the workload asked the Service's ClusterIP and the answer's
// source address was translated back.
type DNSSnoop struct {
	// Mark is the packet mark bit of answers to read.
	Mark uint32
	// Sets are the IDs of IP sets of trusted servers' addresses (a
	// Service's endpoints, calc.Graph.ServiceAddressSet).
	Sets []string
	// Addrs are the trusted servers given by address.
	Addrs []netip.Addr
	// Ports are the servers' ports (53 if none).
	Ports []uint16
	// Queries marks local workloads' queries to the servers too (to time
	// the answers: dnsLogsLatency).
	Queries bool
}

// dnsChain is the base chain that marks trusted answers; it runs in the
// forward hook before iptables' mangle table (-150), where the queue
// rule is.
const dnsChain = "dns-snoop"

// SetDNSSnoop makes the dataplane mark the DNS answers calico-node reads
// (nil: none).
func (d *Dataplane) SetDNSSnoop(s *DNSSnoop) {
	if s == nil || s.Mark == 0 {
		d.table.DeleteChain(dnsChain)
		return
	}
	d.table.SetChain(dnsChain, &nft.Chain{
		Base:    &nft.BaseChain{Type: "filter", Hook: "forward", Priority: "-200"},
		Comment: "mark DNS answers from trusted servers for calico-node's domain policy",
		Rules:   dnsSnoopRules(s, workloadInterfaces(d.cfg.InterfacePrefixes)),
	})
}

// dnsSnoopRules mark the answers on their way to a local workload (wl
// matches the workload interfaces): a node that only forwards an answer
// elsewhere leaves it to the client's node.
func dnsSnoopRules(s *DNSSnoop, wl string) []string {
	ports := slices.Clone(s.Ports)
	if len(ports) == 0 {
		ports = []uint16{53}
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)
	var ps []string
	for _, p := range ports {
		ps = append(ps, strconv.Itoa(int(p)))
	}
	mark := fmt.Sprintf("meta mark set meta mark | 0x%08x", s.Mark)
	var out []string
	for _, f := range []family{ipv4, ipv6} {
		heads := []string{fmt.Sprintf("oifname %s meta nfproto %s ct direction reply meta l4proto udp th sport %s ct reply %s", wl, f.nfproto, anonSet(ps), f.saddr)}
		if s.Queries {
			// The conntrack reply source is the server also for a query,
			// before or after its destination was translated.
			heads = append(heads, fmt.Sprintf("iifname %s meta nfproto %s ct direction original meta l4proto udp th dport %s ct reply %s", wl, f.nfproto, anonSet(ps), f.saddr))
		}
		var addrs []string
		for _, a := range s.Addrs {
			if a.Unmap().Is4() != f.v6 {
				addrs = append(addrs, a.Unmap().String())
			}
		}
		slices.Sort(addrs)
		for _, head := range heads {
			for _, id := range s.Sets {
				out = append(out, fmt.Sprintf("%s @%s %s", head, setName(id, f.v6), mark))
			}
			if len(addrs) > 0 {
				out = append(out, fmt.Sprintf("%s %s %s", head, anonSet(addrs), mark))
			}
		}
	}
	return out
}
