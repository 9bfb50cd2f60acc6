// Command calico-compliance is compliance reporting's components, one
// subcommand each, each deployable on its own (docs/compliance.md):
//
//	calico-compliance snapshotter   lists the configuration reports
//	                                replay and writes it to Linseed when
//	                                it changed
//	calico-compliance reporter      generates one report over one
//	                                interval and stores it in Linseed
//	                                (a report job runs it)
//	calico-compliance controller    creates the report jobs of each
//	                                GlobalReport's due intervals and
//	                                keeps its status (one replica leads)
//	calico-compliance benchmarker   runs the CIS Kubernetes Benchmark on
//	                                its node and writes the results to
//	                                Linseed (a DaemonSet)
//
// Environment (snapshotter):
//
//	KUBECONFIG       the cluster (in-cluster config when unset)
//	LINSEED_URL, LINSEED_CA, LINSEED_CLIENT_CERT, LINSEED_CLIENT_KEY,
//	LINSEED_TOKEN    Linseed, and this component's identity towards it
//	CLUSTER_ID       the cluster's name in Linseed (cluster)
//	SNAPSHOT_PERIOD  how often snapshots are taken (1h)
//	HEALTH_LISTEN    /liveness, /readiness and /metrics (:9099)
//
// Environment (reporter): KUBECONFIG, LINSEED_* and CLUSTER_ID as above,
// and
//
//	REPORT_NAME      the GlobalReport
//	REPORT_START, REPORT_END  the interval (RFC 3339)
//
// Environment (controller): KUBECONFIG, HEALTH_LISTEN, and
//
//	NAMESPACE        where its Lease and the jobs are (calico-system)
//	JOB_IMAGE        the reporter jobs' image (this one's)
//	JOB_SERVICE_ACCOUNT  the jobs' ServiceAccount (calico-compliance-reporter)
//	JOB_LINSEED_SECRET   the Secret with the jobs' Linseed client
//	                 certificate (calico-compliance-linseed-tls)
//	REPORT_DELAY     how long after an interval its report runs (30m)
//
// Environment (benchmarker): KUBECONFIG, LINSEED_*, HEALTH_LISTEN, and
//
//	NODE_NAME        the node (required)
//	HOST_ROOT        where the node's file system is mounted (/)
//	HOST_PROC        the node's /proc (/proc; the pod shares its PIDs)
//	BENCHMARK_PERIOD how often the benchmark runs (1h)
//	TARGETS          the only components to check (all that run), such
//	                 as apiserver,etcd or kubelet
//	BENCHMARK_PATHS  the benchmark's paths overridden, name=path,...
//	                 (kubeletConfig=/etc/kubelet/config.yaml)
//	CMDLINE_FILTER   a string processes' command lines must contain to
//	                 count (for labs that share a host)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/compliance/benchmarker"
	"github.com/calicong/calico/internal/compliance/cis"
	"github.com/calicong/calico/internal/compliance/controller"
	"github.com/calicong/calico/internal/compliance/reporter"
	"github.com/calicong/calico/internal/compliance/snapshotter"
	"github.com/calicong/calico/internal/daemon"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/leader"
	"github.com/calicong/calico/internal/linseed/client"
)

var commands = map[string]func(ctx context.Context, log *slog.Logger) error{
	"snapshotter": runSnapshotter,
	"reporter":    runReporter,
	"controller":  runController,
	"benchmarker": runBenchmarker,
}

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(buildinfo.Version)
		return
	}
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: calico-compliance snapshotter|reporter|controller|benchmarker")
		os.Exit(2)
	}
	name := os.Args[1]
	os.Args = append(os.Args[:1], os.Args[2:]...)
	daemon.Main("calico-compliance "+name, commands[name])
}

func runSnapshotter(ctx context.Context, log *slog.Logger) error {
	period, err := daemon.Period("SNAPSHOT_PERIOD", "1h")
	if err != nil {
		return err
	}
	rc, err := datastore.LoadConfig(os.Getenv("KUBECONFIG"))
	if err != nil {
		return fmt.Errorf("reading KUBECONFIG: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	ls, err := linseedClient()
	if err != nil {
		return err
	}
	_, reg := serveHealth(ctx, "snapshotter", log)
	metrics, err := snapshotter.NewMetrics(reg)
	if err != nil {
		return err
	}
	s := &snapshotter.Snapshotter{Dynamic: dyn, Linseed: ls, Period: period, Metrics: metrics, Log: log}
	s.Run(ctx)
	return nil
}

func runReporter(ctx context.Context, log *slog.Logger) error {
	name := os.Getenv("REPORT_NAME")
	if name == "" {
		return fmt.Errorf("REPORT_NAME: the GlobalReport to generate")
	}
	var times [2]time.Time
	for i, v := range []string{"REPORT_START", "REPORT_END"} {
		t, err := time.Parse(time.RFC3339, os.Getenv(v))
		if err != nil {
			return fmt.Errorf("%s %q: an RFC 3339 time", v, os.Getenv(v))
		}
		times[i] = t
	}
	if !times[0].Before(times[1]) {
		return fmt.Errorf("REPORT_START (%s) must be before REPORT_END (%s)", times[0].Format(time.RFC3339), times[1].Format(time.RFC3339))
	}
	c, err := datastore.Connect(os.Getenv("KUBECONFIG"))
	if err != nil {
		return err
	}
	o, err := c.Get(ctx, reportKind, "", name)
	if err != nil {
		return fmt.Errorf("GlobalReport %s: %w", name, err)
	}
	rep := o.(*v3.GlobalReport)
	o, err = c.Get(ctx, reportTypeKind, "", rep.Spec.ReportType)
	if err != nil {
		return fmt.Errorf("GlobalReportType %s (the report's type): %w", rep.Spec.ReportType, err)
	}
	ls, err := linseedClient()
	if err != nil {
		return err
	}
	r := &reporter.Reporter{Linseed: ls, Log: log}
	start := time.Now()
	d, err := r.Generate(ctx, rep, o.(*v3.GlobalReportType), times[0], times[1])
	if err != nil {
		return err
	}
	stored, err := r.Store(ctx, d)
	if err != nil {
		return err
	}
	log.Info("report stored", "id", stored.ID, "endpoints", d.EndpointsSummary.NumTotal, "auditEvents", d.AuditSummary.NumTotal,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

var (
	reportKind, _     = v3.KindFor("GlobalReport")
	reportTypeKind, _ = v3.KindFor("GlobalReportType")
)

func runController(ctx context.Context, log *slog.Logger) error {
	delay, err := time.ParseDuration(daemon.Env("REPORT_DELAY", "30m"))
	if err != nil || delay < 0 {
		return fmt.Errorf("REPORT_DELAY %q: a duration such as 30m", os.Getenv("REPORT_DELAY"))
	}
	image := os.Getenv("JOB_IMAGE")
	if image == "" {
		return fmt.Errorf("JOB_IMAGE: the reporter jobs' image (calicong/compliance:<version>)")
	}
	c, err := datastore.Connect(os.Getenv("KUBECONFIG"))
	if err != nil {
		return err
	}
	ns := daemon.Env("NAMESPACE", "calico-system")
	secret := daemon.Env("JOB_LINSEED_SECRET", "calico-compliance-linseed-tls")
	const mount = "/etc/calico-compliance/linseed"
	job := controller.Job{Namespace: ns, Image: image, ServiceAccount: daemon.Env("JOB_SERVICE_ACCOUNT", "calico-compliance-reporter"),
		Env: []corev1.EnvVar{
			{Name: "LINSEED_URL", Value: daemon.Env("LINSEED_URL", "https://calico-linseed."+ns+".svc")},
			{Name: "LINSEED_CA", Value: mount + "/ca.crt"}, {Name: "LINSEED_CLIENT_CERT", Value: mount + "/tls.crt"},
			{Name: "LINSEED_CLIENT_KEY", Value: mount + "/tls.key"}, {Name: "CLUSTER_ID", Value: daemon.Env("CLUSTER_ID", "cluster")},
		},
		Volumes:      []corev1.Volume{{Name: "linseed-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "linseed-tls", MountPath: mount, ReadOnly: true}},
	}
	agg, _ := serveHealth(ctx, "controller", log)
	agg.Report("controller", health.Report{Live: true, Ready: true, Detail: "waiting to lead"})
	ctl := &controller.Controller{Client: c, Job: job, Delay: delay, Log: log}
	leader.Run(ctx, c.Kube, ns, "calico-compliance-controller", log, func(ctx context.Context) {
		agg.Report("controller", health.Report{Live: true, Ready: true, Detail: "leading"})
		if err := ctl.Run(ctx); err != nil {
			log.Error("report controller", "err", err)
		}
	})
	return nil
}

func runBenchmarker(ctx context.Context, log *slog.Logger) error {
	node := os.Getenv("NODE_NAME")
	if node == "" {
		return fmt.Errorf("NODE_NAME: the node this benchmarker runs on")
	}
	period, err := daemon.Period("BENCHMARK_PERIOD", "1h")
	if err != nil {
		return err
	}
	b, err := cis.Latest()
	if err != nil {
		return err
	}
	opt := cis.Options{Paths: map[string]string{}}
	if v := os.Getenv("TARGETS"); v != "" {
		opt.Targets = strings.Split(v, ",")
		for _, t := range opt.Targets {
			if !slices.Contains(cis.Components, t) {
				return fmt.Errorf("TARGETS: %q: one of %s", t, strings.Join(cis.Components, ", "))
			}
		}
	}
	if v := os.Getenv("BENCHMARK_PATHS"); v != "" {
		for _, kv := range strings.Split(v, ",") {
			k, p, ok := strings.Cut(kv, "=")
			if _, known := b.Paths[k]; !ok || !known {
				return fmt.Errorf("BENCHMARK_PATHS: %q: name=path, with a name the benchmark knows (such as kubeletConfig)", kv)
			}
			opt.Paths[k] = p
		}
	}
	kube, err := datastore.Connect(os.Getenv("KUBECONFIG"))
	if err != nil {
		return err
	}
	ls, err := linseedClient()
	if err != nil {
		return err
	}
	_, reg := serveHealth(ctx, "benchmarker", log)
	metrics, err := benchmarker.NewMetrics(reg)
	if err != nil {
		return err
	}
	bm := &benchmarker.Benchmarker{Node: node, Benchmark: b, Options: opt, Linseed: ls, Period: period, Log: log, Metrics: metrics,
		Host: &benchmarker.NodeHost{Root: daemon.Env("HOST_ROOT", "/"), Proc: daemon.Env("HOST_PROC", "/proc"), CmdlineFilter: os.Getenv("CMDLINE_FILTER")},
		KubernetesVersion: func(ctx context.Context) (string, error) {
			v, err := kube.Kube.Discovery().ServerVersion()
			if err != nil {
				return "", err
			}
			return v.GitVersion, nil
		}}
	bm.Run(ctx)
	return nil
}

// linseedClient is Linseed from LINSEED_*, with the pod's
// ServiceAccount token unless LINSEED_TOKEN names another.
func linseedClient() (*client.Client, error) {
	return client.FromEnv(client.Files{TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"})
}

// serveHealth serves /liveness, /readiness and /metrics on
// HEALTH_LISTEN, reporting the component live and ready; the registry
// has the Go and process collectors.
func serveHealth(ctx context.Context, component string, log *slog.Logger) (*health.Aggregator, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	agg := health.New(nil)
	go health.Serve(ctx, daemon.Env("HEALTH_LISTEN", ":9099"), agg.WithMetrics(reg), log)
	agg.Report(component, health.Report{Live: true, Ready: true})
	return agg, reg
}
