package ctl_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/calicong/calico/internal/ctl"
	"github.com/calicong/calico/internal/lab/labtest"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// calicoctl runs the command in-process against the test lab.
func calicoctl(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"--kubeconfig", testLab.Config.KubeconfigPath()}, args...)
	code = ctl.Run(context.Background(), args, ctl.Streams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), code
}

func mustCalicoctl(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := calicoctl(t, "", args...)
	if code != 0 {
		t.Fatalf("calicoctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := labtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", testLab.Config.KubeconfigPath()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// specOf returns the spec of a YAML document as a generic value.
func specOf(t *testing.T, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	spec, _ := m["spec"].(map[string]any)
	return spec
}

func TestApplyIsIdempotentAndDeleteRemoves(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	out := mustCalicoctl(t, "apply", "-f", "testdata/policies.yaml")
	if !strings.Contains(out, "5 created") {
		t.Errorf("first apply: %q", out)
	}
	out = mustCalicoctl(t, "apply", "-f", "testdata/policies.yaml")
	if !strings.Contains(out, "5 unchanged") {
		t.Errorf("second apply should change nothing: %q", out)
	}
	rv := strings.TrimSpace(kubectl(t, "get", "gnp", "security.block-bad", "-o", "jsonpath={.metadata.resourceVersion}"))
	mustCalicoctl(t, "apply", "-f", "testdata/policies.yaml")
	if again := strings.TrimSpace(kubectl(t, "get", "gnp", "security.block-bad", "-o", "jsonpath={.metadata.resourceVersion}")); again != rv {
		t.Errorf("re-apply rewrote the object (resourceVersion %s → %s)", rv, again)
	}

	// Defaults are stored: types from the rules, the pool's block size.
	spec := specOf(t, mustCalicoctl(t, "get", "gnp", "security.block-bad", "-o", "yaml"))
	if got := spec["types"]; len(got.([]any)) != 2 {
		t.Errorf("types %v, want [Ingress Egress]", got)
	}
	spec = specOf(t, mustCalicoctl(t, "get", "ippool", "pool-a", "-o", "yaml"))
	if spec["blockSize"] != float64(26) || spec["nodeSelector"] != "all()" {
		t.Errorf("pool defaults missing: %v", spec)
	}
	wide := mustCalicoctl(t, "get", "networkpolicy", "-n", "default", "-o", "wide")
	if !strings.Contains(wide, "allow-web") || !strings.Contains(wide, "app == 'web'") || !strings.Contains(wide, "default") {
		t.Errorf("wide output:\n%s", wide)
	}
	if names := mustCalicoctl(t, "get", "gns", "-o", "name"); strings.TrimSpace(names) != "globalnetworkset.projectcalico.org/bad-nets" {
		t.Errorf("-o name: %q", names)
	}

	out = mustCalicoctl(t, "delete", "-f", "testdata/policies.yaml")
	if !strings.Contains(out, "deleted 5") {
		t.Errorf("delete: %q", out)
	}
	for _, kind := range []string{"gnp", "gns", "ippool"} {
		if out := mustCalicoctl(t, "get", kind, "-o", "name"); strings.TrimSpace(out) != "" {
			t.Errorf("%s left after delete -f: %q", kind, out)
		}
	}
	if _, errOut, code := calicoctl(t, "", "get", "tier", "security"); code != 1 || !strings.Contains(errOut, `Tier "security" not found`) {
		t.Errorf("tier security after delete -f: exit %d %q", code, errOut)
	}
}

func TestInvalidDocumentRejectsWholeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	_, errOut, code := calicoctl(t, "", "apply", "-f", "testdata/bad-selector.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"testdata/bad-selector.yaml", "document 2", `GlobalNetworkPolicy "broken"`,
		"spec.ingress[0].source.selector", "position 22", "nothing was written",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error does not mention %q:\n%s", want, errOut)
		}
	}
	for _, probe := range [][]string{{"gns", "fine-set"}, {"tier", "fine-tier"}} {
		if _, _, code := calicoctl(t, "", "get", probe[0], probe[1]); code == 0 {
			t.Errorf("%s %s was written although its file had an invalid document", probe[0], probe[1])
		}
	}
}

func TestServerSideRejectionWritesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	// The first document is fine; the second passes local checks only if
	// the server-side dry run is skipped (a name the API server refuses).
	in := `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: dry-first}
spec: {nets: [10.1.0.0/16]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: Not_A_Valid_Name}
spec: {nets: [10.2.0.0/16]}
`
	_, errOut, code := calicoctl(t, in, "create", "-f", "-")
	if code != 1 || !strings.Contains(errOut, "document 2") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, _, code := calicoctl(t, "", "get", "gns", "dry-first"); code == 0 {
		t.Error("the first document was written although the second was refused")
	}
}

func TestKubectlAppliedObjectsShowDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	kubectl(t, "apply", "-f", "testdata/policies.yaml")
	// calicoctl deletes the tier after its policies; kubectl, in file
	// order, would be refused the tier.
	defer mustCalicoctl(t, "delete", "-f", "testdata/policies.yaml")
	spec := specOf(t, mustCalicoctl(t, "get", "networkpolicy", "allow-web", "-n", "default", "-o", "yaml"))
	if spec["tier"] != "default" {
		t.Errorf("tier %v, want default", spec["tier"])
	}
	if types, _ := spec["types"].([]any); len(types) != 1 || types[0] != "Ingress" {
		t.Errorf("types %v, want [Ingress] (defaulted by the admission policy)", spec["types"])
	}
	// Same files through calicoctl: nothing to change.
	out := mustCalicoctl(t, "apply", "-f", "testdata/policies.yaml")
	if !strings.Contains(out, "5 unchanged") {
		t.Errorf("calicoctl apply after kubectl apply: %q", out)
	}
}

func TestBuiltinTiersCannotBeDeleted(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	out := mustCalicoctl(t, "get", "tiers")
	for _, tier := range []string{"default", "kube-admin", "kube-baseline"} {
		if !strings.Contains(out, tier) {
			t.Errorf("tier %s missing:\n%s", tier, out)
		}
	}
	_, errOut, code := calicoctl(t, "", "delete", "tier", "default")
	if code != 1 || !strings.Contains(errOut, "built in") {
		t.Errorf("delete tier default: exit %d %q", code, errOut)
	}
	if _, _, code := calicoctl(t, "", "get", "tier", "default"); code != 0 {
		t.Error("tier default is gone")
	}
}

func TestDeleteChecksEverythingFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	mustCalicoctl(t, "apply", "-f", "testdata/list.json")
	_, errOut, code := calicoctl(t, "", "delete", "gns", "json-set", "no-such-set")
	if code != 1 || !strings.Contains(errOut, `"no-such-set"`) || !strings.Contains(errOut, "nothing was deleted") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, _, code := calicoctl(t, "", "get", "gns", "json-set"); code != 0 {
		t.Fatal("json-set was deleted although another target did not exist")
	}
	mustCalicoctl(t, "delete", "gns", "json-set", "no-such-set", "--skip-not-exists")
	if _, _, code := calicoctl(t, "", "get", "gns", "json-set"); code == 0 {
		t.Fatal("json-set still exists")
	}
}

func TestPatchAndLabel(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	mustCalicoctl(t, "apply", "-f", "testdata/list.json")
	defer calicoctl(t, "", "delete", "gns", "json-set")

	mustCalicoctl(t, "patch", "gns", "json-set", "-p", `{"spec":{"nets":["10.9.0.0/16","10.10.0.0/16"]}}`)
	if spec := specOf(t, mustCalicoctl(t, "get", "gns", "json-set", "-o", "yaml")); len(spec["nets"].([]any)) != 2 {
		t.Errorf("patch not applied: %v", spec)
	}
	_, errOut, code := calicoctl(t, "", "patch", "gns", "json-set", "-p", `{"spec":{"nets":["not-a-cidr"]}}`)
	if code != 1 || !strings.Contains(errOut, "spec.nets[0]") {
		t.Errorf("invalid patch: exit %d %s", code, errOut)
	}

	mustCalicoctl(t, "label", "gns", "json-set", "env=prod")
	if _, errOut, code := calicoctl(t, "", "label", "gns", "json-set", "env=dev"); code != 1 || !strings.Contains(errOut, "--overwrite") {
		t.Errorf("relabel without --overwrite: exit %d %s", code, errOut)
	}
	mustCalicoctl(t, "label", "gns", "json-set", "env=dev", "--overwrite")
	if out := kubectl(t, "get", "gns", "json-set", "-o", "jsonpath={.metadata.labels.env}"); out != "dev" {
		t.Errorf("label env=%q, want dev", out)
	}
	mustCalicoctl(t, "label", "gns", "json-set", "env", "--remove")
	if out := kubectl(t, "get", "gns", "json-set", "-o", "jsonpath={.metadata.labels}"); strings.Contains(out, "env") {
		t.Errorf("label not removed: %s", out)
	}
}

func TestBadInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	cases := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"unknown kind", "", []string{"get", "nosuchthing"}, `unknown resource type "nosuchthing"`},
		{"bad output", "", []string{"get", "gnp", "-o", "xml"}, `unknown output format "xml"`},
		{"malformed yaml", "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: [\n", []string{"apply", "-f", "-"}, "<stdin>: document 1"},
		{"unknown field", "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {ordr: 3}\n", []string{"apply", "-f", "-"}, `unknown field "spec.ordr"`},
		{"foreign api", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n", []string{"apply", "-f", "-"}, "use kubectl for other kinds"},
		{"missing file", "", []string{"apply", "-f", "testdata/nope.yaml"}, "nope.yaml"},
		{"no name", "apiVersion: projectcalico.org/v3\nkind: Tier\nspec: {order: 3}\n", []string{"create", "-f", "-"}, "metadata.name: Required value"},
		{"derived kind", "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: p}\n", []string{"apply", "-f", "-"}, "derived from Kubernetes objects"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := calicoctl(t, c.stdin, c.args...)
			if code != 1 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 mentioning %q", code, errOut, c.want)
			}
		})
	}
}

func TestSynthesisedKinds(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	// The controller manager creates each namespace's default
	// ServiceAccount shortly after start.
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; {
		out = mustCalicoctl(t, "get", "profiles")
		if strings.Contains(out, "ksa.kube-system.default") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"kns.default", "ksa.kube-system.default", "projectcalico-default-allow"} {
		if !strings.Contains(out, want) {
			t.Errorf("profiles do not include %s:\n%s", want, out)
		}
	}
	if out := mustCalicoctl(t, "version"); !strings.Contains(out, "Cluster Version") {
		t.Errorf("version: %q", out)
	}
}
