package proto

import "net/netip"

// PortRange is an inclusive range of ports; a single port has Min == Max.
type PortRange struct{ Min, Max uint16 }

// Rule is a policy or profile rule with selectors, named ports and
// services already resolved to IP sets. Every criterion given must match.
// Rules are shared between messages and never modified once sent.
type Rule struct {
	// Action is Allow, Deny, Pass or Log.
	Action string
	// IPVersion is 4 or 6; 0 matches both.
	IPVersion uint8
	// Protocol is an IANA protocol number; 0 matches any protocol.
	Protocol    uint8
	NotProtocol uint8
	// Index is the rule's position in its policy's (or profile's) rule
	// list for its direction: with the policy ID, it attributes verdicts.
	Index int32
	// ICMP and NotICMP are set only with ICMP or ICMPv6 protocols.
	ICMP, NotICMP *ICMPMatch
	// Src and Dst are nil when the rule says nothing about that side.
	Src, Dst *RuleSide
	// HTTP matches are carried for L7 enforcement; the L3/L4 dataplane
	// enforces the rest of the rule.
	HTTP *HTTPMatch
	// Source is the rule as the user wrote it, for explanations; only
	// graphs configured to keep it fill it.
	Source *RuleSource
}

// ICMPMatch matches an ICMP type and, when Code >= 0, a code.
type ICMPMatch struct {
	Type int
	Code int // -1: any code
}

// RuleSide is what a rule requires of the source or the destination.
// Within a list members are OR-ed, except that an address must be in every
// set of IPSetIDs (there is normally one).
type RuleSide struct {
	Nets, NotNets   []netip.Prefix
	Ports, NotPorts []PortRange
	// IPSetIDs are sets of the endpoints and network sets the side's
	// selector, namespaceSelector and serviceAccounts select; NotIPSetIDs
	// the notSelector's. A notSelector also matches addresses that are not
	// endpoints at all, unlike a negated selector.
	IPSetIDs, NotIPSetIDs []string
	// NamedPortIPSetIDs hold (address, protocol, port) of selected
	// endpoints that declare a named port. A side with numeric ports and
	// named ports matches if either matches.
	NamedPortIPSetIDs, NotNamedPortIPSetIDs []string
	// ServiceIPSetIDs are a Service's endpoints: (address, protocol, port)
	// sets on the destination side, address sets on the source side.
	ServiceIPSetIDs []string
}

// HTTPMatch matches HTTP methods and paths (each list OR-ed).
type HTTPMatch struct {
	Methods []string
	Paths   []HTTPPath
}

// HTTPPath is an exact or prefix path match.
type HTTPPath struct {
	Exact  string
	Prefix string
}

// RuleSource is how the user wrote a rule's peers.
type RuleSource struct {
	SrcSelector, SrcNotSelector, SrcNamespaceSelector string
	DstSelector, DstNotSelector, DstNamespaceSelector string
	SrcServiceAccounts, DstServiceAccounts            []string
	SrcPorts, SrcNotPorts, DstPorts, DstNotPorts      []string
	Annotations                                       map[string]string
}

// SetIDs lists every IP set the side uses.
func (s *RuleSide) SetIDs() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, l := range [][]string{s.IPSetIDs, s.NotIPSetIDs, s.NamedPortIPSetIDs, s.NotNamedPortIPSetIDs, s.ServiceIPSetIDs} {
		out = append(out, l...)
	}
	return out
}
