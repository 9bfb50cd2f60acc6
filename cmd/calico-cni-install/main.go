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
// service-account token and CA. --root (/host) is where the host's
// filesystem is mounted; --source-dir (/opt/cni/bin) holds the plugins.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/calicong/calico/internal/cniinstall"
)

func main() {
	root := flag.String("root", "/host", "where the host's filesystem is mounted")
	source := flag.String("source-dir", "/opt/cni/bin", "directory holding the plugins to install")
	saDir := flag.String("serviceaccount-dir", "/var/run/secrets/kubernetes.io/serviceaccount", "the pod's service-account token and CA")
	flag.Parse()
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
	cfg.Kubeconfig = cniinstall.Kubeconfig("https://"+net.JoinHostPort(host, port), ca, strings.TrimSpace(string(token)))
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
