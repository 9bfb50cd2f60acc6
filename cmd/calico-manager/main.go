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
//	CLUSTER_ID                      the cluster's name in Linseed and in log access checks (cluster)
//	KUBECONFIG                      the cluster (in-cluster configuration when empty)
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/manager"
	"github.com/calicong/calico/internal/manager/web"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

func main() {
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println(buildinfo.Version)
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("calico-manager failed", "err", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// pool reads a CA file.
func pool(name, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", name, file)
	}
	return p, nil
}

func run(ctx context.Context, log *slog.Logger) error {
	certFile, keyFile := os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE")
	if certFile == "" || keyFile == "" {
		return errors.New("TLS_CERT_FILE and TLS_KEY_FILE are required: the console carries tokens and serves HTTPS only")
	}
	getCert, err := tlsauth.ServingCertificate(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
	}
	linseedCA, err := pool("LINSEED_CA", env("LINSEED_CA", "/etc/calico-manager/linseed/ca.crt"))
	if err != nil {
		return err
	}
	clientCert, err := tls.LoadX509KeyPair(env("LINSEED_CLIENT_CERT", "/etc/calico-manager/linseed/tls.crt"), env("LINSEED_CLIENT_KEY", "/etc/calico-manager/linseed/tls.key"))
	if err != nil {
		return fmt.Errorf("LINSEED_CLIENT_CERT/LINSEED_CLIENT_KEY: %w", err)
	}
	cluster := env("CLUSTER_ID", "cluster")
	logs := &manager.LinseedClient{URL: env("LINSEED_URL", "https://calico-linseed.kube-system.svc"), Cluster: cluster,
		TokenFile: env("LINSEED_TOKEN", "/var/run/secrets/kubernetes.io/serviceaccount/token"),
		HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: linseedCA, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12}}}}
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
	if u := os.Getenv("PROMETHEUS_URL"); u != "" {
		if cfg.Prometheus, err = url.Parse(u); err != nil || cfg.Prometheus.Host == "" {
			return fmt.Errorf("PROMETHEUS_URL %q: an http(s)://host:port URL", u)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if ca := os.Getenv("PROMETHEUS_CA"); ca != "" {
			p, err := pool("PROMETHEUS_CA", ca)
			if err != nil {
				return err
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: p, MinVersion: tls.VersionTLS12}
		}
		cfg.PrometheusTransport = tr
	}
	h, err := manager.New(cfg)
	if err != nil {
		return err
	}
	listen := env("MANAGER_LISTEN", ":9443")
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("MANAGER_LISTEN %s: %w", listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert}}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	log.Info("calico-manager serving", "addr", ln.Addr().String(), "linseed", logs.URL, "prometheus", os.Getenv("PROMETHEUS_URL"),
		"cluster", cluster, "version", buildinfo.Version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
