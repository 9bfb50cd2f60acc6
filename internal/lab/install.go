package lab

import (
	"context"
	"fmt"
	"io"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	for _, rbac := range [][]runtime.Object{manifests.CalicoNodeRBAC(), manifests.CNIPluginRBAC(), manifests.KubeControllersRBAC(), manifests.TyphaRBAC(), manifests.APIServerRBAC(),
		manifests.LinseedRBAC(), manifests.LogShipperRBAC(), linseedUserRBAC(), manifests.PrometheusRBAC(), manifests.PrometheusServiceRBAC(),
		manifests.PacketCaptureRBAC(), manifests.PacketCaptureFilesRoles(),
		metricsUserRBAC(), labServices(), manifests.ManagerRBAC(), adminRBAC(), manifests.IntrusionDetectionRBAC(),
		manifests.ComplianceSnapshotterRBAC(), manifests.ComplianceControllerRBAC(), manifests.ComplianceReporterRBAC(), manifests.ComplianceBenchmarkerRBAC()} {
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
	// The shipped alert templates, checked by the webhooks like any
	// user's objects.
	templates, err := manifests.YAML("", manifests.AlertTemplates())
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, templates); err != nil {
		return fmt.Errorf("alert templates: %w", err)
	}
	// And compliance's report types.
	reportTypes, err := manifests.YAML("", manifests.ReportTypes())
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, reportTypes); err != nil {
		return fmt.Errorf("report types: %w", err)
	}
	// The log shippers' and the user's tokens for Linseed, the user's
	// for Prometheus, the console's and intrusion detection's for
	// Linseed, and the administrator's for the console.
	for _, tok := range []struct{ sa, file string }{{manifests.LogShipperName, cfg.shipperTokenFile()}, {linseedUser, cfg.LinseedTokenFile()},
		{metricsUser, cfg.PrometheusTokenFile()}, {manifests.ManagerName, cfg.managerTokenFile()}, {adminUser, cfg.AdminTokenFile()},
		{manifests.IntrusionDetectionName, cfg.intrusionTokenFile()}} {
		if err := writeToken(ctx, c, tok.sa, tok.file); err != nil {
			return fmt.Errorf("a token for %s: %w", tok.sa, err)
		}
	}
	if err := installCompliance(ctx, cfg, c); err != nil {
		return fmt.Errorf("compliance: %w", err)
	}
	fmt.Fprintf(out, "  %-24s installed (%.1fs)\n", "calico resources", time.Since(start).Seconds())
	return nil
}

// linseedUser is the ServiceAccount whose token `calico-lab env` gives
// users and tests of the log API: allowed everything in linseed.tigera.io.
const linseedUser = "calico-lab-linseed-user"

func linseedUserRBAC() []runtime.Object {
	return manifests.ServiceAccountRBAC(linseedUser, []rbacv1.PolicyRule{{APIGroups: []string{manifests.LinseedAPIGroup},
		Resources: manifests.LinseedResources, Verbs: []string{"get", "create", "dismiss", "delete"}}}, nil)
}

// metricsUserRBAC is the lab's metrics user: its ServiceAccount, bound
// to calico-metrics-viewer in kube-system (the role's rule names a
// Service there), and the role itself.
func metricsUserRBAC() []runtime.Object {
	const rbacAPI = "rbac.authorization.k8s.io"
	binding := &rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: rbacAPI + "/v1", Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: metricsUser, Namespace: manifests.Namespace},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: metricsUser, Namespace: manifests.Namespace}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacAPI, Kind: "ClusterRole", Name: manifests.MetricsViewerRole}}
	return append(manifests.ServiceAccountRBAC(metricsUser, nil, nil), manifests.MetricsViewer(), binding)
}

// labServices are the Services the lab's endpoints are published under
// (endpoints.go).
func labServices() []runtime.Object {
	var out []runtime.Object
	for _, s := range labMetricsServices() {
		out = append(out, s)
	}
	return out
}

// tokenLifetime is how long the lab's tokens live (the lab is rebuilt
// long before).
const tokenLifetime = 365 * 24 * time.Hour

// writeToken writes a token of a ServiceAccount (in the components'
// namespace) to a file.
func writeToken(ctx context.Context, c *datastore.Client, sa, file string) error {
	secs := int64(tokenLifetime.Seconds())
	tr, err := c.Kube.CoreV1().ServiceAccounts(manifests.Namespace).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	return writeFile(file, []byte(tr.Status.Token), 0o600)
}
