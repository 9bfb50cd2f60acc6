// Command calico-log-shipper runs on every node (a DaemonSet) and ships
// the node's logs to Linseed (internal/shipper): calico-node's flow, DNS
// and BGP logs and, where it runs beside the API server, its audit log
// (Calico's resources to audit_ee, the rest to audit_kube). It presents
// its client certificate (mutual TLS) and its ServiceAccount token, and
// keeps its positions, so a restart resends nothing acknowledged and
// skips nothing.
//
// Configuration (environment):
//
//	LINSEED_URL                    https://host:port of Linseed
//	LINSEED_CA                     CA bundle Linseed's certificate chains to
//	LINSEED_CLIENT_CERT, _KEY      this component's client certificate (re-read when they change)
//	LINSEED_TOKEN                  token file (/var/run/secrets/kubernetes.io/serviceaccount/token)
//	CLUSTER_ID                     sent as x-cluster-id (none: Linseed's "cluster")
//	SHIPPER_STATE_DIR              position files (/var/lib/calico-log-shipper)
//	FLOW_LOG_DIR                   flows.log and its rotations (/var/log/calico/flowlogs; "" skips)
//	DNS_LOG_DIR                    dns.log (/var/log/calico/dnslogs; "" skips)
//	BGP_LOG_DIR                    bgp.log (/var/log/calico/bird; "" skips)
//	AUDIT_LOG_FILE                 the API server's audit log (unset: none)
//	SHIPPER_HEALTH_LISTEN          /liveness and /readiness (:9096)
//	SHIPPER_METRICS_LISTEN         Prometheus metrics (:9097)
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/shipper"
	"github.com/calicong/calico/internal/shipper/tail"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

func main() { os.Exit(run()) }

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func run() int {
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println("calico-log-shipper", buildinfo.Version)
		return 0
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, log); err != nil {
		log.Error("calico-log-shipper stopped", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, log *slog.Logger) error {
	url, ca := os.Getenv("LINSEED_URL"), os.Getenv("LINSEED_CA")
	cert, key := os.Getenv("LINSEED_CLIENT_CERT"), os.Getenv("LINSEED_CLIENT_KEY")
	var errs []error
	for _, v := range []struct{ name, val string }{{"LINSEED_URL", url}, {"LINSEED_CA", ca}, {"LINSEED_CLIENT_CERT", cert}, {"LINSEED_CLIENT_KEY", key}} {
		if v.val == "" {
			errs = append(errs, fmt.Errorf("%s is required", v.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		return fmt.Errorf("LINSEED_CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("LINSEED_CA %s: no PEM certificates", ca)
	}
	getCert, err := tlsauth.ClientCertificate(cert, key)
	if err != nil {
		return fmt.Errorf("LINSEED_CLIENT_CERT/KEY: %w", err)
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, GetClientCertificate: getCert}}}

	var sources []shipper.Source
	add := func(name, dir, file string, route func([]byte) (string, []byte)) {
		if dir != "" {
			sources = append(sources, shipper.Source{Name: name, Stream: tail.Stream{Dir: dir, Live: file}, Route: route})
		}
	}
	add("flows", env("FLOW_LOG_DIR", "/var/log/calico/flowlogs"), "flows.log", shipper.To(shipper.FlowsPath))
	add("dns", env("DNS_LOG_DIR", "/var/log/calico/dnslogs"), "dns.log", shipper.To(shipper.DNSPath))
	add("bgp", env("BGP_LOG_DIR", "/var/log/calico/bird"), "bgp.log", shipper.To(shipper.BGPPath))
	if audit := os.Getenv("AUDIT_LOG_FILE"); audit != "" {
		add("audit", filepath.Dir(audit), filepath.Base(audit), shipper.AuditRoute)
	}
	if len(sources) == 0 {
		return errors.New("nothing to ship: FLOW_LOG_DIR, DNS_LOG_DIR, BGP_LOG_DIR and AUDIT_LOG_FILE are all empty")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s, err := shipper.New(shipper.Config{Sources: sources, StateDir: env("SHIPPER_STATE_DIR", "/var/lib/calico-log-shipper"),
		Registerer: reg, Log: log,
		Sender: &shipper.HTTPSender{URL: url, Client: client, Cluster: os.Getenv("CLUSTER_ID"),
			TokenFile: env("LINSEED_TOKEN", "/var/run/secrets/kubernetes.io/serviceaccount/token")}})
	if err != nil {
		return err
	}
	agg := health.New(time.Now)
	agg.Register("shipper", 0)
	agg.Report("shipper", health.Report{Live: true, Ready: true})
	// Ready while Linseed takes what is sent; the detail says which
	// source waits, and why.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			r := health.Report{Live: true, Ready: true}
			for src, st := range s.Status() {
				if st != "shipping" {
					r.Ready = false
					r.Detail += src + ": " + st + "; "
				}
			}
			agg.Report("shipper", r)
		}
	}()
	go health.Serve(ctx, env("SHIPPER_HEALTH_LISTEN", ":9096"), agg.Handler(), log)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go health.Serve(ctx, env("SHIPPER_METRICS_LISTEN", ":9097"), mux, log)
	var names []string
	for _, src := range sources {
		names = append(names, src.Name+"="+filepath.Join(src.Stream.Dir, src.Stream.Live))
	}
	log.Info("calico-log-shipper shipping", "linseed", url, "sources", names, "version", buildinfo.Version)
	return s.Run(ctx)
}
