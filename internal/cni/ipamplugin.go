package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	corev1 "k8s.io/api/core/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/crdclient"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/ipam/kdd"
)

// Pod annotations the plugins read.
const (
	AnnotationIPv4Pools = "cni.projectcalico.org/ipv4pools"
	AnnotationIPv6Pools = "cni.projectcalico.org/ipv6pools"
	AnnotationIPAddrs   = "cni.projectcalico.org/ipAddrs"
)

// opTimeout bounds one plugin call's work against the API server.
const opTimeout = 90 * time.Second

// IPAMMain is the calico-ipam binary.
func IPAMMain() {
	if buildinfo.AskedForVersion(os.Args[1:]) {
		fmt.Println(buildinfo.String("calico-ipam"))
		return
	}
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    wrap(ipamAdd, "calico-ipam ADD"),
		Del:    wrap(ipamDel, "calico-ipam DEL"),
		Check:  wrap(ipamCheck, "calico-ipam CHECK"),
		GC:     wrap(ipamGC, "calico-ipam GC"),
		Status: wrap(ipamStatus, "calico-ipam STATUS"),
	}, version.All, "calico-ipam "+buildinfo.Version)
}

// wrap turns a command's error into a CNI error object.
func wrap(f func(*skel.CmdArgs) error, what string) func(*skel.CmdArgs) error {
	return func(a *skel.CmdArgs) error {
		if err := f(a); err != nil {
			return asCNIError(err, what)
		}
		return nil
	}
}

// session is what every command needs: the configuration, the node and a
// client.
type session struct {
	conf   *NetConf
	node   string
	client *crdclient.Client
	core   *core
	ipam   *ipam.IPAM
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time
}

func newSession(args *skel.CmdArgs, plugin string, needClient bool) (*session, error) {
	conf, err := ParseConf(args.StdinData)
	if err != nil {
		return nil, err
	}
	s := &session{conf: conf, log: conf.logger(plugin, args.ContainerID), start: time.Now()}
	s.ctx, s.cancel = context.WithTimeout(context.Background(), opTimeout)
	if s.node, err = conf.NodeName(); err != nil {
		return nil, err
	}
	if !needClient {
		return s, nil
	}
	return s, s.connect()
}

// phase logs, at debug level, how long the command has taken so far.
func (s *session) phase(what string) {
	s.log.Debug(what, "elapsed-ms", float64(time.Since(s.start).Microseconds())/1000)
}

// connect makes the session's API client.
func (s *session) connect() error {
	cfg, err := crdclient.LoadConfig(s.conf.Kubernetes.Kubeconfig)
	if err != nil {
		return &ConfError{Field: "kubernetes.kubeconfig", Problem: err.Error()}
	}
	cfg.Timeout = 30 * time.Second
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		log := s.log
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return requestLog{next: rt, log: log} })
	}
	if s.client, err = crdclient.New(cfg); err != nil {
		return err
	}
	if s.core, err = newCore(s.client.Config); err != nil {
		return err
	}
	s.ipam = kdd.NewIPAMWith(s.client, s.core.nodeLabels)
	return nil
}

func (s *session) close() {
	if s != nil && s.cancel != nil {
		s.cancel()
	}
}

// poolsFrom reads a JSON list of pools from an annotation.
func poolsFrom(ann map[string]string, key string) ([]string, error) {
	v, ok := ann[key]
	if !ok {
		return nil, nil
	}
	var pools []string
	if err := json.Unmarshal([]byte(v), &pools); err != nil {
		return nil, &ConfError{Field: "annotation " + key, Problem: fmt.Sprintf("%q is not a JSON list of pool names or CIDRs", v)}
	}
	return pools, nil
}

func ipamAdd(args *skel.CmdArgs) error {
	s, err := newSession(args, "calico-ipam", true)
	defer s.close()
	if err != nil {
		return err
	}
	ips, _, err := s.assign(args)
	if err != nil {
		return err
	}
	return printIPs(&types100.Result{CNIVersion: types100.ImplementedSpecVersion}, ips, s.conf)
}

// single is an address as a one-address prefix.
func single(ip netip.Addr) netip.Prefix { return netip.PrefixFrom(ip, ip.BitLen()) }

// assign is calico-ipam's ADD: the addresses for a container, by the
// pod's and namespace's annotations, the configuration's pools, or all.
// Each comes with its block's prefix length (as Calico's IPAM plugin
// reports them: plugins like ptp route the block); the calico plugin
// narrows them to single addresses.
//
// fresh tells whether this call allocated them: false when they were the
// container's already (a repeated ADD), which a failing ADD must then
// not release.
func (s *session) assign(args *skel.CmdArgs) (ips []netip.Prefix, fresh bool, err error) {
	k, err := ParseK8sArgs(args.Args)
	if err != nil {
		return nil, false, argsError{err}
	}
	// The pod is read first, alone: that opens the connection to the API
	// server, which every later request shares (requests made together on
	// a new client would each open their own, a TLS handshake apiece).
	// Reading needs no lock, and the node's lock is usually free.
	pod, podErr := s.core.pod(s.ctx, k.Namespace, k.Pod)
	// One IPAM request at a time on a node: a burst of pod starts queues
	// here instead of swamping the API server.
	unlock, err := hostLock(s.conf.IPAMLockFile)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	// Under the lock, all at once: the namespace, any earlier allocation
	// of this container, and what the allocator reads before it writes.
	var (
		ns          *corev1.Namespace
		nsErr       error
		existing    []netip.Addr
		existingErr error
		inputs      *ipam.Inputs
		wg          sync.WaitGroup
	)
	handle := HandleID(s.conf.Name, args.ContainerID)
	wg.Go(func() { ns, nsErr = s.core.namespace(s.ctx, k.Namespace) })
	wg.Go(func() { existing, existingErr = s.ipam.IPsByHandle(s.ctx, handle) })
	wg.Go(func() { inputs = s.ipam.ReadInputs(s.ctx, s.node) })
	wg.Wait()
	if podErr != nil {
		return nil, false, fmt.Errorf("reading pod %s/%s: %w", k.Namespace, k.Pod, podErr)
	}
	if nsErr != nil {
		return nil, false, fmt.Errorf("reading namespace %s: %w", k.Namespace, nsErr)
	}
	// Not knowing whether the container has addresses already, allocating
	// could give it a second set: fail instead (the runtime retries).
	if existingErr != nil && !errors.Is(existingErr, ipam.ErrNotFound) {
		return nil, false, fmt.Errorf("reading the addresses already allocated to %s: %w", handle, existingErr)
	}
	// A repeated ADD (a retry after a crash, say) gets the same addresses.
	if len(existing) > 0 {
		var out []netip.Prefix
		for _, ip := range existing {
			out = append(out, single(ip))
		}
		return out, false, nil
	}
	attrs := map[string]string{
		ipam.AttrNamespace: k.Namespace, ipam.AttrPod: k.Pod, ipam.AttrNode: s.node,
		ipam.AttrTimestamp: time.Now().UTC().Format(time.RFC3339),
	}
	if v, ok := pod.Annotations[AnnotationIPAddrs]; ok {
		var want []string
		if err := json.Unmarshal([]byte(v), &want); err != nil {
			return nil, false, &ConfError{Field: "annotation " + AnnotationIPAddrs, Problem: fmt.Sprintf("%q is not a JSON list of addresses", v)}
		}
		var got []netip.Prefix
		for _, w := range want {
			ip, err := netip.ParseAddr(strings.TrimSpace(w))
			if err != nil {
				return nil, false, &ConfError{Field: "annotation " + AnnotationIPAddrs, Problem: fmt.Sprintf("%q is not an address", w)}
			}
			if err := s.ipam.AssignIP(s.ctx, ipam.AssignIPArgs{IP: ip, HandleID: handle, Attrs: attrs, Node: s.node}); err != nil {
				_ = s.ipam.ReleaseByHandle(context.WithoutCancel(s.ctx), handle)
				return nil, false, fmt.Errorf("assigning %s from %s: %w", ip, AnnotationIPAddrs, err)
			}
			got = append(got, single(ip))
		}
		return got, true, nil
	}
	v4pools, err := poolsFrom(pod.Annotations, AnnotationIPv4Pools)
	if err != nil {
		return nil, false, err
	}
	v6pools, err := poolsFrom(pod.Annotations, AnnotationIPv6Pools)
	if err != nil {
		return nil, false, err
	}
	if v4pools == nil {
		if v4pools, err = poolsFrom(ns.Annotations, AnnotationIPv4Pools); err != nil {
			return nil, false, err
		}
	}
	if v6pools == nil {
		if v6pools, err = poolsFrom(ns.Annotations, AnnotationIPv6Pools); err != nil {
			return nil, false, err
		}
	}
	if v4pools == nil {
		v4pools = s.conf.IPAM.IPv4Pools
	}
	if v6pools == nil {
		v6pools = s.conf.IPAM.IPv6Pools
	}
	req := ipam.AssignArgs{HandleID: handle, Attrs: attrs, Node: s.node, IPv4Pools: v4pools, IPv6Pools: v6pools,
		NamespaceLabels: ns.Labels, Inputs: inputs}
	if s.conf.IPAM.V4() {
		req.Num4 = 1
	}
	if s.conf.IPAM.V6() {
		req.Num6 = 1
	}
	got, err := s.ipam.AutoAssign(s.ctx, req)
	if err != nil {
		return nil, false, fmt.Errorf("pod %s/%s: %w", k.Namespace, k.Pod, err)
	}
	return append(got.IPv4, got.IPv6...), true, nil
}

// printIPs writes the IPAM result.
func printIPs(r *types100.Result, ips []netip.Prefix, conf *NetConf) error {
	for _, ip := range ips {
		r.IPs = append(r.IPs, &types100.IPConfig{Address: *prefixNet(ip)})
	}
	r.DNS = conf.DNS
	return types.PrintResult(r, conf.CNIVersion)
}

func ipamDel(args *skel.CmdArgs) error {
	s, err := newSession(args, "calico-ipam", true)
	defer s.close()
	if err != nil {
		return err
	}
	return s.release(args)
}

// release is calico-ipam's DEL: idempotent.
func (s *session) release(args *skel.CmdArgs) error {
	unlock, err := hostLock(s.conf.IPAMLockFile)
	if err != nil {
		return err
	}
	defer unlock()
	err = s.ipam.ReleaseByHandle(s.ctx, HandleID(s.conf.Name, args.ContainerID))
	if errors.Is(err, ipam.ErrNotFound) {
		return nil // already released
	}
	return err
}

func ipamCheck(args *skel.CmdArgs) error {
	s, err := newSession(args, "calico-ipam", true)
	defer s.close()
	if err != nil {
		return err
	}
	return s.check(args)
}

// check is calico-ipam's CHECK: the previous result's addresses are
// allocated to the container.
func (s *session) check(args *skel.CmdArgs) error {
	handle := HandleID(s.conf.Name, args.ContainerID)
	ips, err := s.ipam.IPsByHandle(s.ctx, handle)
	if errors.Is(err, ipam.ErrNotFound) || (err == nil && len(ips) == 0) {
		return fmt.Errorf("no addresses are allocated to %s", handle)
	}
	if err != nil {
		return err
	}
	prev, err := prevIPs(s.conf)
	if err != nil {
		return err
	}
	for _, p := range prev {
		if !slices.Contains(ips, p) {
			return fmt.Errorf("%s is in the previous result but not allocated to %s", p, handle)
		}
	}
	return nil
}

// prevIPs are the addresses of the previous result (CHECK, DEL).
func prevIPs(conf *NetConf) ([]netip.Addr, error) {
	if conf.RawPrevResult == nil {
		return nil, nil
	}
	b, err := json.Marshal(conf.RawPrevResult)
	if err != nil {
		return nil, err
	}
	res, err := types100.NewResult(b)
	if err != nil {
		return nil, &ConfError{Field: "prevResult", Problem: err.Error()}
	}
	r, err := types100.GetResult(res)
	if err != nil {
		return nil, &ConfError{Field: "prevResult", Problem: err.Error()}
	}
	var out []netip.Addr
	for _, ipc := range r.IPs {
		if a, ok := netip.AddrFromSlice(ipc.Address.IP); ok {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// ipamGC releases this node's allocations on this network whose
// containers are not among the valid attachments.
func ipamGC(args *skel.CmdArgs) error {
	s, err := newSession(args, "calico-ipam", true)
	defer s.close()
	if err != nil {
		return err
	}
	return s.gc()
}

func (s *session) gc() error {
	valid := map[string]bool{}
	for _, a := range s.conf.ValidAttachments {
		valid[HandleID(s.conf.Name, a.ContainerID)] = true
	}
	all, err := s.ipam.Allocations(s.ctx)
	if err != nil {
		return err
	}
	unlock, err := hostLock(s.conf.IPAMLockFile)
	if err != nil {
		return err
	}
	defer unlock()
	done := map[string]bool{}
	for _, al := range all {
		if al.Attrs[ipam.AttrNode] != s.node || !strings.HasPrefix(al.Handle, s.conf.Name+".") || valid[al.Handle] || done[al.Handle] {
			continue
		}
		done[al.Handle] = true
		if err := s.ipam.ReleaseByHandle(s.ctx, al.Handle); err != nil && !errors.Is(err, ipam.ErrNotFound) {
			return fmt.Errorf("releasing %s: %w", al.Handle, err)
		}
	}
	return nil
}

// ipamStatus: ready when the API server answers and an enabled pool
// exists.
func ipamStatus(args *skel.CmdArgs) error {
	s, err := newSession(args, "calico-ipam", true)
	defer s.close()
	if err != nil {
		return err
	}
	return s.status()
}

func (s *session) status() error {
	pools, err := s.client.ListCached(s.ctx, ipam.KindPool, "")
	if err != nil {
		return types.NewError(CodeNotAvailable, "calico-ipam cannot reach the Kubernetes API server: "+err.Error(), "")
	}
	for _, p := range pools {
		if !p.(*v3.IPPool).Spec.Disabled {
			return nil
		}
	}
	return types.NewError(CodeNotAvailable, "there is no enabled IP pool: create one (calicoctl apply -f pool.yaml)", "")
}
