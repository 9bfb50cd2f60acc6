package lab

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/calicong/calico/config/admission"
	"github.com/calicong/calico/config/crd"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/manifests"
)

// install puts the Calico CRDs, the admission policies and the built-in
// objects into the cluster.
func install(ctx context.Context, cfg Config, out io.Writer) error {
	start := time.Now()
	c, err := datastore.Connect(cfg.KubeconfigPath())
	if err != nil {
		return err
	}
	if err := c.InstallCRDs(ctx, crd.All()); err != nil {
		return err
	}
	policies, err := admission.Manifests()
	if err != nil {
		return err
	}
	for name, m := range policies {
		if err := c.Apply(ctx, m); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	// Calico's components run with their manifests' RBAC.
	for _, rbac := range [][]runtime.Object{manifests.CalicoNodeRBAC(), manifests.CNIPluginRBAC(), manifests.KubeControllersRBAC(), manifests.TyphaRBAC(), manifests.APIServerRBAC()} {
		y, err := manifests.YAML("", rbac)
		if err != nil {
			return err
		}
		if err := c.Apply(ctx, y); err != nil {
			return fmt.Errorf("RBAC: %w", err)
		}
	}
	if err := c.EnsureInitialized(ctx); err != nil {
		return err
	}
	if err := c.WaitForAdmissionPolicies(ctx); err != nil {
		return err
	}
	if err := RegisterWebhooks(ctx, cfg, c); err != nil {
		return fmt.Errorf("registering calico-apiserver's webhooks: %w", err)
	}
	fmt.Fprintf(out, "  %-24s installed (%.1fs)\n", "calico resources", time.Since(start).Seconds())
	return nil
}
