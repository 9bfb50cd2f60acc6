package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/admission"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/poll"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// TestWebhooksWithKubectl uses the lab's calico-apiserver (the lab runs
// it and registers its webhooks) and checks, with the real kubectl and real RBAC:
// a user bound only to tier app manages policies there and is refused in
// tier security with a clear message, while an admin may do both; an
// invalid selector is refused with its position and nothing is stored;
// kubectl and calicoctl store the same object; built-in tiers and tiers
// with policies cannot be deleted.
func TestWebhooksWithKubectl(t *testing.T) {
	bin := labtest.Bin(t)
	ctx := context.Background()
	kube := testLab.Client.Kube
	// The lab runs calico-apiserver and registers its webhooks (up waits
	// until they are in force).
	for _, name := range []string{admission.WebhookName} {
		if _, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("the lab registered no validating webhook %s: %v", name, err)
		}
	}

	kubectl := func(stdin string, args ...string) (string, error) {
		c := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", testLab.Config.KubeconfigPath()}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		return string(out), err
	}

	for _, tier := range []string{"app", "security"} {
		if out, err := kubectl(fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: %s}\nspec: {order: 100}\n", tier), "apply", "-f", "-"); err != nil {
			t.Fatalf("tier %s: %v\n%s", tier, err, out)
		}
	}
	if out, err := kubectl("", "create", "namespace", "app"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// dev may use the CRD, but in tier app only.
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "tier-app-editor"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"networkpolicies"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}},
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"tier.networkpolicies"}, ResourceNames: []string{"app.*"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}},
	}}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dev-tier-app", Namespace: "app"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "dev", APIGroup: "rbac.authorization.k8s.io"}},
		RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: role.Name, APIGroup: "rbac.authorization.k8s.io"}}
	if _, err := kube.RbacV1().RoleBindings("app").Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Tiers are cluster-scoped: reading one takes a cluster binding, as
	// in Calico's documentation.
	reader := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "tier-app-reader"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"projectcalico.org"}, Resources: []string{"tiers"}, ResourceNames: []string{"app"}, Verbs: []string{"get"}},
	}}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, reader, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dev-tier-app-reader"}, Subjects: binding.Subjects,
		RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: reader.Name, APIGroup: "rbac.authorization.k8s.io"}}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	policy := func(name, tier, selector string) string {
		return fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: %s, namespace: app}\nspec:\n  tier: %s\n  selector: %q\n  ingress: [{action: Allow}]\n", name, tier, selector)
	}
	// RBAC bindings reach the authorizer's cache shortly after creation.
	var last string
	poll.Until(t, 20*time.Second, "dev may create in tier app", func() bool {
		out, err := kubectl(policy("web", "app", "app == 'web'"), "--as", "dev", "apply", "-f", "-")
		last = out
		return err == nil
	}, &last)
	if out, err := kubectl(policy("web", "app", "app == 'web2'"), "--as", "dev", "apply", "-f", "-"); err != nil {
		t.Errorf("dev updating in tier app: %v\n%s", err, out)
	}
	out, err := kubectl(policy("lockdown", "security", "all()"), "--as", "dev", "apply", "-f", "-")
	if err == nil || !strings.Contains(out, `User "dev" cannot get tiers.projectcalico.org "security"`) {
		t.Errorf("dev in tier security: %v\n%s", err, out)
	}
	if out, err := kubectl(policy("lockdown", "security", "all()"), "apply", "-f", "-"); err != nil {
		t.Errorf("admin in tier security: %v\n%s", err, out)
	}
	if out, err := kubectl("", "--as", "dev", "delete", "networkpolicies.projectcalico.org", "-n", "app", "lockdown"); err == nil || !strings.Contains(out, "cannot get tiers.projectcalico.org") {
		t.Errorf("dev deleting in tier security: %v\n%s", err, out)
	}
	if out, err := kubectl("", "--as", "dev", "delete", "networkpolicies.projectcalico.org", "-n", "app", "web"); err != nil {
		t.Errorf("dev deleting in tier app: %v\n%s", err, out)
	}

	// An invalid selector: refused, with where the error is; not stored.
	out, err = kubectl(policy("broken", "app", "app == 'web' && ("), "apply", "-f", "-")
	if err == nil || !strings.Contains(out, "spec.selector") || !strings.Contains(out, "position") {
		t.Errorf("invalid selector: %v\n%s", err, out)
	}
	if out, err := kubectl("", "get", "networkpolicies.projectcalico.org", "-n", "app", "broken"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("the invalid policy was stored: %v\n%s", err, out)
	}

	// kubectl and calicoctl store the same thing.
	gnp := func(name string) string {
		return fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: %s}\nspec:\n  selector: role == 'db'\n  egress: [{action: Allow, protocol: TCP, destination: {ports: [5432]}}]\n", name)
	}
	if out, err := kubectl(gnp("by-kubectl"), "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cc := exec.Command(filepath.Join(bin, "calicoctl"), "--kubeconfig", testLab.Config.KubeconfigPath(), "apply", "-f", "-")
	cc.Stdin = strings.NewReader(gnp("by-calicoctl"))
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("calicoctl: %v\n%s", err, out)
	}
	spec := func(name string) string {
		out, err := kubectl("", "get", "globalnetworkpolicies.projectcalico.org", name, "-o", "json")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var o struct{ Spec any }
		if err := json.Unmarshal([]byte(out), &o); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(o.Spec)
		return string(b)
	}
	if a, b := spec("by-kubectl"), spec("by-calicoctl"); a != b {
		t.Errorf("stored differently:\nkubectl   %s\ncalicoctl %s", a, b)
	} else if !strings.Contains(a, `"types":["Egress"]`) || !strings.Contains(a, `"tier":"default"`) {
		t.Errorf("not defaulted: %s", a)
	}

	// Accepted but not fully honoured (validation.Warnings): kubectl prints
	// the webhook's warning; calicoctl prints its own, once, although the
	// server answers its dry run and its write with the same warning.
	const httpWarning = "spec.ingress[0].http: HTTP matches are not enforced by this dataplane (no L7 proxy); the rule applies to its L3/L4 part only"
	httpPolicy := func(name string) string {
		return fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: %s}\nspec:\n  selector: role == 'api'\n  ingress: [{action: Deny, http: {paths: [{prefix: /admin}]}}, {action: Allow}]\n", name)
	}
	if out, err := kubectl(httpPolicy("http-by-kubectl"), "apply", "-f", "-"); err != nil || !strings.Contains(out, "Warning: "+httpWarning) {
		t.Errorf("kubectl apply of a Deny rule with an http match: %v, want the warning\n%s", err, out)
	}
	cc = exec.Command(filepath.Join(bin, "calicoctl"), "--kubeconfig", testLab.Config.KubeconfigPath(), "apply", "-f", "-")
	cc.Stdin = strings.NewReader(httpPolicy("http-by-calicoctl"))
	var ccErr strings.Builder
	cc.Stderr = &ccErr
	if err := cc.Run(); err != nil || strings.Count(ccErr.String(), "Warning:") != 1 || !strings.Contains(ccErr.String(), "Warning: "+httpWarning) {
		t.Errorf("calicoctl apply of a Deny rule with an http match: %v, want the warning once\n%s", err, ccErr.String())
	}

	// Tiers: built-in ones and ones with policies stay.
	if out, err := kubectl("", "delete", "tier", "default"); err == nil {
		t.Errorf("deleted the default tier\n%s", out)
	}
	if out, err := kubectl("", "delete", "tier", "security"); err == nil || !strings.Contains(out, `tier "security" still has 1 policies`) {
		t.Errorf("deleting a tier with a policy: %v\n%s", err, out)
	}
	if out, err := kubectl("", "delete", "tier", "app"); err != nil {
		t.Errorf("deleting the empty tier app: %v\n%s", err, out)
	}
}
