package admission

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

// WebhookName is the configurations' usual name.
const WebhookName = "calico-apiserver"

// webhookKinds are what users write. IPAM's objects (written on every
// pod start by the CNI plugin, already checked by IPAM) and status
// objects are left out, to keep admission off those paths.
func webhookResources() []string {
	skip := map[string]bool{"IPAMBlock": true, "BlockAffinity": true, "IPAMHandle": true, "CalicoNodeStatus": true}
	var out []string
	for _, k := range v3.Kinds() {
		if k.Stored && !skip[k.Kind] {
			out = append(out, k.Plural)
		}
	}
	return out
}

// Webhooks are the configurations, both named name, that make the API
// server call calico-apiserver (failure policy Fail: no Calico object is
// written unchecked). base is the client config without its path (a URL
// or a Service, and the CA bundle).
func Webhooks(name string, base admissionregistrationv1.WebhookClientConfig) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	at := func(path string) admissionregistrationv1.WebhookClientConfig {
		c := *base.DeepCopy()
		if c.URL != nil {
			u := *c.URL + path
			c.URL = &u
		}
		if c.Service != nil {
			c.Service.Path = &path
		}
		return c
	}
	fail, none, equivalent := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.Equivalent
	timeout := int32(10)
	rule := func(ops ...admissionregistrationv1.OperationType) []admissionregistrationv1.RuleWithOperations {
		return []admissionregistrationv1.RuleWithOperations{{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{v3.GroupName}, APIVersions: []string{"v3"}, Resources: webhookResources()}}}
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "defaults.projectcalico.org", ClientConfig: at(PathMutate), AdmissionReviewVersions: []string{"v1"},
			Rules: rule(admissionregistrationv1.Create, admissionregistrationv1.Update), FailurePolicy: &fail, SideEffects: &none,
			MatchPolicy: &equivalent, TimeoutSeconds: &timeout,
		}},
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate.projectcalico.org", ClientConfig: at(PathValidate), AdmissionReviewVersions: []string{"v1"},
			Rules:         rule(admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete),
			FailurePolicy: &fail, SideEffects: &none, MatchPolicy: &equivalent, TimeoutSeconds: &timeout,
		}},
	}
	return mwc, vwc
}
