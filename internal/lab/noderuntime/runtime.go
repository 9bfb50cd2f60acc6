// Package noderuntime plays the kubelet and container runtime of a lab
// node: it registers the node and keeps its lease, and for every pod the
// scheduler binds to the node it makes a network namespace, calls the CNI
// plugins through libcni as a runtime does (ADD when the pod starts, DEL
// when it goes), serves every declared containerPort with the built-in
// workload server (TCP answers HTTP with the pod's name, UDP echoes,
// SCTP answers INIT), and reports the pod Running and Ready with its
// addresses. A pod being deleted is unwired and then removed for good, as
// a kubelet confirms a deletion. Host-network pods get the node's address
// and no sandbox.
package noderuntime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/lab/probe"
)

// Config assembles a node runtime.
type Config struct {
	// Host is the node: its name, address and CNI set-up.
	Host *multihost.Host
	Kube kubernetes.Interface
	Log  *slog.Logger
	// Heartbeat is how often the lease is renewed (default 10s).
	Heartbeat time.Duration
	// Workers reconcile pods in parallel (default 4).
	Workers int
	// KeepPods leaves the pods wired when the runtime stops, as a kubelet
	// restart leaves containers running: the next runtime of the node
	// adopts them from Host.Dir/pods.json. Without it, stopping unwires
	// every pod.
	KeepPods bool
	// Bin is the directory of the lab's binaries, APIServer the API
	// server's host:port (relayed into pods) and CAFile its CA, for pods
	// that run a lab program (Programs).
	Bin, APIServer, CAFile string
	// Services are more host:port addresses relayed into such pods at
	// the same address (the lab's Linseed, for compliance's report jobs).
	Services []string
	// ClusterDNS is the kube-dns Service's address, which client pods
	// resolve Services through.
	ClusterDNS netip.Addr
}

// Runtime is one node's runtime.
type Runtime struct {
	cfg   Config
	since metav1.Time
	queue workqueue.TypedRateLimitingInterface[string]
	store cache.Store

	mu         sync.Mutex
	sandboxes  map[string]*sandbox // by namespace/name
	registered atomic.Bool
}

// Registered tells whether the node is registered (and its pods run).
func (r *Runtime) Registered() bool { return r.registered.Load() }

type sandbox struct {
	uid types.UID
	pod *multihost.Pod
	srv *probe.Server
	// prog is the pod's lab program, if it runs one instead of the
	// workload server.
	prog *program
	// stopClient ends the pod's client traffic (AnnotationConnect), if
	// any.
	stopClient context.CancelFunc
}

// New makes a runtime; Run starts it.
func New(cfg Config) *Runtime {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	return &Runtime{cfg: cfg, since: metav1.Now(), sandboxes: map[string]*sandbox{},
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
}

// Pod is a running pod's sandbox, if the runtime has one.
func (r *Runtime) Pod(namespace, name string) (*multihost.Pod, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb, ok := r.sandboxes[namespace+"/"+name]
	if !ok {
		return nil, false
	}
	return sb.pod, true
}

// Run registers the node and runs its pods until ctx ends; the pods'
// sandboxes are then torn down (the node stops).
func (r *Runtime) Run(ctx context.Context) error {
	// Registration is retried until it works (the API server may be
	// starting, or busy).
	for {
		err := r.register(ctx)
		if err == nil {
			r.registered.Store(true)
			break
		}
		r.cfg.Log.Warn("registering the node; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	go r.heartbeats(ctx)
	lw := cache.NewListWatchFromClient(r.cfg.Kube.CoreV1().RESTClient(), "pods", corev1.NamespaceAll,
		fields.OneTermEqualSelector("spec.nodeName", r.cfg.Host.Name))
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			r.queue.Add(key)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue,
	}); err != nil {
		return err
	}
	r.store = inf.GetStore()
	r.adopt()
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Go(func() {
			for r.work(ctx) {
			}
		})
	}
	// Pods adopted from an earlier runtime whose pod is gone are unwired.
	r.mu.Lock()
	for key := range r.sandboxes {
		r.queue.Add(key)
	}
	r.mu.Unlock()
	<-ctx.Done()
	r.queue.ShutDown()
	wg.Wait()
	if r.cfg.KeepPods {
		r.closeServers()
		return nil
	}
	r.stopAll()
	return nil
}

// record is a sandbox as pods.json keeps it.
type record struct {
	UID         types.UID    `json:"uid"`
	ContainerID string       `json:"containerID"`
	Netns       string       `json:"netns"`
	IPs         []netip.Addr `json:"ips"`
}

func (r *Runtime) stateFile() string { return filepath.Join(r.cfg.Host.Dir, "pods.json") }

// save writes the sandboxes to pods.json (called with r.mu held).
func (r *Runtime) save() {
	recs := map[string]record{}
	for key, sb := range r.sandboxes {
		recs[key] = record{UID: sb.uid, ContainerID: sb.pod.ContainerID(), Netns: sb.pod.NS, IPs: sb.pod.IPs}
	}
	data, _ := json.MarshalIndent(recs, "", "  ")
	tmp := r.stateFile() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err == nil {
		err = os.Rename(tmp, r.stateFile())
		if err != nil {
			r.cfg.Log.Warn("recording the pods", "err", err)
		}
	}
}

// adopt takes over the sandboxes an earlier runtime of this node left
// (their workload servers start again when their pods are synced).
func (r *Runtime) adopt() {
	data, err := os.ReadFile(r.stateFile())
	if err != nil {
		return
	}
	var recs map[string]record
	if err := json.Unmarshal(data, &recs); err != nil {
		r.cfg.Log.Warn("reading the pods of an earlier runtime", "err", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, rec := range recs {
		ns, name, _ := strings.Cut(key, "/")
		p, err := r.cfg.Host.Adopt(ns, name, rec.ContainerID, rec.Netns, rec.IPs)
		if err != nil {
			r.cfg.Log.Warn("not adopting a pod", "pod", key, "err", err)
			continue
		}
		r.sandboxes[key] = &sandbox{uid: rec.UID, pod: p}
		r.cfg.Log.Info("adopted pod", "pod", key, "ips", rec.IPs)
	}
}

// closeServers stops the workload servers, leaving the pods wired.
func (r *Runtime) closeServers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sb := range r.sandboxes {
		if sb.srv != nil {
			sb.srv.Close()
			sb.srv = nil
		}
		if sb.prog != nil {
			sb.prog.stop()
			sb.prog = nil
		}
		if sb.stopClient != nil {
			sb.stopClient()
			sb.stopClient = nil
		}
	}
	r.save()
}

func (r *Runtime) heartbeats(ctx context.Context) {
	t := time.NewTicker(r.cfg.Heartbeat)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// The lease every beat; the status every sixth (a minute by
			// default).
			if err := r.heartbeat(ctx, i%6 == 0); err != nil && ctx.Err() == nil {
				r.cfg.Log.Warn("node heartbeat", "err", err)
			}
		}
	}
}

func (r *Runtime) work(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	if err := r.sync(ctx, key); err != nil {
		if ctx.Err() != nil {
			return true
		}
		r.cfg.Log.Warn("pod", "pod", key, "err", err)
		r.queue.AddRateLimited(key)
		return true
	}
	r.queue.Forget(key)
	return true
}

// sync makes one pod's sandbox and status what the pod asks for.
func (r *Runtime) sync(ctx context.Context, key string) error {
	obj, exists, err := r.store.GetByKey(key)
	if err != nil {
		return err
	}
	var pod *corev1.Pod
	if exists {
		pod = obj.(*corev1.Pod)
	}
	r.mu.Lock()
	sb := r.sandboxes[key]
	r.mu.Unlock()
	running := pod != nil && pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed

	// A sandbox of an older pod of the same name, or of a pod that goes.
	if sb != nil && (!running || sb.uid != pod.UID) {
		if err := r.teardown(ctx, key, sb); err != nil {
			return err
		}
		sb = nil
	}
	if pod != nil && pod.DeletionTimestamp != nil {
		// Unwired: the deletion can complete.
		zero := int64(0)
		err := r.cfg.Kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero,
			Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	if !running {
		return nil
	}
	if pod.Spec.HostNetwork {
		ip := r.cfg.Host.IP.Addr().String()
		return r.setRunning(ctx, pod, []string{ip})
	}
	if sb == nil {
		if sb, err = r.start(ctx, pod); err != nil {
			return err
		}
		r.mu.Lock()
		r.sandboxes[key] = sb
		r.save()
		r.mu.Unlock()
	} else if sb.srv == nil && sb.prog == nil {
		// Adopted: serve its ports again.
		if err := r.serve(ctx, pod, sb); err != nil {
			return fmt.Errorf("serving %s's ports again: %w", key, err)
		}
	}
	r.startClient(sb, pod)
	var ips []string
	for _, a := range sb.pod.IPs {
		ips = append(ips, a.String())
	}
	return r.setRunning(ctx, pod, ips)
}

// startClient starts the pod's client traffic once, if it asks for it.
func (r *Runtime) startClient(sb *sandbox, pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sb.stopClient != nil {
		return
	}
	targets, every, err := clientTargets(pod)
	if err != nil {
		r.cfg.Log.Warn("pod's client annotations", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return
	}
	if len(targets) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	sb.stopClient = cancel
	go runClient(ctx, r.cfg.Kube, r.cfg.ClusterDNS, pod.Namespace, sb.pod.NS, targets, every, r.cfg.Log.With("pod", pod.Namespace+"/"+pod.Name))
}

// SandboxRole is the multihost role of a pod's network namespace (the
// namespace is named <cluster prefix>-<role>): derived from the pod's UID,
// so a restarted runtime, and the lab's commands, find it again.
func SandboxRole(uid types.UID) string { return "p-" + containerID(uid)[:12] }

// containerID is the pod sandbox's ID given to the CNI plugin.
func containerID(uid types.UID) string { return strings.ReplaceAll(string(uid), "-", "") }

// start makes a pod's sandbox: its network namespace, the CNI ADD, and
// the workload server on its ports.
func (r *Runtime) start(ctx context.Context, pod *corev1.Pod) (*sandbox, error) {
	p, err := r.cfg.Host.Wire(ctx, pod.Namespace, pod.Name, containerID(pod.UID), SandboxRole(pod.UID))
	if err != nil {
		return nil, err
	}
	sb := &sandbox{uid: pod.UID, pod: p}
	if err := r.serve(ctx, pod, sb); err != nil {
		_ = p.Unwire(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("serving %s/%s's ports: %w", pod.Namespace, pod.Name, err)
	}
	r.cfg.Log.Info("pod started", "pod", pod.Namespace+"/"+pod.Name, "ips", p.IPs, "netns", p.NS)
	return sb, nil
}

// serve runs what serves the pod: its lab program, or the workload
// server on its ports.
func (r *Runtime) serve(ctx context.Context, pod *corev1.Pod, sb *sandbox) error {
	if name, c := programOf(pod); c != nil {
		prog, err := r.startProgram(ctx, pod, sb.pod.NS, name, c)
		if err != nil {
			return err
		}
		r.mu.Lock()
		sb.prog = prog
		r.mu.Unlock()
		return nil
	}
	ports := podPorts(pod)
	if len(ports) == 0 {
		return nil
	}
	srv, err := probe.Serve(sb.pod.NS, pod.Name, ports)
	if err != nil {
		return err
	}
	r.mu.Lock()
	sb.srv = srv
	r.mu.Unlock()
	return nil
}

// podPorts are the ports the pod's containers declare, each once.
func podPorts(pod *corev1.Pod) []probe.Port {
	var out []probe.Port
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, p := range c.Ports {
			pp := probe.Port{Protocol: string(p.Protocol), Port: int(p.ContainerPort)}
			if pp.Protocol == "" {
				pp.Protocol = "TCP"
			}
			if !slices.Contains(out, pp) {
				out = append(out, pp)
			}
		}
	}
	return out
}

func (r *Runtime) teardown(ctx context.Context, key string, sb *sandbox) error {
	r.mu.Lock()
	if sb.stopClient != nil {
		sb.stopClient()
		sb.stopClient = nil
	}
	r.mu.Unlock()
	if sb.srv != nil {
		sb.srv.Close()
		sb.srv = nil
	}
	if sb.prog != nil {
		sb.prog.stop()
		sb.prog = nil
	}
	if err := sb.pod.Unwire(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	if r.sandboxes[key] == sb {
		delete(r.sandboxes, key)
		r.save()
	}
	r.mu.Unlock()
	r.cfg.Log.Info("pod stopped", "pod", key)
	return nil
}

// stopAll tears every sandbox down (the node stops).
func (r *Runtime) stopAll() {
	r.mu.Lock()
	all := r.sandboxes
	r.sandboxes = map[string]*sandbox{}
	r.save()
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, sb := range all {
		if sb.srv != nil {
			sb.srv.Close()
		}
		if sb.prog != nil {
			sb.prog.stop()
		}
		if sb.stopClient != nil {
			sb.stopClient()
		}
		errs = append(errs, sb.pod.Unwire(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		r.cfg.Log.Warn("stopping pods", "err", err)
	}
}

// setRunning reports the pod Running and Ready with its addresses, if it
// does not say so already.
func (r *Runtime) setRunning(ctx context.Context, pod *corev1.Pod, ips []string) error {
	if isReported(pod, ips, r.cfg.Host.IP.Addr().String()) {
		return nil
	}
	p := pod.DeepCopy()
	now := metav1.Now()
	st := &p.Status
	st.Phase = corev1.PodRunning
	st.HostIP = r.cfg.Host.IP.Addr().String()
	st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	st.PodIP = ips[0]
	st.PodIPs = nil
	for _, ip := range ips {
		st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
	}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	st.Conditions = nil
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	st.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		started := true
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Ready: true, Started: &started, Image: c.Image, ImageID: "calico-lab://" + c.Image,
			ContainerID: "calico-lab://" + containerID(p.UID),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: *st.StartTime}},
		})
	}
	_, err := r.cfg.Kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func isReported(pod *corev1.Pod, ips []string, hostIP string) bool {
	st := pod.Status
	if st.Phase != corev1.PodRunning || st.HostIP != hostIP || len(st.PodIPs) != len(ips) {
		return false
	}
	for i, ip := range ips {
		if st.PodIPs[i].IP != ip {
			return false
		}
	}
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
