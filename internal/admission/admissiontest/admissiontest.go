// Package admissiontest stores Calico objects, for tests, as releases
// before the projectcalico.org/tier label stored them: with neither
// calico-apiserver's webhooks nor the tier-label admission policies
// (config/admission) in the API server's path, so that a policy is kept
// without its label, or with a wrong one. Everything taken away is put
// back, and the test waits until it is in force again.
package admissiontest

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/admission"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/poll"
)

// TierLabelPolicy names the admission policy and binding (mutating and
// validating) of config/admission/policy-tier-label.yaml.
const TierLabelPolicy = "calico-policy-tier-label"

// StoreAsBefore creates objs as they are given, labels included, with the
// tier label's admission taken away meanwhile.
func StoreAsBefore(t testing.TB, c *datastore.Client, objs ...v3.Object) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ar := c.Kube.AdmissionregistrationV1()

	mwc, errM := ar.MutatingWebhookConfigurations().Get(ctx, admission.WebhookName, metav1.GetOptions{})
	vwc, errV := ar.ValidatingWebhookConfigurations().Get(ctx, admission.WebhookName, metav1.GetOptions{})
	mapb, errMB := ar.MutatingAdmissionPolicyBindings().Get(ctx, TierLabelPolicy, metav1.GetOptions{})
	vapb, errVB := ar.ValidatingAdmissionPolicyBindings().Get(ctx, TierLabelPolicy, metav1.GetOptions{})
	for _, err := range []error{errM, errV, errMB, errVB} {
		if err != nil {
			t.Fatalf("admissiontest: reading what to take away: %v", err)
		}
	}
	del := metav1.DeleteOptions{}
	for _, err := range []error{
		ar.MutatingWebhookConfigurations().Delete(ctx, admission.WebhookName, del),
		ar.ValidatingWebhookConfigurations().Delete(ctx, admission.WebhookName, del),
		ar.MutatingAdmissionPolicyBindings().Delete(ctx, TierLabelPolicy, del),
		ar.ValidatingAdmissionPolicyBindings().Delete(ctx, TierLabelPolicy, del),
	} {
		if err != nil {
			t.Fatalf("admissiontest: taking admission away: %v", err)
		}
	}
	restore := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		mwc.ObjectMeta = metav1.ObjectMeta{Name: mwc.Name, Labels: mwc.Labels, Annotations: mwc.Annotations}
		vwc.ObjectMeta = metav1.ObjectMeta{Name: vwc.Name, Labels: vwc.Labels, Annotations: vwc.Annotations}
		mapb.ObjectMeta = metav1.ObjectMeta{Name: mapb.Name}
		vapb.ObjectMeta = metav1.ObjectMeta{Name: vapb.Name}
		_, e1 := ar.MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{})
		_, e2 := ar.ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{})
		_, e3 := ar.MutatingAdmissionPolicyBindings().Create(ctx, mapb, metav1.CreateOptions{})
		_, e4 := ar.ValidatingAdmissionPolicyBindings().Create(ctx, vapb, metav1.CreateOptions{})
		for _, err := range []error{e1, e2, e3, e4} {
			if err != nil {
				t.Errorf("admissiontest: restoring admission: %v", err)
				return
			}
		}
		WaitInForce(t, c, true)
	}
	defer restore()

	WaitInForce(t, c, false)
	for _, o := range objs {
		if _, err := c.Create(ctx, o); err != nil {
			t.Fatalf("admissiontest: storing %s %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
}

// WaitInForce waits until the tier label's admission is in force (a new
// policy gets its label, one with a contradicting label is refused, and
// calico-apiserver's webhooks answer), or, with inForce false, until none
// of it acts.
func WaitInForce(t testing.TB, c *datastore.Client, inForce bool) {
	t.Helper()
	probe := func(selector string, labels map[string]string) *v3.GlobalNetworkPolicy {
		p := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "admissiontest-probe", Labels: labels},
			Spec: v3.GlobalNetworkPolicySpec{Tier: v3.DefaultTierName, Selector: selector}}
		p.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("GlobalNetworkPolicy"))
		return p
	}
	var last string
	poll.Until(t, 90*time.Second, map[bool]string{true: "the tier label's admission to be in force", false: "the tier label's admission to be gone"}[inForce], func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := c.Create(ctx, probe("all()", nil), datastore.DryRun())
		if err != nil {
			last = "unlabelled probe: " + err.Error()
			return false
		}
		labelled := out.GetLabels()[v3.LabelTier] == v3.DefaultTierName
		_, wrongErr := c.Create(ctx, probe("all()", map[string]string{v3.LabelTier: "admissiontest-other"}), datastore.DryRun())
		_, hookErr := c.Create(ctx, probe("a ==", nil), datastore.DryRun())
		hook := hookErr != nil && strings.Contains(hookErr.Error(), "validate.projectcalico.org")
		last = "labelled " + map[bool]string{true: "yes", false: "no"}[labelled]
		if wrongErr != nil {
			last += "; contradicting label refused: " + wrongErr.Error()
		}
		if hookErr != nil {
			last += "; invalid selector refused: " + hookErr.Error()
		}
		if inForce {
			return labelled && wrongErr != nil && hook
		}
		return !labelled && wrongErr == nil && hookErr == nil
	}, &last)
}
