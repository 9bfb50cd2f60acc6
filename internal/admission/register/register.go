// Package register installs calico-apiserver's webhook configurations in
// a cluster (creating or updating them), and provisions its serving
// certificate in a Secret for clusters without a certificate manager.
package register

import (
	"context"
	"crypto/tls"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/calicong/calico/internal/admission"
	"github.com/calicong/calico/internal/pki"
)

// Webhooks creates or updates the two configurations named name.
func Webhooks(ctx context.Context, kube kubernetes.Interface, name string, base admissionregistrationv1.WebhookClientConfig) error {
	mwc, vwc := admission.Webhooks(name, base)
	ar := kube.AdmissionregistrationV1()
	m := ar.MutatingWebhookConfigurations()
	if err := createOrUpdate(ctx, mwc, m.Create, m.Get, m.Update); err != nil {
		return err
	}
	v := ar.ValidatingWebhookConfigurations()
	return createOrUpdate(ctx, vwc, v.Create, v.Get, v.Update)
}

// createOrUpdate creates obj, or replaces the object of its name.
func createOrUpdate[T metav1.Object](ctx context.Context, obj T,
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	get func(context.Context, string, metav1.GetOptions) (T, error),
	update func(context.Context, T, metav1.UpdateOptions) (T, error)) error {
	_, err := create(ctx, obj, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	obj.SetResourceVersion(cur.GetResourceVersion())
	_, err = update(ctx, obj, metav1.UpdateOptions{})
	return err
}

// Unregister deletes the two configurations named name.
func Unregister(ctx context.Context, kube kubernetes.Interface, name string) error {
	ar := kube.AdmissionregistrationV1()
	for _, err := range []error{
		ar.ValidatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{}),
		ar.MutatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{}),
	} {
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// Secret keys of a provisioned certificate.
const (
	KeyCert = "tls.crt"
	KeyKey  = "tls.key"
	KeyCA   = "ca.crt"
)

// ServiceNames are the DNS names the API server uses for a Service.
func ServiceNames(namespace, service string) []string {
	return []string{service, service + "." + namespace, service + "." + namespace + ".svc", service + "." + namespace + ".svc.cluster.local"}
}

// Certificate returns the serving certificate kept in the Secret
// namespace/name, creating it (a CA of its own and a certificate for the
// Service's names) if the Secret does not exist. Replicas starting
// together agree: whoever creates the Secret first wins and the others
// read it.
func Certificate(ctx context.Context, kube kubernetes.Interface, namespace, name, service string) (cert tls.Certificate, caPEM []byte, err error) {
	secrets := kube.CoreV1().Secrets(namespace)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s, err = createCertificate(ctx, kube, namespace, name, service)
	}
	if err != nil {
		return cert, nil, fmt.Errorf("the serving certificate's Secret %s/%s: %w", namespace, name, err)
	}
	cert, err = tls.X509KeyPair(s.Data[KeyCert], s.Data[KeyKey])
	if err != nil {
		return cert, nil, fmt.Errorf("the Secret %s/%s holds no usable %s and %s: %w", namespace, name, KeyCert, KeyKey, err)
	}
	if len(s.Data[KeyCA]) == 0 {
		return cert, nil, fmt.Errorf("the Secret %s/%s has no %s for the webhooks' CA bundle", namespace, name, KeyCA)
	}
	return cert, s.Data[KeyCA], nil
}

// createCertificate makes the Secret, or reads the one a replica made
// meanwhile.
func createCertificate(ctx context.Context, kube kubernetes.Interface, namespace, name, service string) (*corev1.Secret, error) {
	ca, _, err := pki.NewAuthority("calico-apiserver-ca")
	if err != nil {
		return nil, err
	}
	crt, key, err := ca.Issue(pki.Request{CommonName: service + "." + namespace + ".svc", DNSNames: ServiceNames(namespace, service), Server: true})
	if err != nil {
		return nil, err
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/name": "calico-apiserver"}},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{KeyCert: crt, KeyKey: key, KeyCA: ca.CertPEM}}
	secrets := kube.CoreV1().Secrets(namespace)
	if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		return secrets.Get(ctx, name, metav1.GetOptions{})
	} else if err != nil {
		return nil, err
	}
	return s, nil
}
