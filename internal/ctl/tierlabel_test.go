package ctl_test

import (
	"strings"
	"testing"
)

const tierLabelPolicies = `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: tl-a}
spec: {order: 500}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: tl-b}
spec: {order: 600}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: tl-gnp}
spec: {tier: tl-a, selector: all(), ingress: [{action: Allow}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: tl-np, namespace: default, labels: {team: a}}
spec: {tier: tl-b, selector: all(), ingress: [{action: Allow}]}
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: tl-sgnp}
spec: {tier: tl-a, selector: all(), ingress: [{action: Allow}]}
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: {name: tl-snp, namespace: default}
spec: {selector: all(), ingress: [{action: Allow}]}
`

// TestTierLabel: calicoctl stores every policy with the
// projectcalico.org/tier label naming its tier, lists by it with -l,
// refuses a label naming another tier (writing nothing), and keeps the
// label right when patch, or apply of edited `get` output, moves a
// policy to another tier.
func TestTierLabel(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	_, errOut, code := calicoctl(t, tierLabelPolicies, "apply", "-f", "-")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, errOut)
	}
	defer calicoctl(t, tierLabelPolicies, "delete", "-f", "-", "--skip-not-exists")
	label := func(args ...string) string {
		return kubectl(t, append(append([]string{"get"}, args...), "-o", `jsonpath={.metadata.labels.projectcalico\.org/tier}`)...)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"globalnetworkpolicies.projectcalico.org", "tl-gnp"}, "tl-a"},
		{[]string{"networkpolicies.projectcalico.org", "-n", "default", "tl-np"}, "tl-b"},
		{[]string{"stagedglobalnetworkpolicies.projectcalico.org", "tl-sgnp"}, "tl-a"},
		{[]string{"stagednetworkpolicies.projectcalico.org", "-n", "default", "tl-snp"}, "default"},
	} {
		if got := label(c.args...); got != c.want {
			t.Errorf("%v: tier label %q, want %q", c.args, got, c.want)
		}
	}
	if got := kubectl(t, "get", "networkpolicies.projectcalico.org", "-n", "default", "tl-np", "-o", "jsonpath={.metadata.labels.team}"); got != "a" {
		t.Errorf("other labels: team=%q", got)
	}
	// Applying the same file again changes nothing.
	if out := mustCalicoctlIn(t, tierLabelPolicies, "apply", "-f", "-"); !strings.Contains(out, "6 unchanged") {
		t.Errorf("second apply: %s", out)
	}

	// -l lists by tier.
	if out := mustCalicoctl(t, "get", "gnp", "-l", "projectcalico.org/tier=tl-a", "-o", "name"); strings.TrimSpace(out) != "globalnetworkpolicy.projectcalico.org/tl-gnp" {
		t.Errorf("get gnp -l tier=tl-a: %q", out)
	}
	if out := mustCalicoctl(t, "get", "gnp", "-l", "projectcalico.org/tier=tl-b", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("get gnp -l tier=tl-b: %q", out)
	}
	if out := mustCalicoctl(t, "get", "networkpolicy", "-A", "-l", "projectcalico.org/tier=tl-b,team=a", "-o", "name"); strings.TrimSpace(out) != "networkpolicy.projectcalico.org/tl-np" {
		t.Errorf("get networkpolicy -A -l tier=tl-b,team=a: %q", out)
	}
	if _, errOut, code := calicoctl(t, "", "get", "gnp", "tl-gnp", "-l", "a=b"); code == 0 || !strings.Contains(errOut, "not both") {
		t.Errorf("names and -l: exit %d %s", code, errOut)
	}
	if _, errOut, code := calicoctl(t, "", "get", "gnp", "-l", "a=(b"); code == 0 || !strings.Contains(errOut, `-l "a=(b"`) {
		t.Errorf("bad selector: exit %d %s", code, errOut)
	}

	// A label naming another tier is refused, and nothing is written.
	contradicting := "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: tl-contra, labels: {projectcalico.org/tier: default}}\nspec: {tier: tl-a, selector: all()}\n"
	_, errOut, code = calicoctl(t, contradicting, "apply", "-f", "-")
	if code != 1 || !strings.Contains(errOut, `metadata.labels[projectcalico.org/tier]: Invalid value: "default": the tier label must name the policy's tier "tl-a" (spec.tier)`) ||
		!strings.Contains(errOut, "nothing was written") {
		t.Errorf("contradicting label: exit %d\n%s", code, errOut)
	}
	if _, _, code := calicoctl(t, "", "get", "gnp", "tl-contra"); code == 0 {
		t.Error("the policy with a contradicting label was stored")
	}
	if _, errOut, code := calicoctl(t, contradicting, "validate", "-f", "-"); code != 1 || !strings.Contains(errOut, "metadata.labels[projectcalico.org/tier]") {
		t.Errorf("validate of a contradicting label: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := calicoctl(t, "", "label", "gnp", "tl-gnp", "projectcalico.org/tier=tl-b", "--overwrite"); code != 1 || !strings.Contains(errOut, `must name the policy's tier "tl-a"`) {
		t.Errorf("label with another tier: exit %d\n%s", code, errOut)
	}

	// Moving a policy: patch of spec.tier, and apply of `get -o yaml`
	// output with spec.tier edited (its label left as it was).
	mustCalicoctl(t, "patch", "gnp", "tl-gnp", "-p", `{"spec":{"tier":"tl-b"}}`)
	if got := label("globalnetworkpolicies.projectcalico.org", "tl-gnp"); got != "tl-b" {
		t.Errorf("after patching spec.tier: tier label %q, want tl-b", got)
	}
	out := mustCalicoctl(t, "get", "networkpolicy", "-n", "default", "tl-np", "-o", "yaml")
	if !strings.Contains(out, "projectcalico.org/tier: tl-b") || !strings.Contains(out, "tier: tl-b\n") {
		t.Fatalf("get -o yaml does not show the label and the tier:\n%s", out)
	}
	edited := strings.Replace(out, "  tier: tl-b\n", "  tier: tl-a\n", 1)
	if edited == out {
		t.Fatalf("no spec.tier line to edit:\n%s", out)
	}
	mustCalicoctlIn(t, edited, "apply", "-f", "-")
	if got := label("networkpolicies.projectcalico.org", "-n", "default", "tl-np"); got != "tl-a" {
		t.Errorf("after applying edited output: tier label %q, want tl-a", got)
	}
}

func mustCalicoctlIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := calicoctl(t, stdin, args...)
	if code != 0 {
		t.Fatalf("calicoctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}
