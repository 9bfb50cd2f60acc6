package calc

import (
	"net/netip"
	"strings"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/proto"
)

// The oracle's model of host endpoints follows the dataplane's hooks
// (docs/dataplane.md): a packet arriving from outside meets the arriving
// interface's untracked policy (raw prerouting), then its pre-DNAT policy
// (mangle prerouting), then either the host endpoint's normal ingress
// policy (input, to the host) or its applyOnForward policy (forward).
// Failsafe inbound ports skip the untracked and pre-DNAT stages and are
// accepted on input. The host's own packets meet failsafe outbound ports,
// untracked egress policy and normal egress policy; forwarded packets
// leaving by a host endpoint meet its applyOnForward egress policy.

// hostByAddr finds the local host endpoint with an address among its
// expected IPs.
func (g *Graph) hostByAddr(a netip.Addr) *localEndpoint {
	for _, ep := range g.locals {
		if ep.kind != kindHost {
			continue
		}
		for _, n := range g.item(ep.id).nets() {
			if n.Contains(a) {
				return ep
			}
		}
	}
	return nil
}

// hepFor finds the host endpoint that polices an interface of a node: the
// one named for the interface, else the one for all interfaces ("*").
func (g *Graph) hepFor(node, iface string) *localEndpoint {
	var star *localEndpoint
	for _, ep := range g.locals {
		if ep.kind != kindHost || ep.hep.Node != node {
			continue
		}
		if _, ok := ep.sent.(proto.HostEndpointUpdate); !ok {
			continue
		}
		switch ep.hep.Interface {
		case "":
		case "*":
			star = ep
		case iface:
			return ep
		}
	}
	return star
}

// hostStage evaluates one stage of a host endpoint's policy.
func (g *Graph) hostStage(h *localEndpoint, stage string, pkt Packet, ingress bool) *Decision {
	ep := h.sent.(proto.HostEndpointUpdate).Endpoint
	name := "hostendpoint/" + h.hepID
	var d *Decision
	switch stage {
	case StageUntracked:
		d = g.decide(name, ep.UntrackedTiers, nil, pkt, ingress, walkOptional)
	case StagePreDNAT:
		d = g.decide(name, ep.PreDNATTiers, nil, pkt, ingress, walkOptional)
	case StageForward:
		d = g.decide(name, ep.ForwardTiers, nil, pkt, ingress, walkForward)
	default:
		d = g.decide(name, ep.Tiers, ep.ProfileIDs, pkt, ingress, walkAll)
	}
	if d != nil {
		d.Stage = stage
		d.Endpoint = name
		if d.Staged != nil {
			d.Staged.Stage = stage
		}
	}
	return d
}

// failsafeDecision allows a packet to or from a failsafe port; remote is
// the far end's address.
func (g *Graph) failsafeDecision(h *localEndpoint, ports []proto.HostPort, pkt Packet, remote netip.Addr) *Decision {
	for _, p := range ports {
		if p.Matches(pkt.Protocol, pkt.DstPort, remote) {
			return &Decision{Verdict: string(v3.Allow), Reason: ReasonFailsafe, Endpoint: "hostendpoint/" + h.hepID,
				Action: string(v3.Allow)}
		}
	}
	return nil
}

// toHost decides a packet from outside the node to the host itself.
func (g *Graph) toHost(node, iface string, pkt Packet) *Decision {
	h := g.hepFor(node, iface)
	if h == nil {
		return noEndpoint()
	}
	if d := g.failsafeDecision(h, g.cfg.Host.FailsafeInbound, pkt, pkt.Src); d != nil {
		return d
	}
	for _, stage := range []string{StageUntracked, StagePreDNAT} {
		if d := g.hostStage(h, stage, pkt, true); d != nil {
			return d
		}
	}
	return g.hostStage(h, StageHost, pkt, true)
}

// fromHost decides the host's own packet leaving the node.
func (g *Graph) fromHost(node, iface string, pkt Packet) *Decision {
	h := g.hepFor(node, iface)
	if h == nil {
		return noEndpoint()
	}
	if d := g.failsafeDecision(h, g.cfg.Host.FailsafeOutbound, pkt, pkt.Dst); d != nil {
		return d
	}
	if d := g.hostStage(h, StageUntracked, pkt, false); d != nil {
		return d
	}
	return g.hostStage(h, StageHost, pkt, false)
}

// arriving decides a packet from outside that the node forwards (to one
// of its workloads or on): untracked and pre-DNAT policy of the arriving
// interface (skipped for failsafe inbound ports), and when neither
// allowed it, its applyOnForward policy.
func (g *Graph) arriving(node, iface string, pkt Packet) []*Decision {
	h := g.hepFor(node, iface)
	if h == nil {
		return nil
	}
	if g.failsafeDecision(h, g.cfg.Host.FailsafeInbound, pkt, pkt.Src) == nil {
		for _, stage := range []string{StageUntracked, StagePreDNAT} {
			if d := g.hostStage(h, stage, pkt, true); d != nil {
				return []*Decision{d}
			}
		}
	}
	return []*Decision{g.forwarded(h, pkt, true)}
}

// forwarded decides a forwarded packet's passage through a host endpoint.
func (g *Graph) forwarded(h *localEndpoint, pkt Packet, ingress bool) *Decision {
	return g.hostStage(h, StageForward, pkt, ingress)
}

// endpointToHost is what happens to a workload's packet to its own host.
func (g *Graph) endpointToHost() *Decision {
	action := g.cfg.Host.DefaultEndpointToHostAction
	if action == "" {
		action = "Drop"
	}
	verdict := string(v3.Allow)
	if strings.EqualFold(action, "Drop") {
		verdict = string(v3.Deny)
	}
	return &Decision{Verdict: verdict, Reason: ReasonEndpointToHost, Action: action}
}

// HostSettingsFor takes the host settings from a resolved
// FelixConfiguration.
func HostSettingsFor(s v3.FelixConfigurationSpec) HostSettings {
	ports := func(in *[]v3.ProtoPort) []proto.HostPort {
		if in == nil {
			return nil
		}
		out := make([]proto.HostPort, 0, len(*in))
		for _, p := range *in {
			hp := proto.HostPort{Protocol: p.Protocol, Port: p.Port}
			if p.Net != "" {
				// Validation has checked it; an unparsable net would make the
				// port apply everywhere, so it is dropped instead.
				n, err := parseNet(p.Net)
				if err != nil {
					continue
				}
				hp.Net = n
			}
			out = append(out, hp)
		}
		return out
	}
	return HostSettings{
		FailsafeInbound:             ports(s.FailsafeInboundHostPorts),
		FailsafeOutbound:            ports(s.FailsafeOutboundHostPorts),
		DefaultEndpointToHostAction: s.DefaultEndpointToHostAction,
	}
}

// SetHost replaces the host settings the oracle uses.
func (g *Graph) SetHost(h HostSettings) { g.cfg.Host = h }
