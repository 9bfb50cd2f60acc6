package flowlogs

import (
	"strconv"
	"strings"
)

// Rule is what a rule ID stands for, in Calico's terms.
type Rule struct {
	// Tier is the tier's name, or "__PROFILE__" for a profile's rule.
	Tier string
	// Name is the policy's name as flow logs write it: "<tier>.<name>"
	// (GlobalNetworkPolicy), "<ns>/<tier>.<name>" (NetworkPolicy),
	// "<ns>/knp.default.<name>" (Kubernetes NetworkPolicy), with "staged:"
	// before the name for staged ones, "__PROFILE__.<profile>" for a
	// profile (e.g. "__PROFILE__.kns.demo").
	Name string
	// Action is "allow", "deny" or "pass".
	Action string
	// RuleIndex is the rule's index in its policy, -1 for a tier's
	// default action (or the end of the profiles).
	RuleIndex int
	// Ingress says the rule is an ingress rule (reported by the
	// destination), else an egress rule (reported by the source).
	Ingress bool
	// Kind, Namespace and Policy (the bare name, without tier or
	// namespace) label the policy metrics; Namespace is empty for global
	// policies and profiles.
	Kind, Namespace, Policy string
}

// Calico's words for what has no name of its own.
const (
	profileTier     = "__PROFILE__"
	noMatchName     = "__NO_MATCH__"
	globalNamespace = "__GLOBAL__"
	unknownName     = "__UNKNOWN__"
)

// EndOfTierRule describes a tier's default deny when the rule ID does not
// say which policy selected the endpoint (the dataplane's earlier form
// "DI|tier <name>"): Calico names one of the tier's policies; without one
// the name is the one Calico gives a no-match rule of the tier,
// "<tier>.__NO_MATCH__". The dataplane's IDs now carry the tier's last
// policy ("DI-1|pi-<hash>"), which Rules describes with rule index -1.
func EndOfTierRule(tier string, ingress bool) Rule {
	return Rule{Tier: tier, Name: tier + "." + noMatchName, Action: "deny", RuleIndex: -1, Ingress: ingress, Policy: noMatchName}
}

// NoProfileRule describes the drop at the end of the profiles of an
// endpoint without any ("DI-1|no profile", "DE-1|no profile"): no policy
// or profile allowed the packet.
func NoProfileRule(ingress bool) Rule {
	return Rule{Tier: profileTier, Name: profileTier + "." + noMatchName, Action: "deny", RuleIndex: -1, Ingress: ingress, Policy: noMatchName}
}

// parsePrefix reads what the collector needs of a rule ID without
// describing it: the action's letter and the direction. It rejects
// prefixes that are not rule IDs.
func parsePrefix(p string) (action byte, ingress, ok bool) {
	if len(p) < 4 || strings.IndexByte(p, '|') < 2 {
		return 0, false, false
	}
	switch p[0] {
	case 'A', 'D', 'P':
	default:
		return 0, false, false
	}
	switch p[1] {
	case 'I':
		ingress = true
	case 'E':
	default:
		return 0, false, false
	}
	return p[0], ingress, true
}

func actionWord(a byte) string {
	switch a {
	case 'A':
		return "allow"
	case 'D':
		return "deny"
	}
	return "pass"
}

// fallbackRule describes an ID that Rules does not know: the dataplane's
// own drops without a policy ("D?-1|no profile", and the earlier
// "D?|no profile" and "D?|tier <name>") as Calico describes them; any
// other is a rule of a policy that is gone, written with Calico's
// "__UNKNOWN__" and the index the ID carries (-2, Calico's "unknown",
// when it carries none). special says it is one of the former.
func fallbackRule(id string) (r Rule, special bool) {
	act, ingress, _ := parsePrefix(id)
	bar := strings.IndexByte(id, '|')
	index, rest := id[2:bar], id[bar+1:]
	if act == 'D' && (index == "" || index == "-1") {
		if rest == "no profile" {
			return NoProfileRule(ingress), true
		}
		if t, ok := strings.CutPrefix(rest, "tier "); ok && index == "" {
			return EndOfTierRule(t, ingress), true
		}
	}
	idx, err := strconv.Atoi(index)
	if err != nil {
		idx = -2
	}
	return Rule{Tier: unknownName, Name: unknownName, Action: actionWord(act), RuleIndex: idx, Ingress: ingress, Policy: unknownName}, false
}

// policyString is one entry of a policies list.
func policyString(i int, r Rule) string {
	return strconv.Itoa(i) + "|" + r.Tier + "|" + r.Name + "|" + r.Action + "|" + strconv.Itoa(r.RuleIndex)
}

// metricTier, metricPolicy and metricNamespace are the label values of
// Calico's policy metrics.
func metricTier(r Rule) string {
	if r.Tier == "" {
		return profileTier
	}
	return r.Tier
}

func metricPolicy(r Rule) string {
	if r.Policy == "" {
		return noMatchName
	}
	return r.Policy
}

func metricNamespace(r Rule) string {
	if r.Namespace == "" {
		return globalNamespace
	}
	return r.Namespace
}

// deniedPolicyName is calico_denied_packets' "policy" label:
// "<tier>|<policy>|<rule index>|deny", the policy prefixed by its
// namespace when it has one.
func deniedPolicyName(r Rule) string {
	p := metricPolicy(r)
	if r.Namespace != "" {
		p = r.Namespace + "/" + p
	}
	return metricTier(r) + "|" + p + "|" + strconv.Itoa(r.RuleIndex) + "|" + r.Action
}
