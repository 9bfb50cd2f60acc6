// Package secretref reads the values intrusion-detection resources take
// from Secrets and ConfigMaps (a feed's headers, a webhook's config): a
// key of an object in the controller's own namespace.
package secretref

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	v3 "github.com/calicong/calico/api/v3"
)

// Value reads a Secret's or ConfigMap's key in namespace ns; ok is false
// when an optional reference is missing. An error names the object and
// the key.
func Value(ctx context.Context, kube kubernetes.Interface, ns string, from *v3.HTTPHeaderSource) (string, bool, error) {
	var (
		ref  = from.ConfigMapKeyRef
		what = "ConfigMap"
		data map[string]string
		err  error
	)
	if from.SecretKeyRef != nil {
		ref, what = from.SecretKeyRef, "Secret"
		var sec *corev1.Secret
		if sec, err = kube.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
			data = map[string]string{}
			for k, b := range sec.Data {
				data[k] = string(b)
			}
		}
	} else if ref != nil {
		var cm *corev1.ConfigMap
		if cm, err = kube.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
			data = cm.Data
		}
	} else {
		return "", false, fmt.Errorf("valueFrom names neither a secretKeyRef nor a configMapKeyRef")
	}
	optional := ref.Optional != nil && *ref.Optional
	v, ok := data[ref.Key]
	switch {
	case err != nil && !optional:
		return "", false, fmt.Errorf("%s %s/%s: %w", what, ns, ref.Name, err)
	case !ok && !optional:
		return "", false, fmt.Errorf("%s %s/%s has no key %q", what, ns, ref.Name, ref.Key)
	}
	return v, ok, nil
}
