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
	return waitWebhooks(ctx, c, true)
}

// waitWebhooks waits until the webhooks are in force (a dry run of an
// invalid policy is refused by them) or, with inForce false, until such a
// dry run is accepted.
func waitWebhooks(ctx context.Context, c *datastore.Client, inForce bool) error {
	probe := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "calico-lab-webhook-probe"}, Spec: v3.GlobalNetworkPolicySpec{Selector: "a =="}}
	probe.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("GlobalNetworkPolicy"))
	for {
		_, err := c.Create(ctx, probe, datastore.DryRun())
		done, state := err == nil, "gone"
		if inForce {
			done, state = err != nil && strings.Contains(err.Error(), "validate.projectcalico.org"), "in force"
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the webhooks are not %s (last answer: %v)", state, err)
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
	return waitWebhooks(ctx, c, false)
}
