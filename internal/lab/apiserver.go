package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	webhooks "github.com/calicong/calico/internal/admission"
	"github.com/calicong/calico/internal/admission/register"
	"github.com/calicong/calico/internal/crdclient"
	"github.com/calicong/calico/internal/datastore"
)

// RegisterWebhooks points the API server at the lab's calico-apiserver
// and waits until its checks are in force.
func RegisterWebhooks(ctx context.Context, cfg Config, c *datastore.Client) error {
	caPEM, err := os.ReadFile(cfg.pkiPath("ca.crt"))
	if err != nil {
		return err
	}
	url := "https://" + net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.APIServerWebhookPort))
	if err := register.Webhooks(ctx, c.Kube, webhooks.WebhookName, admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM}); err != nil {
		return err
	}
	// In force once a dry run of an invalid selector is refused by it.
	probe := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "calico-lab-webhook-probe"}, Spec: v3.GlobalNetworkPolicySpec{Selector: "a =="}}
	probe.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("GlobalNetworkPolicy"))
	for {
		_, err := c.Create(ctx, probe, crdclient.DryRun())
		if err != nil && strings.Contains(err.Error(), "validate.projectcalico.org") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the webhooks are not in force (last answer: %v)", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// UnregisterWebhooks takes calico-apiserver out of the API server's path
// and waits until writes no longer reach it.
func UnregisterWebhooks(ctx context.Context, c *datastore.Client) error {
	if err := register.Unregister(ctx, c.Kube, webhooks.WebhookName); err != nil {
		return err
	}
	probe := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "calico-lab-webhook-probe"}, Spec: v3.GlobalNetworkPolicySpec{Selector: "a =="}}
	probe.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("GlobalNetworkPolicy"))
	for {
		_, err := c.Create(ctx, probe, crdclient.DryRun())
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the webhooks are still in force (last answer: %v)", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
