// Command calico-prometheus-service is the RBAC-checking proxy in front
// of Prometheus's HTTP API (internal/promproxy): a caller's bearer token
// is checked with a TokenReview, and the caller needs `get` (GET) or
// `create` (POST) on services/proxy `calico-node-prometheus:9090` in
// Prometheus's namespace. Answers are cached for AUTH_CACHE_TTL, so a
// dashboard's burst costs one review per user.
//
// Configuration (environment):
//
//	LISTEN_ADDR             where the proxy listens (:8090)
//	TLS_CERT_FILE, _KEY_FILE serve HTTPS with these (re-read when they change); unset: HTTP
//	PROMETHEUS_URL          Prometheus (http://localhost:9090)
//	PROMETHEUS_NAMESPACE    the namespace of the services/proxy check (kube-system)
//	AUTH_CACHE_TTL          how long an allowed answer is kept (10s); a revoked grant stops working within it
//	METRICS_LISTEN          the proxy's own metrics (:8091)
//	KUBECONFIG              the cluster (in-cluster configuration when empty)
//
// /health answers without a token.
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/daemon"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/promproxy"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

func main() { daemon.Main("calico-prometheus-service", run) }

func run(ctx context.Context, log *slog.Logger) error {
	upstream, err := url.Parse(daemon.Env("PROMETHEUS_URL", "http://localhost:9090"))
	if err != nil || upstream.Scheme == "" || upstream.Host == "" {
		return fmt.Errorf("PROMETHEUS_URL %q: an http(s)://host:port URL", os.Getenv("PROMETHEUS_URL"))
	}
	ttl, err := daemon.Period("AUTH_CACHE_TTL", "10s")
	if err != nil {
		return err
	}
	certFile, keyFile := os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE")
	if (certFile == "") != (keyFile == "") {
		return errors.New("TLS_CERT_FILE and TLS_KEY_FILE go together")
	}
	client, err := datastore.Connect(os.Getenv("KUBECONFIG"))
	if err != nil {
		return fmt.Errorf("connecting to the API server: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	checker := kubeauth.New(client.Kube, nil, kubeauth.WithTTL(ttl, min(ttl, 5*time.Second)))
	for kind, f := range map[string]func() float64{
		"token":  func() float64 { n, _ := checker.Reviews(); return float64(n) },
		"access": func() float64 { _, n := checker.Reviews(); return float64(n) },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "calico_prometheus_service_reviews_total",
			Help: "TokenReviews (token) and SubjectAccessReviews (access) sent to the API server.", ConstLabels: prometheus.Labels{"kind": kind}}, f))
	}
	ns := daemon.Env("PROMETHEUS_NAMESPACE", "kube-system")
	h, err := promproxy.New(promproxy.Config{Upstream: upstream, Checker: checker, Namespace: ns, Registerer: reg, Log: log})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	listen := daemon.Env("LISTEN_ADDR", ":8090")
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR %s: %w", listen, err)
	}
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go health.Serve(ctx, daemon.Env("METRICS_LISTEN", ":8091"), metricsMux, log)

	if certFile != "" {
		getCert, err := tlsauth.ServingCertificate(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert}
	}
	log.Info("calico-prometheus-service serving", "addr", ln.Addr().String(), "prometheus", upstream.String(),
		"namespace", ns, "authCacheTTL", ttl, "version", buildinfo.Version)
	return daemon.ServeHTTP(ctx, srv, ln)
}
