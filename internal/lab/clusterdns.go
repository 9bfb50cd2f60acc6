package lab

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab/multihost"
)

// Cluster DNS (docs/lab.md): the real CoreDNS as the kube-dns Deployment
// and Service in kube-system, run by the node runtime from the lab's
// build (noderuntime.Programs), forwarding the outside zone to the
// outside host.

//go:embed dns/coredns.yaml
var coreDNSManifest string

// ClusterDNS is the kube-dns Service's ClusterIP: the service range's
// tenth address, as kubeadm chooses.
func (c Config) ClusterDNS() netip.Addr {
	p, err := netip.ParsePrefix(c.ServiceCIDR)
	if err != nil {
		return netip.Addr{}
	}
	a, err := multihost.NthAddr(p, 10)
	if err != nil {
		return netip.Addr{}
	}
	return a.Addr()
}

// installClusterDNS applies CoreDNS and waits until it is available.
func installClusterDNS(ctx context.Context, cfg Config, out io.Writer, start time.Time) error {
	rec, err := readNodes(cfg)
	if err != nil || rec == nil {
		return err
	}
	outside, err := multihost.NthAddr(rec.Cluster.Subnet, outsideFirst) // the outside host's DNS server
	if err != nil {
		return err
	}
	c, err := datastore.Connect(cfg.KubeconfigPath())
	if err != nil {
		return err
	}
	y := strings.NewReplacer("{{CLUSTER_DNS}}", cfg.ClusterDNS().String(), "{{OUTSIDE_DNS}}", outside.Addr().String()).Replace(coreDNSManifest)
	if err := c.Apply(ctx, []byte(y)); err != nil {
		return fmt.Errorf("cluster DNS: %w", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d, err := c.Kube.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err == nil && available(d) {
			fmt.Fprintf(out, "  %-24s ready (%.1fs)\n", "coredns", time.Since(start).Seconds())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CoreDNS is not available after 2 minutes (kubectl -n kube-system get pods -l k8s-app=kube-dns)")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func available(d *appsv1.Deployment) bool {
	return d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas >= 1
}
