package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"

	"k8s.io/client-go/kubernetes"

	"github.com/calicong/calico/internal/cniinstall"
	"github.com/calicong/calico/internal/cnitoken"
)

// startCNITokenRefresh keeps the CNI plugins' kubeconfig token fresh when
// CALICO_MANAGE_CNI=true: CALICO_CNI_KUBECONFIG is the plugins'
// kubeconfig as this container sees it
// (/host/etc/cni/net.d/calico-kubeconfig), CALICO_CNI_SERVICE_ACCOUNT
// their ServiceAccount (calico-cni-plugin) in CALICO_NAMESPACE
// (kube-system).
func startCNITokenRefresh(ctx context.Context, getenv func(string) string, kube kubernetes.Interface, log *slog.Logger) error {
	v := getenv("CALICO_MANAGE_CNI")
	if v == "" {
		return nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("CALICO_MANAGE_CNI=%q: want true or false", v)
	}
	if !on {
		return nil
	}
	or := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	c := cnitoken.Config{Kube: kube, Namespace: or("CALICO_NAMESPACE", "kube-system"),
		ServiceAccount: or("CALICO_CNI_SERVICE_ACCOUNT", cnitoken.DefaultServiceAccount),
		Kubeconfig:     or("CALICO_CNI_KUBECONFIG", filepath.Join("/host/etc/cni/net.d", cniinstall.KubeconfigName)),
		Log:            log.With("component", "cni-token")}
	go cnitoken.Run(ctx, c)
	return nil
}
