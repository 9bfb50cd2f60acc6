// Command calico-manager is the web console's front door
// (internal/manager): the console, its UI API under /api/, and
// /prometheus/ to the Prometheus API service. People log in with a
// Kubernetes Bearer token; every call is checked and made as them.
//
// Configuration (environment):
//
//	MANAGER_LISTEN                  where it listens (:9443)
//	TLS_CERT_FILE, TLS_KEY_FILE     its serving certificate (re-read when it changes); required
//	LINSEED_URL                     Linseed (https://calico-linseed.kube-system.svc)
//	LINSEED_CA                      the CA of Linseed's certificate
//	LINSEED_CLIENT_CERT, _KEY       the manager's client certificate for Linseed
//	LINSEED_TOKEN                   the manager's ServiceAccount token file (/var/run/secrets/kubernetes.io/serviceaccount/token)
//	PROMETHEUS_URL                  the Prometheus API service (unset: no /prometheus/)
//	PROMETHEUS_CA                   the CA of its certificate, when it is HTTPS with a private CA
//	PACKETCAPTURE_URL               the packet capture API (unset: no /packet-capture/)
//	PACKETCAPTURE_CA                the CA of its certificate
//	CLUSTER_ID                      the cluster's name in Linseed and in log access checks (cluster)
//	KUBECONFIG                      the cluster (in-cluster configuration when empty)
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/daemon"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/linseed/client"
	"github.com/calicong/calico/internal/manager"
	"github.com/calicong/calico/internal/manager/web"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

func main() { daemon.Main("calico-manager", run) }

func run(ctx context.Context, log *slog.Logger) error {
	certFile, keyFile := os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE")
	if certFile == "" || keyFile == "" {
		return errors.New("TLS_CERT_FILE and TLS_KEY_FILE are required: the console carries tokens and serves HTTPS only")
	}
	getCert, err := tlsauth.ServingCertificate(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
	}
	cluster := daemon.Env("CLUSTER_ID", "cluster")
	logs, err := client.FromEnv(client.Files{URL: "https://calico-linseed.kube-system.svc", CA: "/etc/calico-manager/linseed/ca.crt",
		Cert: "/etc/calico-manager/linseed/tls.crt", Key: "/etc/calico-manager/linseed/tls.key",
		TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token", Cluster: cluster})
	if err != nil {
		return err
	}
	rc, err := datastore.LoadConfig(os.Getenv("KUBECONFIG"))
	if err != nil {
		return fmt.Errorf("reading KUBECONFIG: %w", err)
	}
	client, err := datastore.New(rc)
	if err != nil {
		return fmt.Errorf("connecting to the API server: %w", err)
	}
	cfg := manager.Config{Checker: kubeauth.New(client.Kube, nil, kubeauth.WithTTL(10*time.Second, 5*time.Second)),
		Logs: logs, Cluster: cluster, Assets: web.Assets(), Log: log, UserClients: manager.NewUserClients(rc)}
	if cfg.Prometheus, cfg.PrometheusTransport, err = upstream("PROMETHEUS_URL", "PROMETHEUS_CA"); err != nil {
		return err
	}
	if cfg.PacketCapture, cfg.PacketCaptureTransport, err = upstream("PACKETCAPTURE_URL", "PACKETCAPTURE_CA"); err != nil {
		return err
	}
	h, err := manager.New(cfg)
	if err != nil {
		return err
	}
	listen := daemon.Env("MANAGER_LISTEN", ":9443")
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("MANAGER_LISTEN %s: %w", listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert}}
	log.Info("calico-manager serving", "addr", ln.Addr().String(), "linseed", logs.URL, "prometheus", os.Getenv("PROMETHEUS_URL"), "packetCapture", os.Getenv("PACKETCAPTURE_URL"),
		"cluster", cluster, "version", buildinfo.Version)
	return daemon.ServeHTTP(ctx, srv, ln)
}

// upstream is a service the console routes to: its URL from urlVar (nil
// if unset) and a transport trusting the CA in caVar, if set.
func upstream(urlVar, caVar string) (*url.URL, http.RoundTripper, error) {
	u := os.Getenv(urlVar)
	if u == "" {
		return nil, nil, nil
	}
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" || (parsed.Scheme != "http" && parsed.Scheme != "https") {
		return nil, nil, fmt.Errorf("%s %q: an http(s)://host:port URL", urlVar, u)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ca := os.Getenv(caVar); ca != "" {
		p, err := tlsauth.LoadCA(ca)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", caVar, err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: p, MinVersion: tls.VersionTLS12}
	}
	return parsed, tr, nil
}
