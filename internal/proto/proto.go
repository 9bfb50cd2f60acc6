// Package proto defines the messages the calculation graph sends to a
// dataplane: what one node must enforce, as plain Go values. It mirrors
// Felix's dataplane API (felixbackend.proto) in shape: IP sets, active
// policies and profiles with their rules already resolved to IP set IDs,
// endpoints with their ordered tiers, and the in-sync marker.
//
// Contract (see docs/calc.md): within one flush, an IP set is sent before
// any policy that references it, policies and profiles before any endpoint
// that references them, and removals come in the reverse order. Values in
// messages are never modified after they are sent.
package proto

import (
	"net/netip"
	"strconv"
	"strings"
)

// Message is one update to the dataplane.
type Message interface{ isMessage() }

// InSync says the dataplane now has the complete picture: it may remove
// anything it programmed earlier that it has not been told about since.
type InSync struct{}

// IPSetType says what an IP set's members are.
type IPSetType uint8

const (
	// IPSetNet members are addresses or CIDRs ("10.0.0.1/32").
	IPSetNet IPSetType = iota
	// IPSetIPPort members are address, protocol and port ("10.0.0.1,tcp:80").
	IPSetIPPort
)

func (t IPSetType) String() string {
	if t == IPSetIPPort {
		return "ip-port"
	}
	return "net"
}

// Member is one element of an IP set: a network (an endpoint's /32 or
// /128, or a network set's CIDR), and for IPSetIPPort sets a protocol and
// port.
type Member struct {
	Net      netip.Prefix
	Protocol uint8
	Port     uint16
}

// String renders "10.0.0.1/32" or "10.0.0.1/32,tcp:80".
func (m Member) String() string {
	if m.Protocol == 0 {
		return m.Net.String()
	}
	return m.Net.String() + "," + ProtocolName(m.Protocol) + ":" + strconv.Itoa(int(m.Port))
}

// ProtocolName returns the lower-case name of a protocol number, or the
// number.
func ProtocolName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	case 132:
		return "sctp"
	case 136:
		return "udplite"
	}
	return strconv.Itoa(int(p))
}

// IPSetUpdate replaces an IP set's members (sent when a set first becomes
// active, or to resync it).
type IPSetUpdate struct {
	ID      string
	Type    IPSetType
	Members []Member
}

// IPSetDeltaUpdate adds and removes members of an existing set.
type IPSetDeltaUpdate struct {
	ID      string
	Added   []Member
	Removed []Member
}

// IPSetRemove deletes a set no policy uses any more.
type IPSetRemove struct{ ID string }

// PolicyID names a policy. Kind is one of the policy kinds
// (GlobalNetworkPolicy, NetworkPolicy, KubernetesNetworkPolicy and the
// three staged kinds).
type PolicyID struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (id PolicyID) String() string {
	if id.Namespace == "" {
		return id.Kind + "/" + id.Name
	}
	return id.Kind + "/" + id.Namespace + "/" + id.Name
}

// Staged reports whether the policy is one of the staged kinds: evaluated
// for "what would happen", never enforced.
func (id PolicyID) Staged() bool {
	switch id.Kind {
	case "StagedNetworkPolicy", "StagedGlobalNetworkPolicy", "StagedKubernetesNetworkPolicy":
		return true
	}
	return false
}

// Policy is an active policy with its rules resolved.
type Policy struct {
	Namespace     string
	Tier          string
	InboundRules  []*Rule
	OutboundRules []*Rule
	// Untracked (doNotTrack), PreDNAT and ApplyOnForward are the host
	// endpoint options of GlobalNetworkPolicies.
	Untracked      bool
	PreDNAT        bool
	ApplyOnForward bool
	// Staged policies are never enforced; a StagedAction of Delete means
	// "as if the enforced policy of this name were deleted".
	Staged       bool
	StagedAction string
}

// ActivePolicyUpdate adds or replaces a policy that a local endpoint uses.
type ActivePolicyUpdate struct {
	ID     PolicyID
	Policy *Policy
}

// ActivePolicyRemove removes a policy no local endpoint uses any more.
type ActivePolicyRemove struct{ ID PolicyID }

// Profile is an active profile's rules.
type Profile struct {
	InboundRules  []*Rule
	OutboundRules []*Rule
}

// ActiveProfileUpdate adds or replaces a profile a local endpoint uses. A
// profile that does not exist in the datastore is sent with deny-all rules
// (fail closed).
type ActiveProfileUpdate struct {
	ID      string
	Profile *Profile
}

// ActiveProfileRemove removes a profile no local endpoint uses any more.
type ActiveProfileRemove struct{ ID string }

// TierInfo lists the policies of one tier that apply to an endpoint, in
// evaluation order, per direction.
type TierInfo struct {
	Name            string
	DefaultAction   string // "Deny" or "Pass"
	IngressPolicies []PolicyID
	EgressPolicies  []PolicyID
}

// WorkloadEndpointID names a workload endpoint.
type WorkloadEndpointID struct {
	Namespace string
	Name      string
}

func (id WorkloadEndpointID) String() string { return id.Namespace + "/" + id.Name }

// WorkloadEndpoint is what the dataplane needs to know about a local pod.
type WorkloadEndpoint struct {
	Pod        string
	Node       string
	Interface  string // host side of the veth
	MAC        string
	ProfileIDs []string
	IPv4Nets   []netip.Prefix
	IPv6Nets   []netip.Prefix
	// AllowSpoofedSourcePrefixes are extra sources the pod may send from.
	AllowSpoofedSourcePrefixes []netip.Prefix
	Tiers                      []TierInfo
}

// WorkloadEndpointUpdate adds or replaces a local workload endpoint.
type WorkloadEndpointUpdate struct {
	ID       WorkloadEndpointID
	Endpoint *WorkloadEndpoint
}

// WorkloadEndpointRemove removes a local workload endpoint.
type WorkloadEndpointRemove struct{ ID WorkloadEndpointID }

// HostEndpoint is what the dataplane needs to know about a local host
// interface. Tiers apply to traffic to and from the host; ForwardTiers to
// forwarded traffic (applyOnForward), PreDNATTiers before DNAT, and
// UntrackedTiers before connection tracking (doNotTrack).
type HostEndpoint struct {
	Node           string
	Interface      string // "" (match by ExpectedIPs) or "*" (all interfaces)
	ExpectedIPs    []netip.Addr
	ProfileIDs     []string
	Tiers          []TierInfo
	ForwardTiers   []TierInfo
	PreDNATTiers   []TierInfo
	UntrackedTiers []TierInfo
}

// HostEndpointUpdate adds or replaces a local host endpoint.
type HostEndpointUpdate struct {
	ID       string
	Endpoint *HostEndpoint
}

// HostEndpointRemove removes a local host endpoint.
type HostEndpointRemove struct{ ID string }

// RouteType says what a route is for.
type RouteType uint8

const (
	// RouteLocalBlock is an IPAM block affine to this node: the node
	// blackholes the block so addresses in it that no local workload
	// holds go nowhere (instead of out of the default route), and BGP
	// advertises it.
	RouteLocalBlock RouteType = iota + 1
	// RouteRemoteVXLAN is another node's block reached through the VXLAN
	// overlay: via the node's tunnel address (Gateway), whose VTEP the
	// dataplane has (VTEPUpdate for Node).
	RouteRemoteVXLAN
	// RouteRemoteDirect is another node's block in a CrossSubnet VXLAN
	// pool, on the node's own subnet: routed to the node's address
	// (Gateway) without encapsulation.
	RouteRemoteDirect
)

func (t RouteType) String() string {
	switch t {
	case RouteLocalBlock:
		return "local-block"
	case RouteRemoteVXLAN:
		return "remote-vxlan"
	case RouteRemoteDirect:
		return "remote-direct"
	}
	return "unknown"
}

// RouteUpdate adds or replaces a route the node programs.
type RouteUpdate struct {
	Dst  netip.Prefix
	Type RouteType
	// Node owns the destination and Gateway is the next hop (remote
	// routes only).
	Node    string
	Gateway netip.Addr
}

// VTEPUpdate describes a node's VXLAN tunnel endpoint: its underlay
// address, the address and MAC of its VXLAN device. The VTEP of the node
// the graph runs for describes the local device.
type VTEPUpdate struct {
	Node     string
	NodeIP   netip.Addr
	TunnelIP netip.Addr
	MAC      string
}

// VTEPRemove removes a node's VTEP.
type VTEPRemove struct{ Node string }

// IPPoolUpdate describes an IP pool as the dataplane needs it: its CIDR,
// whether traffic from it to outside every pool is masqueraded, and its
// VXLAN mode.
type IPPoolUpdate struct {
	ID         string
	CIDR       netip.Prefix
	Masquerade bool
	VXLANMode  string
}

// IPPoolRemove removes a pool.
type IPPoolRemove struct{ ID string }

func (VTEPUpdate) isMessage()   {}
func (VTEPRemove) isMessage()   {}
func (IPPoolUpdate) isMessage() {}
func (IPPoolRemove) isMessage() {}

// RouteRemove removes a route sent earlier.
type RouteRemove struct{ Dst netip.Prefix }

func (InSync) isMessage()                 {}
func (RouteUpdate) isMessage()            {}
func (RouteRemove) isMessage()            {}
func (IPSetUpdate) isMessage()            {}
func (IPSetDeltaUpdate) isMessage()       {}
func (IPSetRemove) isMessage()            {}
func (ActivePolicyUpdate) isMessage()     {}
func (ActivePolicyRemove) isMessage()     {}
func (ActiveProfileUpdate) isMessage()    {}
func (ActiveProfileRemove) isMessage()    {}
func (WorkloadEndpointUpdate) isMessage() {}
func (WorkloadEndpointRemove) isMessage() {}
func (HostEndpointUpdate) isMessage()     {}
func (HostEndpointRemove) isMessage()     {}

// HostPort is a protocol and port on the host, such as a failsafe port
// that stays open to and from host endpoints whatever the policy.
type HostPort struct {
	Protocol string // TCP, UDP or SCTP (case-insensitive; "" is TCP)
	Port     uint16
	// Net, if valid, limits the port to one remote network: the source of
	// inbound packets, the destination of outbound ones.
	Net netip.Prefix
}

// Matches tells whether a packet to port (dst) with the remote address
// remote uses the port.
func (p HostPort) Matches(protocol uint8, dst uint16, remote netip.Addr) bool {
	return p.ProtocolNumber() == protocol && p.Port == dst && (!p.Net.IsValid() || p.Net.Contains(remote))
}

// ProtocolNumber is the IP protocol number of the port's protocol, 0 if
// it is not one of TCP, UDP or SCTP.
func (p HostPort) ProtocolNumber() uint8 {
	switch strings.ToUpper(p.Protocol) {
	case "", "TCP":
		return 6
	case "UDP":
		return 17
	case "SCTP":
		return 132
	}
	return 0
}
