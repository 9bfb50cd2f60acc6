package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/lab/noderuntime"
	"github.com/calicong/calico/internal/lab/probe"
)

// felixHealth is calico-node's readiness endpoint inside the node.
const felixHealth = "127.0.0.1:9099"

// RunNodeAgent is one sandbox node: it relays the API server into the
// node's namespace, runs calico-node and kube-proxy (nftables mode) there
// (restarting them when they exit, as a process supervisor would), and
// plays the node's kubelet and container runtime (internal/noderuntime).
// On the first TyphaReplicas nodes it also runs calico-typha and
// publishes it (typha.go). It serves /readyz (the node registered,
// calico-node ready, kube-proxy healthy, Typha ready where it runs),
// /components (each one's PID, restarts and readiness, for `calico-lab
// status`) and POST /restart?component=calico-node|kube-proxy|calico-typha
// on its health port. It is the body of the hidden `calico-lab
// node-agent` command the supervisor runs per node.
func RunNodeAgent(ctx context.Context, cfg Config, node string, log *slog.Logger) error {
	rec, err := readNodes(cfg)
	if err != nil {
		return err
	}
	if rec == nil {
		return errors.New("the lab has no nodes")
	}
	// Attached, not owned: the pods' namespaces outlive this agent (see
	// KeepPods below); down removes everything.
	mh := multihost.Attach(rec.Cluster)
	h, ok := mh.Host(node)
	if !ok {
		return fmt.Errorf("the lab has no node %q", node)
	}
	if err := h.Relay(fmt.Sprintf("%s:%d", cfg.Host, cfg.APIServerPort)); err != nil {
		return err
	}
	client, err := datastore.Connect(cfg.KubeconfigPath())
	if err != nil {
		return err
	}
	a := &agent{cfg: cfg, host: h, log: log, bin: filepath.Dir(cfg.Executable), procs: map[string]*procState{}, restart: map[string]chan struct{}{
		"calico-node": make(chan struct{}, 1), "kube-proxy": make(chan struct{}, 1)}}
	// calico-node's init container, then its agent, as the DaemonSet has them.
	cni, err := a.installCNI(ctx, client.Kube)
	if err != nil {
		return fmt.Errorf("installing the CNI plugins on %s: %w", node, err)
	}
	if err := h.SetupCNI(cni); err != nil {
		return err
	}
	nodeEnv, err := a.calicoNodeEnv()
	if err != nil {
		return err
	}
	a.checks = map[string]string{"calico-node": "http://" + felixHealth + "/readiness", "kube-proxy": "http://" + kubeProxyHealth + "/healthz"}
	for i, hs := range rec.Cluster.Hosts {
		if hs.Name == node && cfg.typhaNode(i) {
			a.typha = true
			a.restart["calico-typha"] = make(chan struct{}, 1)
			a.checks["calico-typha"] = "http://" + typhaHealth + "/readiness"
		}
	}
	// Pods stay wired when the agent stops, as containers outlive a
	// kubelet restart; the next agent adopts them.
	rt := noderuntime.New(noderuntime.Config{Host: h, Kube: client.Kube, Log: log.With("component", "node-runtime"), KeepPods: true,
		Bin: filepath.Dir(cfg.Executable), APIServer: fmt.Sprintf("%s:%d", cfg.Host, cfg.APIServerPort), CAFile: cfg.CAPath(),
		// Compliance's report jobs reach Linseed.
		Services:   []string{fmt.Sprintf("%s:%d", cfg.Host, cfg.LinseedPort)},
		ClusterDNS: cfg.ClusterDNS()})
	a.runtime = rt

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if a.typha {
		wg.Go(func() { a.supervise(ctx, "calico-typha", a.typhaEnv(), filepath.Join(a.bin, "calico-typha")) })
	}
	wg.Go(func() { a.publish(ctx, client.Kube) })
	wg.Go(func() { a.supervise(ctx, "calico-node", nodeEnv, filepath.Join(a.bin, "calico-node"), "-felix") })
	wg.Go(func() { a.supervise(ctx, "kube-proxy", nil, a.kubeProxyArgs()...) })
	wg.Go(func() {
		if err := rt.Run(ctx); err != nil {
			log.Error("node runtime", "err", err)
		}
	})
	a.serve(ctx, cancel, &wg, rec.AgentPorts[node])
	return nil
}

// serve answers the agent's health port until ctx ends, then waits for
// wg.
func (a *agent) serve(ctx context.Context, cancel func(), wg *sync.WaitGroup, port int) {
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	wg.Go(func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("health endpoint", "err", err)
			cancel()
		}
	})
	<-ctx.Done()
	_ = srv.Close()
	wg.Wait()
}

type agent struct {
	cfg     Config
	host    *multihost.Host
	log     *slog.Logger
	bin     string
	runtime *noderuntime.Runtime // nil on the monitoring host
	// typha is set on the nodes that run a calico-typha replica.
	typha bool
	// checks are the readiness endpoints of the supervised components,
	// inside the host.
	checks map[string]string
	// restart asks for a component to be restarted.
	restart map[string]chan struct{}
	// procs is what runs of each component, for status and rollouts.
	procsMu sync.Mutex
	procs   map[string]*procState
}

// procState is one supervised component's process.
type procState struct {
	pid    int // 0 while it is not running
	since  time.Time
	starts int // processes started, so a rollout can tell the new from the old
	exit   string
}

func (a *agent) started(name string) int {
	a.procsMu.Lock()
	defer a.procsMu.Unlock()
	if st := a.procs[name]; st != nil {
		return st.starts
	}
	return 0
}

// record updates a component's process state.
func (a *agent) record(name string, f func(*procState)) {
	a.procsMu.Lock()
	defer a.procsMu.Unlock()
	st := a.procs[name]
	if st == nil {
		st = &procState{}
		a.procs[name] = st
	}
	f(st)
}

// components reports each supervised component of the node, asking its
// readiness endpoint.
func (a *agent) components(ctx context.Context) []ComponentReport {
	checks := a.readiness()
	var out []ComponentReport
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		a.procsMu.Lock()
		st := procState{}
		if p := a.procs[name]; p != nil {
			st = *p
		}
		a.procsMu.Unlock()
		c := ComponentReport{Name: name, Node: a.host.Name, PID: st.pid, Restarts: max(st.starts-1, 0), Since: st.since, State: "running"}
		if st.pid == 0 {
			c.State, c.Detail = "restarting", st.exit
		} else if err := a.healthy(ctx, name, checks[name]); err != nil {
			c.Detail = err.Error()
		} else {
			c.Ready = true
		}
		out = append(out, c)
	}
	return out
}

// kubeProxyHealth is kube-proxy's health endpoint inside the node.
const kubeProxyHealth = "127.0.0.1:10256"

// kubeProxyArgs run the real kube-proxy, in nftables mode, for the node.
func (a *agent) kubeProxyArgs() []string {
	return []string{a.cfg.KubeBinary, "kube-proxy",
		"--kubeconfig=" + a.cfg.KubeconfigPath(),
		"--hostname-override=" + a.host.Name,
		"--proxy-mode=nftables",
		"--cluster-cidr=192.168.0.0/16",
		// Conntrack limits are the machine's, not a namespace's.
		"--conntrack-max-per-core=0",
		"--healthz-bind-address=" + kubeProxyHealth,
		"--metrics-bind-address=127.0.0.1:10249",
		"--nodeport-addresses=primary",
	}
}

// supervise keeps a program running in the node, restarting it when it
// exits (calico-node's exit code 129 asks for that) or when asked.
func (a *agent) supervise(ctx context.Context, name string, env []string, argv ...string) {
	backoff := time.Second
	for {
		started := time.Now()
		// A restart asked for while the component was down is done by
		// this start; left pending it would kill the new process.
		select {
		case <-a.restart[name]:
		default:
		}
		p, err := a.host.Start(name, env, argv...)
		if err != nil {
			a.log.Error("starting "+name, "err", err)
		} else {
			a.record(name, func(st *procState) { st.pid, st.since, st.exit = p.PID(), time.Now(), ""; st.starts++ })
			select {
			case <-ctx.Done():
				_ = p.Stop(20 * time.Second)
				return
			case <-a.restart[name]:
				a.log.Info("restarting " + name)
				_ = p.Stop(20 * time.Second)
				continue
			case <-p.Done():
				_, err := p.Exited()
				a.log.Warn(name+" exited; restarting", "err", err)
				a.record(name, func(st *procState) { st.pid, st.since, st.exit = 0, time.Now(), fmt.Sprintf("exited: %v", err) })
			}
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// healthy asks a health endpoint inside the node.
func (a *agent) healthy(ctx context.Context, what, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := probe.HTTPClient(a.host.NS, 2*time.Second).Do(req)
	if err != nil {
		return fmt.Errorf("%s is not answering: %w", what, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s is not ready: %s", what, body)
	}
	return nil
}

func (a *agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if a.runtime != nil && !a.runtime.Registered() {
			http.Error(w, "the node is not registered yet", http.StatusServiceUnavailable)
			return
		}
		for what, url := range a.readiness() {
			if err := a.healthy(r.Context(), what, url); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/components", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.components(r.Context()))
	})
	mux.HandleFunc("/restart", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		c := r.URL.Query().Get("component")
		ch, ok := a.restart[c]
		if !ok {
			msg := fmt.Sprintf("%s's agent restarts %s, not %q", a.host.Name, strings.Join(slices.Sorted(maps.Keys(a.restart)), " or "), c)
			if c == "calico-typha" {
				msg = fmt.Sprintf("node %s runs no calico-typha replica", a.host.Name)
			}
			http.Error(w, msg, http.StatusBadRequest)
			return
		}
		before := a.started(c)
		select {
		case ch <- struct{}{}:
		default:
		}
		if r.URL.Query().Get("wait") == "" {
			fmt.Fprintln(w, "restarting "+c)
			return
		}
		// Until a new process runs and is ready, as a DaemonSet's rolling
		// update waits for the new pod's readiness before the next node.
		start := time.Now()
		err := fmt.Errorf("no new %s process has started", c)
		for {
			if a.started(c) > before {
				if err = a.healthy(r.Context(), c, a.readiness()[c]); err == nil {
					break
				}
			}
			select {
			case <-r.Context().Done():
				http.Error(w, fmt.Sprintf("%s on %s not ready again: %v", c, a.host.Name, err), http.StatusGatewayTimeout)
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		fmt.Fprintf(w, "%s restarted, ready in %.1fs\n", c, time.Since(start).Seconds())
	})
	return mux
}

// readiness is each component's readiness endpoint inside the host.
func (a *agent) readiness() map[string]string { return a.checks }
