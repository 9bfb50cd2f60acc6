package ctl_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calicong/calico/api/v3/validation/corpus"
	"github.com/calicong/calico/internal/ctl"
)

// offline runs calicoctl without a cluster (validate needs none).
func offline(stdin string, args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = ctl.Run(context.Background(), args, ctl.Streams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), code
}

// TestValidateGivesCorpusVerdicts runs every case of the upstream corpus
// through `calicoctl validate -f`: the exit code must be upstream's verdict,
// except for the cases the corpus declares deliberate.
func TestValidateGivesCorpusVerdicts(t *testing.T) {
	cases, err := corpus.Load("../../api/v3/validation/testdata/upstream-cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range cases {
		f := filepath.Join(dir, "case.yaml")
		if err := os.WriteFile(f, c.Resource, 0o600); err != nil {
			t.Fatal(err)
		}
		want := c.Valid != (c.Deliberate != "")
		_, errOut, code := offline("", "validate", "-f", f)
		if got := code == 0; got != want {
			t.Errorf("%s: calicoctl validate exit %d, want valid=%v\n%s", c.Name(), code, want, errOut)
		}
	}
}

func TestValidateMatchesFieldNamesInAnyCase(t *testing.T) {
	in := `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
Metadata: {Name: mixed-case}
Spec:
  Selector: app == 'web'
  Ingress:
  - Action: Allow
    Protocol: TCP
    Destination: {Ports: [80], NotNets: [10.0.0.0/8]}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool}
spec: {CIDR: 10.10.0.0/16, IPIPMode: Never, VXLANMode: CrossSubnet, NATOutgoing: true}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: hep, labels: {Role: Gateway}}
spec: {node: n1, InterfaceName: eth0}
`
	out, errOut, code := offline(in, "validate", "-f", "-")
	if code != 0 || !strings.Contains(out, "3 resource(s) valid") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	// A field in another case is still checked: this port is invalid.
	bad := "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  INGRESS: [{action: Allow, protocol: TCP, destination: {PORTS: [0]}}]\n"
	if _, errOut, code := offline(bad, "validate", "-f", "-"); code != 1 || !strings.Contains(errOut, "spec.ingress[0].destination.ports[0]") {
		t.Errorf("invalid port in upper-case fields: exit %d\n%s", code, errOut)
	}
	for name, c := range map[string]struct{ doc, want string }{
		"unknown field": {"apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {ordr: 3}\n", `unknown field "spec.ordr"`},
		"field twice":   {"apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: 3, Order: 4}\n", "spec.order given twice"},
	} {
		if _, errOut, code := offline(c.doc, "validate", "-f", "-"); code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, want an error mentioning %q:\n%s", name, code, c.want, errOut)
		}
	}
}

// validate checks the kinds derived from Kubernetes objects too; only the
// writing commands refuse them.
func TestValidateDerivedKinds(t *testing.T) {
	in := `apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: node1-k8s-web-eth0, namespace: prod}
spec: {interfaceName: cali0123456789a, ipNetworks: [10.0.0.5/32], ports: [{name: http, protocol: TCP, port: 80}]}
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.prod}
spec: {labelsToApply: {team: web}}
`
	if out, errOut, code := offline(in, "validate", "-f", "-"); code != 0 || !strings.Contains(out, "2 resource(s) valid") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	bad := "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {name: w, namespace: prod}\nspec: {ipNetworks: [10.0.0.0/24]}\n"
	_, errOut, code := offline(bad, "validate", "-f", "-")
	if code != 1 || !strings.Contains(errOut, "spec.interfaceName: Required value") || !strings.Contains(errOut, "spec.ipNetworks[0]") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}

// Accepted resources that ask for what this dataplane does not honour are
// reported on stderr in kubectl's form, without changing the exit code.
func TestValidatePrintsWarnings(t *testing.T) {
	in := `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  selector: app == 'web'
  ingress:
  - {action: Allow, protocol: TCP, destination: {ports: [80]}}
  - {action: Deny, http: {paths: [{prefix: /admin}]}}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: ipip}
spec: {cidr: 10.30.0.0/16, ipipMode: CrossSubnet}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: vxlan}
spec: {cidr: 10.31.0.0/16, vxlanMode: Always}
`
	out, errOut, code := offline(in, "validate", "-f", "-")
	if code != 0 || !strings.Contains(out, "3 resource(s) valid") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	want := []string{
		`Warning: spec.ingress[1].http: HTTP matches are not enforced by this dataplane (no L7 proxy); the rule applies to its L3/L4 part only [<stdin>: document 1 (NetworkPolicy "prod/web")]`,
		`Warning: spec.ipipMode: IPIP is not implemented; pool 10.30.0.0/16 is routed without encapsulation (use vxlanMode: Always or CrossSubnet instead) [<stdin>: document 2 (IPPool "ipip")]`,
	}
	if got := strings.Split(strings.TrimSpace(errOut), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, strings.Join(want, "\n"))
	}
	// An invalid document fails validation; nothing is said about the valid
	// ones' warnings then.
	bad := in + "---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: Bad}\n"
	if _, errOut, code := offline(bad, "validate", "-f", "-"); code != 1 || strings.Contains(errOut, "Warning:") {
		t.Errorf("with an invalid document: exit %d\n%s", code, errOut)
	}
}

// A NetworkPolicy named like a converted Kubernetes one is valid (validate
// accepts it, as Calico's validator does) but, as in Calico's calicoctl,
// cannot be written: the refusal comes before any contact with a cluster.
func TestKubernetesPolicyNamesAreNotWritten(t *testing.T) {
	in := "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: knp.default.web, namespace: prod}\nspec: {ingress: [{action: Allow}]}\n"
	if out, errOut, code := offline(in, "validate", "-f", "-"); code != 0 {
		t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
	}
	for _, verb := range []string{"create", "apply", "replace"} {
		_, errOut, code := offline(in, "--kubeconfig", "/nonexistent", verb, "-f", "-")
		if code != 1 || !strings.Contains(errOut, "kubernetes network policies must be managed through the Kubernetes API") || !strings.Contains(errOut, "nothing was written") {
			t.Errorf("%s: exit %d\n%s", verb, code, errOut)
		}
	}
}
