// Command calico-node is the per-node agent: start-up (node address,
// annotations, default IP pool), then Felix (policy engine and nftables
// dataplane, workload routes), with health and Prometheus endpoints, and
// CalicoNodeStatus reporting.
//
// Configuration is Calico's: NODENAME, IP, IP_AUTODETECTION_METHOD,
// CALICO_IPV4POOL_*, NO_DEFAULT_POOLS, KUBECONFIG, and FELIX_* variables,
// which override FelixConfiguration. With FELIX_TYPHAK8SSERVICENAME or
// FELIX_TYPHAADDR set, Felix and confd read the datastore through Typha
// (typha.go) instead of watching the API server. Exit code 129 means "the
// configuration changed: start me again".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vishvananda/netlink"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/bird"
	"github.com/calicong/calico/internal/node/confd"
	"github.com/calicong/calico/internal/node/dataplane"
	"github.com/calicong/calico/internal/node/dataplane/nft"
	"github.com/calicong/calico/internal/node/dataplane/routes"
	"github.com/calicong/calico/internal/node/dataplane/vxlan"
	"github.com/calicong/calico/internal/node/felix"
	"github.com/calicong/calico/internal/node/nodestatus"
	"github.com/calicong/calico/internal/node/startup"
	"github.com/calicong/calico/internal/node/tunneladdr"
	"github.com/calicong/calico/internal/syncer"
)

func main() { os.Exit(run()) }

func run() int {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	startupOnly := flag.Bool("startup", false, "run start-up only, then exit")
	printVersion := buildinfo.VersionFlag("calico-node")
	flag.Parse()
	printVersion()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(os.Getenv("FELIX_LOGSEVERITYSCREEN"))}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runNode(ctx, *kubeconfig, *startupOnly, log); err != nil {
		if errors.Is(err, felix.ErrConfigChanged) {
			log.Info(err.Error())
			return 129
		}
		log.Error("calico-node failed", "err", err)
		return 1
	}
	return 0
}

func logLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warning", "warn":
		return slog.LevelWarn
	case "error", "fatal", "panic":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func runNode(ctx context.Context, kubeconfig string, startupOnly bool, log *slog.Logger) error {
	backend, err := networkingBackend()
	if err != nil {
		return err
	}
	scfg, err := startup.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	client, err := datastore.Connect(kubeconfig)
	if err != nil {
		return err
	}
	res, err := startup.Run(ctx, scfg, client, log)
	if err != nil {
		return fmt.Errorf("start-up: %w", err)
	}
	if startupOnly {
		return nil
	}
	fcKind, _ := v3.KindFor("FelixConfiguration")
	fc, err := felix.FirstConfig(func(name string) (*v3.FelixConfiguration, error) {
		obj, err := client.Get(ctx, fcKind, "", name)
		if datastore.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return obj.(*v3.FelixConfiguration), nil
	}, res.NodeName, os.Environ())
	if err != nil {
		return err
	}
	proto := 3
	if fc.Spec.DeviceRouteProtocol != nil {
		proto = *fc.Spec.DeviceRouteProtocol
	}
	rm, err := routes.New(routes.Config{InterfacePrefix: fc.Spec.InterfacePrefix, Protocol: proto}, nil, nil)
	if err != nil {
		return err
	}
	dpCfg := felix.DataplaneConfig(fc, log)
	dpCfg.NodeName = res.NodeName
	dp, err := dataplane.New(dpCfg, nft.Runner{}, rm)
	if err != nil {
		return err
	}
	overlay, err := vxlan.New(felix.VXLANConfig(fc), nil)
	if err != nil {
		return err
	}
	dp.SetOverlay(overlay)
	agg := health.New(nil)
	if b := fc.Spec.HealthEnabled; b != nil && *b {
		addr := net.JoinHostPort(*fc.Spec.HealthHost, strconv.Itoa(*fc.Spec.HealthPort))
		go health.Serve(ctx, addr, agg.Handler(), log)
	}
	var reg prometheus.Registerer
	if b := fc.Spec.PrometheusMetricsEnabled; b != nil && *b {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg = r
		addr := net.JoinHostPort("", strconv.Itoa(*fc.Spec.PrometheusMetricsPort))
		go health.Serve(ctx, addr, promhttp.HandlerFor(r, promhttp.HandlerOpts{}), log)
	}

	if err := startCNITokenRefresh(ctx, os.Getenv, client.Kube, log); err != nil {
		return err
	}

	// Routing between nodes: BGP through confd and BIRD, or none here
	// (VXLAN is Felix's; "none" is policy only, for clusters routed by
	// someone else).
	typha, err := typhaFromEnv(os.Getenv, client.Kube, res.NodeName)
	if err != nil {
		return err
	}
	// consumers take Felix's stream; bgpConsumer, when BGP runs, takes
	// the BGP syncer's (the same direct syncer without Typha).
	var consumers []model.SyncerCallbacks
	var bgpConsumer model.SyncerCallbacks
	kinds := slices.Clone(datastore.FelixKinds)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var bgpDone chan struct{}
	birdSocket := ""
	switch backend {
	case "bird":
		graceful, err := bgpGracefulShutdown(os.Getenv("CALICO_BGP_SHUTDOWN"))
		if err != nil {
			return err
		}
		d := bird.New(bird.Config{ConfigDir: envOr("CALICO_CONFD_CONFIG_DIR", "/etc/calico/confd/config"), GracefulStop: graceful,
			RunDir: envOr("CALICO_RUN_DIR", "/var/run/calico"), Log: log.With("component", "bird")})
		secretsNS := envOr("CALICO_NAMESPACE", "kube-system")
		cd := confd.New(confd.Config{Node: res.NodeName, BIRD: d, Log: log.With("component", "confd"),
			Secrets: func(ctx context.Context, name, key string) (string, error) {
				sec, err := client.Kube.CoreV1().Secrets(secretsNS).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return "", err
				}
				v, ok := sec.Data[key]
				if !ok {
					return "", fmt.Errorf("secret %s/%s has no key %s", secretsNS, name, key)
				}
				return string(v), nil
			}})
		bgpConsumer = cd
		kinds = append(kinds, datastore.BGPKinds...)
		bgpDone = make(chan struct{})
		go func() {
			defer close(bgpDone)
			var wg sync.WaitGroup
			wg.Go(func() {
				if err := d.Run(ctx); err != nil {
					log.Error("BIRD cannot run", "err", err)
				}
			})
			wg.Go(func() { _ = cd.Run(ctx) })
			wg.Wait()
		}()
		birdSocket = d.Socket()
		go reportBGP(ctx, agg, birdSocket, time.Second)
		log.Info("networking backend", "backend", backend, "birdSocket", birdSocket)
	default:
		log.Info("networking backend", "backend", backend)
	}
	// The node's VXLAN tunnel address, while VXLAN pools exist.
	tunnels := tunneladdr.New(tunneladdr.Config{Node: res.NodeName, IPAM: client.IPAM(), Log: log.With("component", "tunnel-address"),
		Record: func(ctx context.Context, addr, mac string) error {
			val := func(v string) any {
				if v == "" {
					return nil
				}
				return v
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
				v3.AnnotationNodeIPv4VXLANTunnelAddr: val(addr), v3.AnnotationNodeVXLANTunnelMACAddr: val(mac)}}})
			_, err := client.Kube.CoreV1().Nodes().Patch(ctx, res.NodeName, types.MergePatchType, patch, metav1.PatchOptions{})
			return err
		}})
	consumers = append(consumers, tunnels)
	go func() { _ = tunnels.Run(ctx) }()
	// CalicoNodeStatus: BIRD's figures when it runs, the kernel's
	// workload routes otherwise.
	var statusSource nodestatus.Source = nodestatus.WithoutBGP{KernelRoutes: func() ([]v3.CalicoNodeRoute, error) {
		rs, err := rm.Programmed()
		out := make([]v3.CalicoNodeRoute, 0, len(rs))
		for _, r := range rs {
			out = append(out, v3.CalicoNodeRoute{Destination: r.Destination, Interface: r.Interface})
		}
		return out, err
	}}
	if birdSocket != "" {
		statusSource = nodestatus.WithBIRD{Socket: birdSocket}
	}
	nsKind, _ := v3.KindFor("CalicoNodeStatus")
	go func() {
		err := nodestatus.Run(ctx, nodestatus.Config{
			Node: res.NodeName, Informer: client.NewInformer(nsKind, "", 0), Writer: client, Log: log, Source: statusSource,
		})
		if err != nil {
			log.Error("CalicoNodeStatus reporting stopped", "err", err)
		}
	}()
	slices.Sort(kinds)
	kinds = slices.Compact(kinds)
	kicks := make(chan struct{}, 1)
	go watchLinks(ctx, fc.Spec.InterfacePrefix, rm, kicks, log)
	f, err := felix.New(felix.Config{
		NodeName: res.NodeName, Felix: fc, Dataplane: dp, Kicks: kicks, Health: agg, Metrics: reg,
		Env: os.Environ(), Log: log,
		NewSource: func(cb model.SyncerCallbacks) (felix.Source, error) {
			felixCBs := append([]model.SyncerCallbacks{cb}, consumers...)
			if typha != nil {
				// Through Typha: Felix's syncer type, and BGP's for confd.
				ss := sources{typha.newClient(datastore.SyncerFelix, res.NodeName, model.Tee(felixCBs...), log)}
				if bgpConsumer != nil {
					ss = append(ss, typha.newClient(datastore.SyncerBGP, res.NodeName, bgpConsumer, log))
				}
				return ss, nil
			}
			srcs, err := client.Sources(kinds, log)
			if err != nil {
				return nil, err
			}
			if bgpConsumer != nil {
				felixCBs = append(felixCBs, bgpConsumer)
			}
			return syncer.New(srcs, model.Tee(felixCBs...), log), nil
		},
	})
	if err != nil {
		return err
	}
	err = f.Run(ctx)
	// BIRD is stopped before calico-node exits: for a graceful restart
	// (peers keep this node's routes), or with CALICO_BGP_SHUTDOWN=withdraw
	// so that they drop them.
	cancel()
	if bgpDone != nil {
		<-bgpDone
	}
	return err
}

// networkingBackend is CALICO_NETWORKING_BACKEND: bird (default), vxlan or
// none.
func networkingBackend() (string, error) {
	switch b := strings.ToLower(os.Getenv("CALICO_NETWORKING_BACKEND")); b {
	case "", "bird":
		return "bird", nil
	case "vxlan", "none":
		return b, nil
	default:
		return "", fmt.Errorf("CALICO_NETWORKING_BACKEND=%q: use bird, vxlan or none", b)
	}
}

// bgpGracefulShutdown reads CALICO_BGP_SHUTDOWN: "graceful" (the
// default; peers keep this node's routes while calico-node restarts, as
// in a rolling update) or "withdraw" (peers drop them at once: for a node
// leaving for good).
func bgpGracefulShutdown(v string) (bool, error) {
	switch v {
	case "", "graceful":
		return true, nil
	case "withdraw":
		return false, nil
	}
	return false, fmt.Errorf("CALICO_BGP_SHUTDOWN=%q: want graceful or withdraw", v)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// watchLinks kicks the dataplane when a workload interface appears or
// comes up, so its routes are programmed without waiting for a resync.
func watchLinks(ctx context.Context, prefix string, rm *routes.Manager, kicks chan<- struct{}, log *slog.Logger) {
	updates := make(chan netlink.LinkUpdate, 64)
	if err := netlink.LinkSubscribe(updates, ctx.Done()); err != nil {
		log.Warn("cannot watch interfaces; relying on periodic resyncs", "err", err)
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				return
			}
			if !strings.HasPrefix(u.Attrs().Name, strings.Split(prefix, ",")[0]) {
				continue
			}
			rm.Kick()
			select {
			case kicks <- struct{}{}:
			default:
			}
		}
	}
}
