package lookup

import (
	"fmt"
	"strings"

	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/node/flowlogs/event"
)

// Policies renders the policies an oracle decision went through as
// Calico Enterprise's flow log strings `<index>|<tier>|<name>|<action>|<rule
// index>`, in order: the Pass rules, then what decided. A decision that
// involved no policy (traffic no policy polices) gives none.
func Policies(d *calc.Decision) []string {
	if d == nil {
		return nil
	}
	var out []string
	add := func(tier, name, action string, rule int) {
		out = append(out, fmt.Sprintf("%d|%s|%s|%s|%d", len(out), tier, name, strings.ToLower(action), rule))
	}
	for _, p := range d.Passed {
		add(p.Tier, PolicyName(p.Policy, p.Tier), "pass", p.Rule)
	}
	switch d.Reason {
	case calc.ReasonPolicy:
		add(d.Tier, PolicyName(*d.Policy, d.Tier), d.Action, *d.Rule)
	case calc.ReasonTierDefault:
		name := d.Tier
		if d.LastPolicy != nil {
			name = PolicyName(*d.LastPolicy, d.Tier)
		}
		add(d.Tier, name, "deny", -1)
	case calc.ReasonProfile:
		add(ProfileTier, ProfileTier+"."+d.Profile, d.Action, *d.Rule)
	case calc.ReasonNoMatch:
		name := ProfileTier + ".__NO_MATCH__" // no profile at all, as the collector names it
		if d.Profile != "" {
			name = ProfileTier + "." + d.Profile
		}
		add(ProfileTier, name, "deny", -1)
	}
	return out
}

// Pending is `pending_policies` for a decision: what would happen with the
// staged policies enforced (the same as enforced when none applies).
func Pending(d *calc.Decision) []string {
	if d != nil && d.Staged != nil {
		return Policies(d.Staged)
	}
	return Policies(d)
}

// Oracle answers the collector's flowlogs.Pending with the policy
// engine's oracle. Graph is the graph it may use at the moment (Felix's,
// during a flush on Felix's loop); nil, it answers nothing.
type Oracle struct {
	Graph *calc.Graph
}

// Pending implements flowlogs.Pending: the reporting side's decision with
// the staged policies enforced.
func (o *Oracle) Pending(t event.Tuple, ingress bool) ([]string, bool) {
	if o.Graph == nil {
		return nil, false
	}
	tr := o.Graph.Evaluate(calc.Packet{Src: t.Src, Dst: t.Dst, Protocol: t.Proto, SrcPort: t.SrcPort, DstPort: t.DstPort, ICMPType: -1, ICMPCode: -1})
	d := tr.Egress
	if ingress {
		d = tr.Ingress
	}
	if d == nil {
		return nil, false
	}
	return Pending(d), true
}
