package lookup

import (
	"strconv"
	"strings"

	"github.com/calicong/calico/internal/node/flowlogs"
	"github.com/calicong/calico/internal/proto"
)

// ProfileTier is the tier Calico gives profiles in flow logs.
const ProfileTier = "__PROFILE__"

// Owner is what a rule ID's chain belongs to: a policy with its tier, or
// a profile (the dataplane's RuleOwner).
type Owner struct {
	Policy  *proto.PolicyID
	Tier    string
	Profile string
}

// Rules decodes the rule IDs the dataplane renders into its log
// statements ("AI3|pi-<hash>": action, direction, rule index, chain). Owner
// maps a chain to its policy or profile (from the dataplane, under its
// lock).
type Rules struct {
	Owner func(chain string) (Owner, bool)
}

// Describe decodes a rule ID; false when it is malformed or its chain's
// policy or profile is gone.
func (r Rules) Describe(id string) (flowlogs.Rule, bool) {
	head, chain, ok := strings.Cut(id, "|")
	if !ok || len(head) < 3 {
		return flowlogs.Rule{}, false
	}
	var out flowlogs.Rule
	switch head[0] {
	case 'A':
		out.Action = "allow"
	case 'D':
		out.Action = "deny"
	case 'P':
		out.Action = "pass"
	default:
		return flowlogs.Rule{}, false
	}
	switch head[1] {
	case 'I':
		out.Ingress = true
	case 'E':
	default:
		return flowlogs.Rule{}, false
	}
	idx, err := strconv.Atoi(head[2:])
	if err != nil {
		return flowlogs.Rule{}, false
	}
	out.RuleIndex = idx
	if chain == "no profile" {
		// The end of the profiles of an endpoint without any.
		return flowlogs.NoProfileRule(out.Ingress), true
	}
	owner, ok := r.Owner(chain)
	if !ok {
		return flowlogs.Rule{}, false
	}
	if owner.Policy == nil {
		out.Tier, out.Name, out.Kind, out.Policy = ProfileTier, ProfileTier+"."+owner.Profile, "Profile", owner.Profile
		return out, true
	}
	out.Tier = owner.Tier
	if out.Tier == "" {
		out.Tier = "default"
	}
	out.Name, out.Kind, out.Namespace, out.Policy = PolicyName(*owner.Policy, out.Tier), owner.Policy.Kind, owner.Policy.Namespace, owner.Policy.Name
	return out, true
}

// PolicyName is a policy's name as Calico Enterprise's flow logs write
// it.
func PolicyName(id proto.PolicyID, tier string) string {
	name := id.Name
	switch id.Kind {
	case "KubernetesNetworkPolicy", "StagedKubernetesNetworkPolicy":
		name = "knp.default." + name
	default:
		if !strings.HasPrefix(name, tier+".") {
			name = tier + "." + name
		}
	}
	if id.Staged() {
		name = "staged:" + name
	}
	if id.Namespace != "" {
		name = id.Namespace + "/" + name
	}
	return name
}
