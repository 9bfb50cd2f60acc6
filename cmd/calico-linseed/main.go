// Command calico-linseed serves the enterprise layer's log API
// (internal/linseed/api) over HTTPS with mutual TLS: every connection
// needs a client certificate from LINSEED_CLIENT_CA, every request a
// bearer token the API server accepts (TokenReview) and permission for
// what it does in API group linseed.tigera.io (SubjectAccessReview).
// Records go to SQLite (default) or ClickHouse; days past each log type's
// retention are dropped hourly.
//
// Configuration (environment, as Calico's components take it):
//
//	LINSEED_LISTEN              HTTPS address (:8444)
//	LINSEED_TLS_CERT, _KEY      serving certificate and key (re-read when they change)
//	LINSEED_CLIENT_CA           CA bundle client certificates must chain to
//	LINSEED_HEALTH_LISTEN       /liveness and /readiness (:8080)
//	LINSEED_METRICS_LISTEN      Prometheus metrics (:9095)
//	LINSEED_BACKEND             sqlite (default) or clickhouse
//	LINSEED_SQLITE_PATH         the database file (/var/lib/calico-linseed/logs.db)
//	LINSEED_CLICKHOUSE_ADDR     host:port of ClickHouse's native protocol
//	LINSEED_CLICKHOUSE_DATABASE (linseed), _USERNAME, _PASSWORD
//	LINSEED_RETENTION_<TYPE>    days to keep a log type: FLOWS, DNS, AUDIT_EE,
//	                            AUDIT_KUBE, BGP, EVENTS, COMPLIANCE_REPORTS,
//	                            COMPLIANCE_SNAPSHOTS, COMPLIANCE_BENCHMARKS
//	KUBECONFIG                  the cluster (in-cluster configuration when empty)
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
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/daemon"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/logtype"
	"github.com/calicong/calico/internal/linseed/store"
	"github.com/calicong/calico/internal/linseed/store/clickhouse"
	"github.com/calicong/calico/internal/linseed/store/sqlite"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

func main() { os.Exit(run()) }

// defaultRetention is Calico Enterprise's LogStorage defaults, in days.
var defaultRetention = map[string]int{
	logtype.Flows: 8, logtype.DNS: 8, logtype.BGP: 8,
	logtype.AuditEE: 91, logtype.AuditKube: 91, logtype.Events: 91,
	logtype.ComplianceReports: 91, logtype.ComplianceSnapshots: 91, logtype.ComplianceBenchmarks: 91,
}

type options struct {
	listen, healthListen, metricsListen string
	cert, key, clientCA                 string
	backend, sqlitePath                 string
	chAddr, chDatabase, chUser, chPass  string
	kubeconfig                          string
	retention                           map[string]int
}

func loadOptions() (options, error) {
	o := options{
		listen: daemon.Env("LINSEED_LISTEN", ":8444"), healthListen: daemon.Env("LINSEED_HEALTH_LISTEN", ":8080"),
		metricsListen: daemon.Env("LINSEED_METRICS_LISTEN", ":9095"),
		cert:          os.Getenv("LINSEED_TLS_CERT"), key: os.Getenv("LINSEED_TLS_KEY"), clientCA: os.Getenv("LINSEED_CLIENT_CA"),
		backend: daemon.Env("LINSEED_BACKEND", "sqlite"), sqlitePath: daemon.Env("LINSEED_SQLITE_PATH", "/var/lib/calico-linseed/logs.db"),
		chAddr: os.Getenv("LINSEED_CLICKHOUSE_ADDR"), chDatabase: daemon.Env("LINSEED_CLICKHOUSE_DATABASE", "linseed"),
		chUser: os.Getenv("LINSEED_CLICKHOUSE_USERNAME"), chPass: os.Getenv("LINSEED_CLICKHOUSE_PASSWORD"),
		kubeconfig: os.Getenv("KUBECONFIG"), retention: map[string]int{},
	}
	var errs []error
	for _, v := range []struct{ name, val string }{{"LINSEED_TLS_CERT", o.cert}, {"LINSEED_TLS_KEY", o.key}, {"LINSEED_CLIENT_CA", o.clientCA}} {
		if v.val == "" {
			errs = append(errs, fmt.Errorf("%s is required (Linseed serves only mutual TLS)", v.name))
		}
	}
	switch o.backend {
	case "sqlite":
	case "clickhouse":
		if o.chAddr == "" {
			errs = append(errs, errors.New("LINSEED_CLICKHOUSE_ADDR is required with LINSEED_BACKEND=clickhouse"))
		}
	default:
		errs = append(errs, fmt.Errorf("LINSEED_BACKEND %q: sqlite or clickhouse", o.backend))
	}
	for typ, def := range defaultRetention {
		name := "LINSEED_RETENTION_" + strings.ToUpper(typ)
		o.retention[typ] = def
		if v := os.Getenv(name); v != "" {
			days, err := strconv.Atoi(v)
			if err != nil || days < 1 {
				errs = append(errs, fmt.Errorf("%s=%q: a whole number of days, at least 1", name, v))
				continue
			}
			o.retention[typ] = days
		}
	}
	return o, errors.Join(errs...)
}

func run() int {
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println("calico-linseed", buildinfo.Version)
		return 0
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	o, err := loadOptions()
	if err != nil {
		log.Error("bad configuration", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, o, log); err != nil {
		log.Error("calico-linseed stopped", "err", err)
		return 1
	}
	return 0
}

func openStore(ctx context.Context, o options, log *slog.Logger) (store.Store, error) {
	if o.backend == "clickhouse" {
		return clickhouse.Open(ctx, clickhouse.Config{Addr: o.chAddr, Database: o.chDatabase, Username: o.chUser, Password: o.chPass, Log: log})
	}
	return sqlite.Open(ctx, sqlite.Config{Path: o.sqlitePath, Log: log})
}

func serve(ctx context.Context, o options, log *slog.Logger) error {
	client, err := datastore.Connect(o.kubeconfig)
	if err != nil {
		return fmt.Errorf("connecting to the API server: %w", err)
	}
	st, err := openStore(ctx, o, log)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	checker := kubeauth.New(client.Kube, nil)
	h, err := api.New(api.Config{Store: st, Authn: authn{checker}, Authz: authz{checker}, Registerer: reg, Log: log})
	if err != nil {
		return err
	}
	getCert, err := tlsauth.ServingCertificate(o.cert, o.key)
	if err != nil {
		return fmt.Errorf("LINSEED_TLS_CERT/KEY: %w", err)
	}
	caPEM, err := os.ReadFile(o.clientCA)
	if err != nil {
		return fmt.Errorf("LINSEED_CLIENT_CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("LINSEED_CLIENT_CA %s: no PEM certificates", o.clientCA)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("LINSEED_LISTEN %s: %w", o.listen, err)
	}

	agg := health.New(time.Now)
	agg.Register("api", 0)
	agg.Report("api", health.Report{Live: true, Ready: true})
	go health.Serve(ctx, o.healthListen, agg.Handler(), log)
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go health.Serve(ctx, o.metricsListen, metricsMux, log)
	go retain(ctx, st, o.retention, log)

	log.Info("calico-linseed serving", "addr", ln.Addr().String(), "backend", o.backend, "version", buildinfo.Version)
	return daemon.ServeHTTP(ctx, srv, ln)
}

// retain drops the days of each log type past its retention, at start
// and hourly.
func retain(ctx context.Context, st store.Store, days map[string]int, log *slog.Logger) {
	types := logtype.All()
	for {
		for name, d := range days {
			cutoff := time.Now().Add(-time.Duration(d) * 24 * time.Hour)
			if n, err := st.Retain(ctx, types[name], cutoff); err != nil {
				log.Warn("retention failed", "type", name, "err", err)
			} else if n > 0 {
				log.Info("retention dropped days", "type", name, "days", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

// authn and authz adapt kubeauth to the API's interfaces.
type authn struct{ c *kubeauth.Checker }

func (a authn) Authenticate(ctx context.Context, token string) (api.User, error) {
	u, err := a.c.Authenticate(ctx, token)
	if errors.Is(err, kubeauth.ErrInvalidToken) {
		return api.User{}, api.ErrUnauthenticated
	}
	return api.User(u), err
}

type authz struct{ c *kubeauth.Checker }

func (a authz) Authorize(ctx context.Context, u api.User, verb, resource string) (bool, error) {
	return a.c.Authorize(ctx, kubeauth.User(u), kubeauth.Access{Group: api.APIGroup, Resource: resource, Verb: verb})
}
