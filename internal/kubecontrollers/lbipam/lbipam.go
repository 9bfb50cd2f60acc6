// Package lbipam is calico-kube-controllers' service controller: it gives
// Services of type LoadBalancer addresses from IP pools whose allowedUses
// include LoadBalancer, and writes them to the Service's status, where
// kube-proxy serves them and BGP (serviceLoadBalancerIPs) can advertise
// them. The addresses come from blocks with the virtual affinity
// "virtual:load-balancer", under the handle lb-<hash of the Service>, so
// they are released when the Service goes or stops being a LoadBalancer.
//
// A Service may ask for addresses (annotation
// projectcalico.org/loadBalancerIPs, a JSON list, or
// spec.loadBalancerIP) or for pools (projectcalico.org/ipv4pools). With
// assignIPs RequestedServicesOnly (KubeControllersConfiguration), only
// Services that ask get addresses.
package lbipam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
)

// Annotations a Service may carry.
const (
	AnnotationIPs    = "projectcalico.org/loadBalancerIPs"
	AnnotationPools  = "projectcalico.org/ipv4pools"
	AnnotationPools6 = "projectcalico.org/ipv6pools"
)

// Owner is the virtual owner of LoadBalancer blocks.
const Owner = ipam.VirtualPrefix + "load-balancer"

// TypeLoadBalancer is the owner type of LoadBalancer addresses.
const TypeLoadBalancer = "loadBalancer"

// Attribute keys of a LoadBalancer address.
const (
	AttrService          = "service"
	AttrServiceNamespace = "namespace"
)

// Handle is a Service's IPAM handle.
func Handle(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	return "lb-" + hex.EncodeToString(sum[:12])
}

// Config assembles the controller.
type Config struct {
	Kube      kubernetes.Interface
	IPAM      *ipam.IPAM
	AssignIPs v3.AssignIPs
	Log       *slog.Logger
	// Resync is how often every Service and LoadBalancer address is
	// checked again (default 5m), which also releases addresses of
	// Services that went while the controller was down.
	Resync time.Duration
}

// Controller is the service controller.
type Controller struct {
	cfg   Config
	queue workqueue.TypedRateLimitingInterface[string]
	store cache.Store
}

// New makes the controller.
func New(cfg Config) *Controller {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.AssignIPs == "" {
		cfg.AssignIPs = v3.AllServices
	}
	if cfg.Resync == 0 {
		cfg.Resync = 5 * time.Minute
	}
	return &Controller{cfg: cfg, queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	lw := cache.NewListWatchFromClient(c.cfg.Kube.CoreV1().RESTClient(), "services", corev1.NamespaceAll, fields.Everything())
	inf := cache.NewSharedIndexInformer(lw, &corev1.Service{}, c.cfg.Resync, cache.Indexers{})
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue})
	c.store = inf.GetStore()
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return
	}
	go func() {
		t := time.NewTicker(c.cfg.Resync)
		defer t.Stop()
		for {
			c.releaseOrphans(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		if err := c.sync(ctx, key); err != nil && ctx.Err() == nil {
			c.cfg.Log.Warn("LoadBalancer address", "service", key, "err", err)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// request is what a Service asks for: exact addresses, or pools per
// family.
type request struct {
	ips           []netip.Addr
	pools, pools6 []string
}

// requested are the addresses and pools a Service asks for.
func requested(svc *corev1.Service) (r request, err error) {
	r.ips, r.pools, err = requestedV4(svc)
	if err != nil {
		return r, err
	}
	if v, ok := svc.Annotations[AnnotationPools6]; ok {
		if err := json.Unmarshal([]byte(v), &r.pools6); err != nil {
			return r, fmt.Errorf("annotation %s: %q is not a JSON list of pools", AnnotationPools6, v)
		}
	}
	return r, nil
}

// families says which address families a Service still lacks: those of
// its spec.ipFamilies (IPv4 when unset, as for a single-stack IPv4
// cluster) with no held address.
func families(svc *corev1.Service, held []netip.Addr) (need4, need6 bool) {
	fams := svc.Spec.IPFamilies
	if len(fams) == 0 {
		fams = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	has4 := slices.ContainsFunc(held, netip.Addr.Is4)
	has6 := slices.ContainsFunc(held, func(a netip.Addr) bool { return a.Is6() })
	for _, f := range fams {
		switch f {
		case corev1.IPv4Protocol:
			need4 = !has4
		case corev1.IPv6Protocol:
			need6 = !has6
		}
	}
	return need4, need6
}

func requestedV4(svc *corev1.Service) (ips []netip.Addr, pools []string, err error) {
	if v, ok := svc.Annotations[AnnotationIPs]; ok {
		var list []string
		if err := json.Unmarshal([]byte(v), &list); err != nil {
			return nil, nil, fmt.Errorf("annotation %s: %q is not a JSON list of addresses", AnnotationIPs, v)
		}
		for _, s := range list {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				return nil, nil, fmt.Errorf("annotation %s: %q is not an address", AnnotationIPs, s)
			}
			ips = append(ips, a)
		}
	} else if s := svc.Spec.LoadBalancerIP; s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, nil, fmt.Errorf("spec.loadBalancerIP %q is not an address", s)
		}
		ips = append(ips, a)
	}
	if v, ok := svc.Annotations[AnnotationPools]; ok {
		if err := json.Unmarshal([]byte(v), &pools); err != nil {
			return nil, nil, fmt.Errorf("annotation %s: %q is not a JSON list of pools", AnnotationPools, v)
		}
	}
	return ips, pools, nil
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := strings.Cut(key, "/")
	obj, exists, err := c.store.GetByKey(key)
	if err != nil {
		return err
	}
	handle := Handle(ns, name)
	held, err := c.cfg.IPAM.IPsByHandle(ctx, handle)
	if err != nil && !errors.Is(err, ipam.ErrNotFound) {
		return err
	}
	var svc *corev1.Service
	if exists {
		svc = obj.(*corev1.Service)
	}
	var req request
	var reqErr error
	if svc != nil {
		req, reqErr = requested(svc)
	}
	ips := req.ips
	want := svc != nil && svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil &&
		(c.cfg.AssignIPs == v3.AllServices || len(ips) > 0 || len(req.pools) > 0 || len(req.pools6) > 0)
	if !want {
		if len(held) > 0 {
			if err := c.cfg.IPAM.ReleaseByHandle(ctx, handle); err != nil && !errors.Is(err, ipam.ErrNotFound) {
				return err
			}
			c.cfg.Log.Info("released LoadBalancer addresses", "service", key, "ips", held)
		}
		if svc != nil {
			return c.setStatus(ctx, svc, nil, held)
		}
		return nil
	}
	if reqErr != nil {
		return reqErr // a bad annotation: the log says what to fix
	}
	attrs := map[string]string{ipam.AttrType: TypeLoadBalancer, AttrService: name, AttrServiceNamespace: ns}
	switch {
	case len(ips) > 0:
		// Exactly the requested addresses.
		var extra []ipam.ReleaseOptions
		for _, a := range held {
			if !slices.Contains(ips, a) {
				extra = append(extra, ipam.ReleaseOptions{Address: a, Handle: handle})
			}
		}
		if len(extra) > 0 {
			if _, err := c.cfg.IPAM.ReleaseIPs(ctx, extra...); err != nil {
				return err
			}
		}
		for _, a := range ips {
			if slices.Contains(held, a) {
				continue
			}
			if err := c.cfg.IPAM.AssignIP(ctx, ipam.AssignIPArgs{IP: a, HandleID: handle, Attrs: attrs, Node: Owner, Use: v3.IPPoolAllowedUseLoadBalancer}); err != nil {
				return fmt.Errorf("assigning the requested %s: %w", a, err)
			}
		}
		held = ips
	default:
		// One address per family of the Service's ipFamilies.
		need4, need6 := families(svc, held)
		if !need4 && !need6 {
			break
		}
		args := ipam.AssignArgs{HandleID: handle, Attrs: attrs, Node: Owner, IPv4Pools: req.pools, IPv6Pools: req.pools6, Use: v3.IPPoolAllowedUseLoadBalancer}
		if need4 {
			args.Num4 = 1
		}
		if need6 {
			args.Num6 = 1
		}
		got, err := c.cfg.IPAM.AutoAssign(ctx, args)
		if err != nil {
			return fmt.Errorf("no LoadBalancer address (create an IPPool with allowedUses [LoadBalancer] for each of the Service's ipFamilies): %w", err)
		}
		for _, p := range append(got.IPv4, got.IPv6...) {
			held = append(held, p.Addr())
			c.cfg.Log.Info("assigned a LoadBalancer address", "service", key, "ip", p.Addr())
		}
	}
	return c.setStatus(ctx, svc, held, nil)
}

// setStatus makes the Service's ingress list the addresses (dropping those
// released, keeping any another controller wrote).
func (c *Controller) setStatus(ctx context.Context, svc *corev1.Service, ips, released []netip.Addr) error {
	var want []corev1.LoadBalancerIngress
	ours := map[string]bool{}
	for _, a := range append(slices.Clone(ips), released...) {
		ours[a.String()] = true
	}
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if !ours[in.IP] {
			want = append(want, in)
		}
	}
	vip := corev1.LoadBalancerIPModeVIP
	for _, a := range ips {
		want = append(want, corev1.LoadBalancerIngress{IP: a.String(), IPMode: &vip})
	}
	if equalIngress(want, svc.Status.LoadBalancer.Ingress) {
		return nil
	}
	s := svc.DeepCopy()
	s.Status.LoadBalancer.Ingress = want
	_, err := c.cfg.Kube.CoreV1().Services(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func equalIngress(a, b []corev1.LoadBalancerIngress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].IP != b[i].IP {
			return false
		}
	}
	return true
}

// releaseOrphans releases LoadBalancer addresses whose Service is gone
// (deleted while the controller was down).
func (c *Controller) releaseOrphans(ctx context.Context) {
	all, err := c.cfg.IPAM.Allocations(ctx)
	if err != nil {
		c.cfg.Log.Warn("listing LoadBalancer addresses", "err", err)
		return
	}
	done := map[string]bool{}
	for _, al := range all {
		if al.Attrs[ipam.AttrType] != TypeLoadBalancer || done[al.Handle] {
			continue
		}
		done[al.Handle] = true
		key := al.Attrs[AttrServiceNamespace] + "/" + al.Attrs[AttrService]
		if _, exists, _ := c.store.GetByKey(key); !exists {
			c.queue.Add(key)
		}
	}
}
