package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/bird"
	"github.com/calicong/calico/internal/node/confd"
	"github.com/prometheus/client_golang/prometheus"
)

// routing is what runs for routing between nodes.
type routing struct {
	// consumer takes the BGP syncer's stream (confd); nil without BGP.
	consumer model.SyncerCallbacks
	// birdSocket is BIRD's control socket; "" without BGP.
	birdSocket string
	done       chan struct{}
}

// wait returns once BIRD and confd have stopped.
func (r routing) wait() {
	if r.done != nil {
		<-r.done
	}
}

// startRouting starts routing between nodes by CALICO_NETWORKING_BACKEND:
// BGP through confd and BIRD, or nothing here (VXLAN is Felix's; "none"
// is policy only, for clusters routed by someone else).
func startRouting(ctx context.Context, backend string, client *datastore.Client, node string, agg *health.Aggregator,
	reg prometheus.Registerer, log *slog.Logger) (routing, error) {
	if backend != "bird" {
		log.Info("networking backend", "backend", backend)
		return routing{}, nil
	}
	graceful, err := bgpGracefulShutdown(os.Getenv("CALICO_BGP_SHUTDOWN"))
	if err != nil {
		return routing{}, err
	}
	// BIRD's log is also kept as BGP logs for the log shipper
	// (CALICO_BGP_LOG_DIR; "none" keeps none).
	var output func(string)
	if dir := envOr("CALICO_BGP_LOG_DIR", "/var/log/calico/bird"); dir != "none" {
		output = bgpLogWriter(dir, node, log)
	}
	d := bird.New(bird.Config{ConfigDir: envOr("CALICO_CONFD_CONFIG_DIR", "/etc/calico/confd/config"), GracefulStop: graceful,
		RunDir: envOr("CALICO_RUN_DIR", "/var/run/calico"), Log: log.With("component", "bird"), Output: output})
	secretsNS := envOr("CALICO_NAMESPACE", "kube-system")
	cd := confd.New(confd.Config{Node: node, BIRD: d, Log: log.With("component", "confd"),
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
	r := routing{consumer: cd, birdSocket: d.Socket(), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := d.Run(ctx); err != nil {
				log.Error("BIRD cannot run", "err", err)
			}
		})
		wg.Go(func() { _ = cd.Run(ctx) })
		wg.Wait()
	}()
	m := newBGPMetrics(reg)
	go reportBGP(ctx, agg, m, r.birdSocket, time.Second)
	log.Info("networking backend", "backend", backend, "birdSocket", r.birdSocket)
	return r, nil
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

// healthBGP is the readiness part for BGP: calico-node is not ready while
// BIRD does not answer or any of its sessions is not Established (what
// Calico's -bird-ready probe checks), so a rolling update moves on only
// once the restarted node peers again. BIRD's own crashes are the
// daemon's to restart, so this part never makes calico-node unlive.
const healthBGP = "bgp"

// bgpMetrics are the BGP sessions as Prometheus sees them:
// calico_bgp_peers{state} counts the sessions BIRD has in each BGP state
// (Established, Active, Connect, Idle, …), and calico_bgp_bird_up is 1
// while BIRD answers. The alert BGPSessionDown watches them.
type bgpMetrics struct {
	peers *prometheus.GaugeVec
	up    prometheus.Gauge
}

func newBGPMetrics(reg prometheus.Registerer) *bgpMetrics {
	m := &bgpMetrics{
		peers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "calico_bgp_peers",
			Help: "BGP sessions of this node's BIRD, by BGP state."}, []string{"state"}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "calico_bgp_bird_up", Help: "1 while BIRD answers on its control socket."}),
	}
	if reg != nil {
		reg.MustRegister(m.peers, m.up)
	}
	return m
}

func (m *bgpMetrics) set(sessions []bird.Session, err error) {
	m.peers.Reset()
	if err != nil {
		m.up.Set(0)
		return
	}
	m.up.Set(1)
	m.peers.WithLabelValues("Established").Set(0)
	for _, s := range sessions {
		state := s.BGPState
		if state == "" {
			state = s.State
		}
		m.peers.WithLabelValues(state).Inc()
	}
}

// reportBGP asks BIRD for its sessions every interval until ctx ends.
func reportBGP(ctx context.Context, agg *health.Aggregator, m *bgpMetrics, socket string, interval time.Duration) {
	agg.Register(healthBGP, 0)
	agg.Report(healthBGP, health.Report{Live: true, Detail: "BIRD not asked yet"})
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		sessions, err := bird.Sessions(qctx, socket)
		cancel()
		m.set(sessions, err)
		r := health.Report{Live: true}
		if err != nil {
			r.Detail = "BIRD is not answering: " + err.Error()
		} else {
			r.Ready, r.Detail = bird.Readiness(sessions)
		}
		agg.Report(healthBGP, r)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
