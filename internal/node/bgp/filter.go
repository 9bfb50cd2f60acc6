package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	v3 "github.com/calicong/calico/api/v3"
)

// rule is a BGPFilter rule of either family.
type rule struct {
	cidr         string
	min, max     *int32
	source       v3.BGPFilterMatchSource
	iface        string
	op           v3.BGPFilterMatchOperator
	peerType     v3.BGPFilterPeerType
	communities  []v3.BGPCommunityValue
	asPathPrefix []v3.ASNumber
	action       v3.BGPFilterAction
	operations   []v3.BGPFilterOperation
	bits         int
}

func rulesOf(f *v3.BGPFilter, v6, export bool) []rule {
	var out []rule
	add4 := func(rs []v3.BGPFilterRuleV4) {
		for _, r := range rs {
			x := rule{cidr: r.CIDR, source: r.Source, iface: r.Interface, op: r.MatchOperator, peerType: r.PeerType,
				asPathPrefix: r.ASPathPrefix, action: r.Action, operations: r.Operations, bits: 32}
			if r.PrefixLength != nil {
				x.min, x.max = r.PrefixLength.Min, r.PrefixLength.Max
			}
			if r.Communities != nil {
				x.communities = r.Communities.Values
			}
			out = append(out, x)
		}
	}
	add6 := func(rs []v3.BGPFilterRuleV6) {
		for _, r := range rs {
			x := rule{cidr: r.CIDR, source: r.Source, iface: r.Interface, op: r.MatchOperator, peerType: r.PeerType,
				asPathPrefix: r.ASPathPrefix, action: r.Action, operations: r.Operations, bits: 128}
			if r.PrefixLength != nil {
				x.min, x.max = r.PrefixLength.Min, r.PrefixLength.Max
			}
			if r.Communities != nil {
				x.communities = r.Communities.Values
			}
			out = append(out, x)
		}
	}
	switch {
	case !v6 && export:
		add4(f.Spec.ExportV4)
	case !v6:
		add4(f.Spec.ImportV4)
	case export:
		add6(f.Spec.ExportV6)
	default:
		add6(f.Spec.ImportV6)
	}
	return out
}

func hasRules(f *v3.BGPFilter, v6, export bool) bool { return len(rulesOf(f, v6, export)) > 0 }

// filterFunc names the BIRD function of a filter's rules in one
// direction and family.
func filterFunc(name, dir, sfx string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
	return fmt.Sprintf("bgpfilter_%s_%s%s", clean, dir, sfx)
}

// renderFilter writes a BGPFilter's functions: its rules, in order, each
// a condition whose match applies the rule's operations and ends the
// filter with its action; a route no rule matches goes on to the next
// filter, and at the end to Calico's defaults.
func renderFilter(b *strings.Builder, f *v3.BGPFilter, v6 bool) {
	sfx := "4"
	if v6 {
		sfx = "6"
	}
	for _, export := range []bool{false, true} {
		rules := rulesOf(f, v6, export)
		if len(rules) == 0 {
			continue
		}
		dir, arg := "import", "()"
		if export {
			dir, arg = "export", "(bool is_ibgp)"
		}
		fmt.Fprintf(b, "# BGPFilter %s, %s rules.\n", f.Name, dir)
		fmt.Fprintf(b, "function %s%s {\n", filterFunc(f.Name, dir, sfx), arg)
		for _, r := range rules {
			conds := r.conditions(export)
			cond := "true"
			if len(conds) > 0 {
				cond = strings.Join(conds, " && ")
			}
			fmt.Fprintf(b, "  if (%s) then {\n", cond)
			for _, op := range r.operations {
				for _, line := range operation(op) {
					fmt.Fprintf(b, "    %s\n", line)
				}
			}
			if r.action == v3.BGPFilterReject {
				b.WriteString("    reject;\n")
			} else {
				b.WriteString("    accept;\n")
			}
			b.WriteString("  }\n")
		}
		b.WriteString("}\n\n")
	}
}

func (r rule) conditions(export bool) []string {
	var out []string
	if r.cidr != "" {
		if p, err := netip.ParsePrefix(r.cidr); err == nil {
			p = p.Masked()
			set := fmt.Sprintf("[ %s+ ]", p)
			if r.min != nil || r.max != nil {
				lo, hi := int32(p.Bits()), int32(r.bits)
				if r.min != nil {
					lo = *r.min
				}
				if r.max != nil {
					hi = *r.max
				}
				set = fmt.Sprintf("[ %s{%d,%d} ]", p, lo, hi)
			}
			switch r.op {
			case v3.MatchOperatorEqual:
				out = append(out, fmt.Sprintf("net = %s", p))
			case v3.MatchOperatorNotEqual:
				out = append(out, fmt.Sprintf("net != %s", p))
			case v3.MatchOperatorNotIn:
				out = append(out, fmt.Sprintf("!(net ~ %s)", set))
			default:
				out = append(out, fmt.Sprintf("net ~ %s", set))
			}
		}
	}
	if r.source == v3.BGPFilterSourceRemotePeers {
		out = append(out, "source = RTS_BGP")
	}
	if r.iface != "" {
		out = append(out, fmt.Sprintf("ifname ~ %s", quote(r.iface)))
	}
	if export {
		switch r.peerType {
		case v3.BGPFilterPeerTypeIBGP:
			out = append(out, "is_ibgp")
		case v3.BGPFilterPeerTypeEBGP:
			out = append(out, "!is_ibgp")
		}
	}
	for _, c := range r.communities {
		if t := communityTuple(string(c)); t != "" {
			attr := "bgp_community"
			if strings.Count(t, ",") == 2 {
				attr = "bgp_large_community"
			}
			out = append(out, fmt.Sprintf("(%s) ~ %s", t, attr))
		}
	}
	if len(r.asPathPrefix) > 0 {
		parts := make([]string, len(r.asPathPrefix))
		for i, as := range r.asPathPrefix {
			parts[i] = as.String()
		}
		out = append(out, fmt.Sprintf("bgp_path ~ [= %s * =]", strings.Join(parts, " ")))
	}
	return out
}

func operation(op v3.BGPFilterOperation) []string {
	var out []string
	if c := op.AddCommunity; c != nil {
		if t := communityTuple(string(c.Value)); t != "" {
			attr := "bgp_community"
			if strings.Count(t, ",") == 2 {
				attr = "bgp_large_community"
			}
			out = append(out, fmt.Sprintf("%s.add((%s));", attr, t))
		}
	}
	if p := op.PrependASPath; p != nil {
		// The first AS given ends up first in the path.
		for _, as := range slices.Backward(p.Prefix) {
			out = append(out, fmt.Sprintf("bgp_path.prepend(%d);", as))
		}
	}
	if s := op.SetPriority; s != nil {
		out = append(out, fmt.Sprintf("krt_metric = %d;", s.Value))
	}
	return out
}

// communityTuple turns "65000:100" or "65000:100:200" into BIRD's tuple
// body, or "" if it is neither.
func communityTuple(v string) string {
	parts := strings.Split(v, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return ""
	}
	for _, x := range parts {
		if _, err := strconv.ParseUint(x, 10, 32); err != nil {
			return ""
		}
	}
	return strings.Join(parts, ",")
}
