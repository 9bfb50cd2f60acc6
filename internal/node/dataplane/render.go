package dataplane

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/calicong/calico/internal/proto"
)

// Names of everything in our table. Identifiers are hashed: nft names must
// avoid keywords and some characters, and policy names can be long.

func shortHash(s string) string {
	sum := sha256.Sum224([]byte(s))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))[:16]
}

// setName is the nft set holding one family of an IP set's members.
func setName(id string, v6 bool) string {
	if v6 {
		return "s-" + shortHash(id) + "-v6"
	}
	return "s-" + shortHash(id) + "-v4"
}

func policyChain(id proto.PolicyID, inbound bool) string {
	if inbound {
		return "pi-" + shortHash(id.String())
	}
	return "po-" + shortHash(id.String())
}

func profileChain(name string, inbound bool) string {
	if inbound {
		return "pri-" + shortHash(name)
	}
	return "pro-" + shortHash(name)
}

func toWorkloadChain(iface string) string   { return "tw-" + iface }
func fromWorkloadChain(iface string) string { return "fw-" + iface }

// marks are the packet mark bits the rules use.
type marks struct {
	accept, pass uint32
	// host marks a host endpoint's verdicts (0: not marked).
	host uint32
}

func (m marks) setAccept() string { return fmt.Sprintf("meta mark set meta mark | 0x%08x", m.accept) }
func (m marks) setPass() string   { return fmt.Sprintf("meta mark set meta mark | 0x%08x", m.pass) }
func (m marks) clear(bits uint32) string {
	return fmt.Sprintf("meta mark set meta mark & 0x%08x", ^bits)
}
func (m marks) isSet(bit uint32) string { return fmt.Sprintf("meta mark & 0x%08x == 0x%08x", bit, bit) }
func (m marks) isClear(bit uint32) string {
	return fmt.Sprintf("meta mark & 0x%08x == 0x00000000", bit)
}

// family is the IP family a rendered rule applies to.
type family struct {
	v6                          bool
	saddr, daddr, nfproto, icmp string
}

var (
	ipv4 = family{false, "ip saddr", "ip daddr", "ipv4", "icmp"}
	ipv6 = family{true, "ip6 saddr", "ip6 daddr", "ipv6", "icmpv6"}
)

// ruleRenderer turns proto rules into nft rules.
type ruleRenderer struct {
	marks marks
	// nflog, when > 0, is the NFLOG group that verdicts are reported to.
	nflog int
}

// ruleID names a verdict for attribution: the action's first letter, the
// direction, the rule index and the policy's hash, e.g. "AI3|pi-abcd…";
// index -1 is a tier's default action (on the tier's last policy's chain)
// or the end of the profiles ("DI-1|pri-…", or "DI-1|no profile" without
// any). The dataplane keeps the table that decodes it (Owner).
func ruleID(action string, inbound bool, index int32, chain string) string {
	dir := "E"
	if inbound {
		dir = "I"
	}
	return fmt.Sprintf("%c%s%d|%s", action[0], dir, index, chain)
}

// policyRules renders a policy's or profile's rules for one direction
// into the body of its chain.
func (rr ruleRenderer) policyRules(chain string, rules []*proto.Rule, inbound bool) []string {
	var out []string
	for _, r := range rules {
		// An HTTP match is not enforced here (no L7 proxy): like Calico's
		// own L3/L4 dataplane, the rule applies to its L3/L4 part whatever
		// its action, and the oracle (internal/calc) does the same. The
		// webhook and calicoctl warn when such a rule is written.
		action := rr.action(r, ruleID(r.Action, inbound, r.Index, chain))
		for _, f := range []family{ipv4, ipv6} {
			for _, m := range matches(r, f) {
				out = append(out, strings.TrimSpace(m+" "+action))
			}
		}
	}
	return out
}

// action renders what a matching rule does. Verdicts are counted and,
// with NFLOG on, reported with their rule ID.
func (rr ruleRenderer) action(r *proto.Rule, id string) string {
	logged := "counter"
	if rr.nflog > 0 && r.Action != "Log" {
		logged = fmt.Sprintf("counter log prefix %q group %d", id, rr.nflog)
	}
	switch r.Action {
	case "Allow":
		return fmt.Sprintf("%s %s return comment %q", logged, rr.marks.setAccept(), id)
	case "Pass":
		return fmt.Sprintf("%s %s return comment %q", logged, rr.marks.setPass(), id)
	case "Log":
		return fmt.Sprintf("counter log prefix %q comment %q", "calico-packet: "+id, id)
	default: // Deny
		return fmt.Sprintf("%s drop comment %q", logged, id)
	}
}

// matches renders a rule's match criteria for one family; a rule that
// cannot match in this family gives nothing. Criteria that are OR-ed but
// cannot share one nft rule (numeric ports and named-port sets, a negated
// ICMP type and code) give several alternatives with the same action.
func matches(r *proto.Rule, f family) []string {
	if r.IPVersion != 0 && (r.IPVersion == 6) != f.v6 {
		return nil
	}
	var base []string
	if f.v6 {
		base = append(base, "meta nfproto ipv6")
	} else {
		base = append(base, "meta nfproto ipv4")
	}
	switch {
	case r.Protocol == 1 && f.v6, r.Protocol == 58 && !f.v6:
		return nil
	case r.Protocol != 0:
		base = append(base, "meta l4proto "+strconv.Itoa(int(r.Protocol)))
	}
	if r.NotProtocol != 0 {
		base = append(base, "meta l4proto != "+strconv.Itoa(int(r.NotProtocol)))
	}
	if m := r.ICMP; m != nil {
		base = append(base, fmt.Sprintf("%s type %d", f.icmp, m.Type))
		if m.Code >= 0 {
			base = append(base, fmt.Sprintf("%s code %d", f.icmp, m.Code))
		}
	}
	src, ok := sideMatches(r.Src, f, false)
	if !ok {
		return nil
	}
	dst, ok := sideMatches(r.Dst, f, true)
	if !ok {
		return nil
	}
	base = append(base, src.all...)
	base = append(base, dst.all...)
	// Alternatives: ports OR named ports, per side; NOT (type and code).
	alts := []string{strings.Join(base, " ")}
	for _, side := range [][]string{src.anyOf, dst.anyOf} {
		if len(side) == 0 {
			continue
		}
		var next []string
		for _, a := range alts {
			for _, s := range side {
				next = append(next, a+" "+s)
			}
		}
		alts = next
	}
	if m := r.NotICMP; m != nil {
		var next []string
		for _, a := range alts {
			next = append(next, fmt.Sprintf("%s %s type != %d", a, f.icmp, m.Type))
			if m.Code >= 0 {
				next = append(next, fmt.Sprintf("%s %s type %d %s code != %d", a, f.icmp, m.Type, f.icmp, m.Code))
			}
		}
		alts = next
	}
	return alts
}

type sideRender struct {
	all   []string // every one must match
	anyOf []string // at least one must match
}

// sideMatches renders one side; ok is false when the side cannot match in
// this family (it names only addresses of the other).
func sideMatches(s *proto.RuleSide, f family, dst bool) (sideRender, bool) {
	var out sideRender
	if s == nil {
		return out, true
	}
	addr, port := f.saddr, "th sport"
	if dst {
		addr, port = f.daddr, "th dport"
	}
	if len(s.Nets) > 0 {
		nets := netsOf(s.Nets, f.v6)
		if len(nets) == 0 {
			return out, false
		}
		out.all = append(out.all, addr+" "+anonSet(nets))
	}
	if nets := netsOf(s.NotNets, f.v6); len(nets) > 0 {
		out.all = append(out.all, addr+" != "+anonSet(nets))
	}
	for _, id := range s.IPSetIDs {
		out.all = append(out.all, addr+" @"+setName(id, f.v6))
	}
	for _, id := range s.NotIPSetIDs {
		out.all = append(out.all, addr+" != @"+setName(id, f.v6))
	}
	ipPort := addr + " . meta l4proto . " + port
	for _, id := range s.ServiceIPSetIDs {
		if dst {
			out.all = append(out.all, ipPort+" @"+setName(id, f.v6))
		} else {
			out.all = append(out.all, addr+" @"+setName(id, f.v6))
		}
	}
	if len(s.Ports) > 0 {
		out.anyOf = append(out.anyOf, port+" "+anonPorts(s.Ports))
	}
	for _, id := range s.NamedPortIPSetIDs {
		out.anyOf = append(out.anyOf, ipPort+" @"+setName(id, f.v6))
	}
	if len(s.NotPorts) > 0 {
		out.all = append(out.all, port+" != "+anonPorts(s.NotPorts))
	}
	for _, id := range s.NotNamedPortIPSetIDs {
		out.all = append(out.all, ipPort+" != @"+setName(id, f.v6))
	}
	return out, true
}

// netsOf lists the networks of one family.
func netsOf(nets []netip.Prefix, v6 bool) []string {
	var out []string
	for _, n := range nets {
		if n.Addr().Unmap().Is4() != v6 {
			out = append(out, n.String())
		}
	}
	return out
}

func anonSet(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return "{ " + strings.Join(items, ", ") + " }"
}

func anonPorts(ports []proto.PortRange) string {
	var items []string
	for _, p := range ports {
		if p.Min == p.Max {
			items = append(items, strconv.Itoa(int(p.Min)))
		} else {
			items = append(items, fmt.Sprintf("%d-%d", p.Min, p.Max))
		}
	}
	slices.Sort(items)
	return anonSet(items)
}

// member renders an IP set member in nft element syntax.
func member(m proto.Member) string {
	addr := m.Net.String()
	if m.Net.IsSingleIP() {
		addr = m.Net.Addr().String()
	}
	if m.Protocol == 0 {
		return addr
	}
	return fmt.Sprintf("%s . %d . %d", addr, m.Protocol, m.Port)
}

// setType is the nft type of one family of an IP set.
func setType(t proto.IPSetType, v6 bool) (typ string, interval bool) {
	a := "ipv4_addr"
	if v6 {
		a = "ipv6_addr"
	}
	if t == proto.IPSetIPPort {
		return a + " . inet_proto . inet_service", false
	}
	return a, true
}
