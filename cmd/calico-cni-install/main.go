// Command calico-cni-install is calico-node's init container step: it
// installs the calico and calico-ipam plugins into the host's CNI bin
// directory and writes their kubeconfig and the network configuration
// list into the host's CNI configuration directory (internal/cniinstall),
// atomically and idempotently.
//
// Configuration is Calico's: CNI_NETWORK_CONFIG (the configuration with
// __KUBERNETES_NODE_NAME__, __KUBECONFIG_FILEPATH__ and __CNI_MTU__),
// CNI_CONF_NAME (10-calico.conflist), CNI_NET_DIR (/etc/cni/net.d),
// CNI_BIN_DIR (/opt/cni/bin), CNI_MTU (1500), KUBERNETES_NODE_NAME; the
// kubeconfig is made from KUBERNETES_SERVICE_HOST/PORT and the pod's
// service-account token and CA, or, with CALICO_CNI_SERVICE_ACCOUNT set, a
// token of that ServiceAccount (the plugins' own, calico-cni-plugin in the
// manifests) requested with the pod's. --root (/host) is where the host's
// filesystem is mounted; --source-dir (/opt/cni/bin) holds the plugins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/cniinstall"
	"github.com/calicong/calico/internal/cnitoken"
)

func main() {
	root := flag.String("root", "/host", "where the host's filesystem is mounted")
	source := flag.String("source-dir", "/opt/cni/bin", "directory holding the plugins to install")
	saDir := flag.String("serviceaccount-dir", "/var/run/secrets/kubernetes.io/serviceaccount", "the pod's service-account token and CA")
	printVersion := buildinfo.VersionFlag("calico-cni-install")
	flag.Parse()
	printVersion()
	if err := run(*root, *source, *saDir, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "calico-cni-install:", err)
		os.Exit(1)
	}
}

func run(root, source, saDir string, getenv func(string) string) error {
	cfg := cniinstall.Config{Root: root, SourceBinDir: source, BinDir: getenv("CNI_BIN_DIR"), NetDir: getenv("CNI_NET_DIR"),
		ConfName: getenv("CNI_CONF_NAME"), Template: getenv("CNI_NETWORK_CONFIG"), NodeName: getenv("KUBERNETES_NODE_NAME")}
	if cfg.NodeName == "" {
		return errors.New("KUBERNETES_NODE_NAME is not set (the manifests set it from spec.nodeName)")
	}
	if v := getenv("CNI_MTU"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 68 {
			return fmt.Errorf("CNI_MTU=%q: want a number of at least 68", v)
		}
		cfg.MTU = n
	}
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return errors.New("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: run in a pod")
	}
	token, err := os.ReadFile(filepath.Join(saDir, "token"))
	if err != nil {
		return fmt.Errorf("the service-account token: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
	if err != nil {
		return fmt.Errorf("the service-account CA: %w", err)
	}
	server := "https://" + net.JoinHostPort(host, port)
	tok := strings.TrimSpace(string(token))
	if sa := getenv("CALICO_CNI_SERVICE_ACCOUNT"); sa != "" {
		// The plugins' own identity rather than this pod's: a token of
		// their ServiceAccount, which calico-node then keeps fresh.
		ns := "kube-system"
		if b, err := os.ReadFile(filepath.Join(saDir, "namespace")); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			ns = strings.TrimSpace(string(b))
		}
		kube, err := kubernetes.NewForConfig(&rest.Config{Host: server, BearerToken: tok, TLSClientConfig: rest.TLSClientConfig{CAData: ca}})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if tok, _, err = cnitoken.Request(ctx, cnitoken.Config{Kube: kube, Namespace: ns, ServiceAccount: sa}); err != nil {
			return err
		}
	}
	cfg.Kubeconfig = cniinstall.Kubeconfig(server, ca, tok)
	r, err := cniinstall.Install(cfg)
	if err != nil {
		return err
	}
	for _, f := range r.Written {
		fmt.Println("wrote", f)
	}
	for _, f := range r.Unchanged {
		fmt.Println("unchanged", f)
	}
	return nil
}
