package conversion

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

// NamespaceProfileName is the profile synthesised for a namespace.
func NamespaceProfileName(ns string) string { return v3.NamespaceProfilePrefix + ns }

// ServiceAccountProfileName is the profile synthesised for a service account.
func ServiceAccountProfileName(ns, sa string) string {
	return v3.ServiceAccountProfilePrefix + ns + "." + sa
}

// NamespaceProfile converts a namespace into its profile "kns.<ns>": it
// allows everything both ways (so pods no policy selects keep working) and
// hands the namespace's labels, prefixed "pcns.", to every pod in it, which
// is how namespace selectors are evaluated against endpoints.
func NamespaceProfile(ns *corev1.Namespace) *v3.Profile {
	labels := make(map[string]string, len(ns.Labels)+1)
	for k, v := range ns.Labels {
		labels[v3.NamespaceLabelPrefix+k] = v
	}
	labels[v3.NamespaceLabelPrefix+v3.LabelName] = ns.Name
	return &v3.Profile{
		TypeMeta: metav1.TypeMeta{Kind: "Profile", APIVersion: v3.SchemeGroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{
			Name:              NamespaceProfileName(ns.Name),
			UID:               ns.UID,
			ResourceVersion:   ns.ResourceVersion,
			CreationTimestamp: ns.CreationTimestamp,
		},
		Spec: v3.ProfileSpec{
			Ingress:       []v3.Rule{{Action: v3.Allow}},
			Egress:        []v3.Rule{{Action: v3.Allow}},
			LabelsToApply: labels,
		},
	}
}

// ServiceAccountProfile converts a service account into its profile
// "ksa.<ns>.<sa>": no rules, only the account's labels prefixed "pcsa.".
func ServiceAccountProfile(sa *corev1.ServiceAccount) *v3.Profile {
	labels := make(map[string]string, len(sa.Labels)+1)
	for k, v := range sa.Labels {
		labels[v3.ServiceAccountLabelPrefix+k] = v
	}
	labels[v3.ServiceAccountLabelPrefix+v3.LabelName] = sa.Name
	return &v3.Profile{
		TypeMeta: metav1.TypeMeta{Kind: "Profile", APIVersion: v3.SchemeGroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{
			Name:              ServiceAccountProfileName(sa.Namespace, sa.Name),
			UID:               sa.UID,
			ResourceVersion:   sa.ResourceVersion,
			CreationTimestamp: sa.CreationTimestamp,
		},
		Spec: v3.ProfileSpec{LabelsToApply: labels},
	}
}

// DefaultAllowProfile is the built-in profile that allows everything, meant
// for host endpoints.
func DefaultAllowProfile() *v3.Profile {
	return &v3.Profile{
		TypeMeta:   metav1.TypeMeta{Kind: "Profile", APIVersion: v3.SchemeGroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{Name: v3.DefaultAllowProfile},
		Spec: v3.ProfileSpec{
			Ingress: []v3.Rule{{Action: v3.Allow}},
			Egress:  []v3.Rule{{Action: v3.Allow}},
		},
	}
}
