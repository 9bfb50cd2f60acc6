package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/admission/admissiontest"
	"github.com/calicong/calico/internal/admission/migrate"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/poll"
)

func kubectlIn(t *testing.T, bin, stdin string, args ...string) (string, error) {
	t.Helper()
	c := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", testLab.Config.KubeconfigPath()}, args...)...)
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	return string(out), err
}

func tierLabel(t *testing.T, bin, resource, ns, name string) string {
	t.Helper()
	args := []string{"get", resource, name, "-o", `jsonpath={.metadata.labels.projectcalico\.org/tier}`}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	out, err := kubectlIn(t, bin, "", args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// TestTierLabelWithKubectl: a policy written with kubectl gets its tier
// label, through calico-apiserver's webhooks and, without them, through
// the admission policies of config/admission; a patch of spec.tier moves
// the label with it; a label naming another tier is refused; listing by
// the label lists by tier.
func TestTierLabelWithKubectl(t *testing.T) {
	bin := labtest.Bin(t)
	if out, err := kubectlIn(t, bin, "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: kl}\nspec: {order: 300}\n", "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	policy := func(name, tier, labels string) string {
		return fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: %s, namespace: default%s}\nspec: {tier: %s, selector: all(), ingress: [{action: Allow}]}\n", name, labels, tier)
	}
	const resource = "networkpolicies.projectcalico.org"
	t.Cleanup(func() {
		_, _ = kubectlIn(t, bin, "", "delete", resource, "-n", "default", "kl-web", "kl-direct", "--ignore-not-found")
		_, _ = kubectlIn(t, bin, "", "delete", "tier", "kl", "--ignore-not-found")
	})

	check := func(t *testing.T, name, refusedBy string) {
		if out, err := kubectlIn(t, bin, policy(name, "kl", ""), "apply", "-f", "-"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got := tierLabel(t, bin, resource, "default", name); got != "kl" {
			t.Errorf("kubectl apply: tier label %q, want kl", got)
		}
		out, err := kubectlIn(t, bin, "", "get", resource, "-A", "-l", "projectcalico.org/tier=kl", "-o", "name")
		if err != nil || !strings.Contains(out, "/"+name+"\n") {
			t.Errorf("listing tier kl: %v\n%s", err, out)
		}
		if out, err := kubectlIn(t, bin, "", "patch", resource, "-n", "default", name, "--type", "merge", "-p", `{"spec":{"tier":"default"}}`); err != nil {
			t.Fatalf("patching spec.tier: %v\n%s", err, out)
		}
		if got := tierLabel(t, bin, resource, "default", name); got != "default" {
			t.Errorf("after a patch of spec.tier: tier label %q, want default", got)
		}
		out, err = kubectlIn(t, bin, "", "label", resource, "-n", "default", name, "projectcalico.org/tier=kl", "--overwrite")
		if err == nil || !strings.Contains(out, `the tier label must name the policy's tier "default"`) || !strings.Contains(out, refusedBy) {
			t.Errorf("labelling with another tier: %v\n%s", err, out)
		}
		out, err = kubectlIn(t, bin, policy(name+"-wrong", "kl", ", labels: {projectcalico.org/tier: default}"), "apply", "-f", "-")
		if err == nil || !strings.Contains(out, `metadata.labels[projectcalico.org/tier]: Invalid value: "default"`) || !strings.Contains(out, refusedBy) {
			t.Errorf("a contradicting label: %v\n%s", err, out)
		}
	}
	// With the webhooks, the admission policy refuses first (validating
	// admission policies run before validating webhooks); the webhook's
	// own refusal is internal/admission's TestTierLabel.
	t.Run("webhooks", func(t *testing.T) { check(t, "kl-web", "") })
	t.Run("admission policies only", func(t *testing.T) {
		testLab.WithoutWebhooks(t)
		check(t, "kl-direct", "ValidatingAdmissionPolicy 'calico-policy-tier-label'")
	})
}

// TestTierLabelMigration: policies stored without their tier label, or with
// a wrong one (an older calicoctl wrote back Calico's own output, which
// shows a missing label as tier default), get the right label from two
// replicas running the migration at once, each policy written once; a
// second run writes nothing; a policy the API server now refuses is left
// as it is and reported; and calico-apiserver runs it at start-up.
func TestTierLabelMigration(t *testing.T) {
	bin := labtest.Bin(t)
	ctx := context.Background()
	c := testLab.Client
	// The lab's own calico-apiserver migrated at start-up; its retries
	// must be over before objects appear that it could label too.
	var logs string
	poll.Until(t, 90*time.Second, "the lab's calico-apiserver to finish its migration", func() bool {
		b, _ := os.ReadFile(filepath.Join(testLab.Config.StateDir, "logs", "calico-apiserver.log"))
		logs = string(b)
		return strings.Contains(logs, "policies carry their tier label")
	}, &logs)

	if out, err := kubectlIn(t, bin, "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: mig}\nspec: {order: 400}\n", "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rules := []v3.Rule{{Action: v3.Allow}}
	typed := func(o v3.Object) v3.Object {
		k, _ := v3.KindOf(o)
		o.GetObjectKind().SetGroupVersionKind(k.GroupVersionKind())
		return o
	}
	unlabelled := typed(&v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "mig-unlabelled", Namespace: "default"},
		Spec: v3.NetworkPolicySpec{Tier: "mig", Selector: "all()", Ingress: rules}})
	wrong := typed(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "mig-wrong", Labels: map[string]string{v3.LabelTier: "default", "team": "a"}},
		Spec: v3.GlobalNetworkPolicySpec{Tier: "mig", Selector: "all()", Ingress: rules}})
	staged := typed(&v3.StagedNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "mig-staged", Namespace: "default"},
		Spec: v3.StagedNetworkPolicySpec{Selector: "all()", Ingress: rules}})
	right := typed(&v3.StagedGlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "mig-right", Labels: map[string]string{v3.LabelTier: "mig"}},
		Spec: v3.StagedGlobalNetworkPolicySpec{Tier: "mig", Selector: "all()", Ingress: rules}})
	invalid := typed(&v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "mig-invalid"},
		Spec: v3.GlobalNetworkPolicySpec{Tier: "mig", Selector: "a ==", Ingress: rules}})
	all := []v3.Object{unlabelled, wrong, staged, right, invalid}
	t.Cleanup(func() {
		for _, o := range append(all, typed(&v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "mig-startup", Namespace: "default"}})) {
			k, _ := v3.KindOf(o)
			_ = c.Delete(context.Background(), k, o.GetNamespace(), o.GetName(), nil)
		}
		_, _ = kubectlIn(t, bin, "", "delete", "tier", "mig", "--ignore-not-found")
	})
	admissiontest.StoreAsBefore(t, c, all...)

	get := func(o v3.Object) v3.Object {
		t.Helper()
		k, _ := v3.KindOf(o)
		got, err := c.Get(ctx, k, o.GetNamespace(), o.GetName())
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if l := get(unlabelled).GetLabels(); len(l) != 0 {
		t.Fatalf("stored with labels %v, want none", l)
	}

	// Two replicas at once.
	var logBuf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logBuf, mu: &mu}, nil))
	type outcome struct {
		labelled, refused int
		err               error
	}
	outcomes := make([]outcome, 2)
	var wg sync.WaitGroup
	for i := range outcomes {
		wg.Go(func() {
			for range 20 {
				res, err := migrate.TierLabels(ctx, c, log)
				outcomes[i].labelled += res.Labelled
				outcomes[i].refused = res.Refused
				if err == nil || res.Changed == 0 {
					outcomes[i].err = err
					return
				}
			}
			outcomes[i].err = fmt.Errorf("still conflicting after 20 passes")
		})
	}
	wg.Wait()
	labelled := 0
	for i, o := range outcomes {
		if o.err != nil {
			t.Fatalf("replica %d: %v", i, o.err)
		}
		if o.refused != 1 {
			t.Errorf("replica %d refused %d policies, want 1 (mig-invalid)", i, o.refused)
		}
		labelled += o.labelled
	}
	if labelled != 3 {
		t.Errorf("the replicas labelled %d policies between them (%+v), want 3, each once", labelled, outcomes)
	}
	for _, o := range []v3.Object{unlabelled, wrong, right} {
		if got := get(o).GetLabels()[v3.LabelTier]; got != "mig" {
			t.Errorf("%s: tier label %q, want mig", o.GetName(), got)
		}
	}
	if got := get(staged).GetLabels()[v3.LabelTier]; got != "default" {
		t.Errorf("%s (no tier): tier label %q, want default", staged.GetName(), got)
	}
	if got := get(wrong).GetLabels()["team"]; got != "a" {
		t.Errorf("mig-wrong lost its other label: team=%q", got)
	}
	if l := get(invalid).GetLabels(); len(l) != 0 {
		t.Errorf("mig-invalid was changed: labels %v", l)
	}
	mu.Lock()
	if !strings.Contains(logBuf.String(), "mig-invalid") || !strings.Contains(logBuf.String(), "refuses as invalid") {
		t.Errorf("the refused policy is not reported:\n%s", logBuf.String())
	}
	mu.Unlock()

	// Idempotent: nothing to write the second time.
	before := map[string]string{}
	for _, o := range all {
		before[o.GetName()] = get(o).GetResourceVersion()
	}
	res, err := migrate.TierLabels(ctx, c, log)
	if err != nil || res.Labelled != 0 || res.Current < 4 || res.Refused != 1 {
		t.Errorf("second run: %+v %v, want nothing labelled", res, err)
	}
	for _, o := range all {
		if rv := get(o).GetResourceVersion(); rv != before[o.GetName()] {
			t.Errorf("second run rewrote %s (resourceVersion %s → %s)", o.GetName(), before[o.GetName()], rv)
		}
	}

	// calico-apiserver does it at start-up.
	startup := typed(&v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "mig-startup", Namespace: "default"},
		Spec: v3.NetworkPolicySpec{Tier: "mig", Selector: "all()", Ingress: rules}})
	admissiontest.StoreAsBefore(t, c, startup)
	const secret = "calico-apiserver-migration-test"
	t.Cleanup(func() {
		_ = c.Kube.CoreV1().Secrets("kube-system").Delete(context.Background(), secret, metav1.DeleteOptions{})
	})
	ports, err := labtest.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	p := labtest.StartProcess(t, "calico-apiserver", exec.Command(filepath.Join(bin, "calico-apiserver"),
		"--kubeconfig", testLab.Config.KubeconfigPath(), "--secure-port", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--health-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--cert-secret", "kube-system/"+secret, "--service", "kube-system/calico-apiserver"))
	defer func() { _ = p.Stop() }()
	var last string
	poll.Until(t, 60*time.Second, "calico-apiserver to label the policy at start-up", func() bool {
		last = p.Logs.String()
		return get(startup).GetLabels()[v3.LabelTier] == "mig" && strings.Contains(last, "policies carry their tier label")
	}, &last)
}

// lockedWriter serialises the replicas' log lines.
type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
