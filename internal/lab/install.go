package lab

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/calicong/calico/config/admission"
	"github.com/calicong/calico/config/crd"
	"github.com/calicong/calico/internal/datastore"
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
	manifests, err := admission.Manifests()
	if err != nil {
		return err
	}
	for name, m := range manifests {
		if err := c.Apply(ctx, m); err != nil {
			return fmt.Errorf("%s: %w", name, err)
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
