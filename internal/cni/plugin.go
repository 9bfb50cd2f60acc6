package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/ipam"
)

// Main is the calico binary.
func Main() {
	if buildinfo.AskedForVersion(os.Args[1:]) {
		fmt.Println(buildinfo.String("calico"))
		return
	}
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    wrap(cmdAdd, "calico ADD"),
		Del:    wrap(cmdDel, "calico DEL"),
		Check:  wrap(cmdCheck, "calico CHECK"),
		GC:     wrap(cmdGC, "calico GC"),
		Status: wrap(cmdStatus, "calico STATUS"),
	}, version.All, "calico "+buildinfo.Version)
}

func cmdAdd(args *skel.CmdArgs) error {
	s, err := newSession(args, "calico", true)
	defer s.close()
	if err != nil {
		return err
	}
	k, err := ParseK8sArgs(args.Args)
	if err != nil {
		return argsError{err}
	}
	if args.Netns == "" {
		return &NetnsError{Path: "(none)", Err: errors.New("CNI_NETNS is empty")}
	}
	// A namespace that is not there fails now, before addresses are taken.
	if err := checkNetns(args.Netns); err != nil {
		return err
	}
	hostIface := conversion.VethName(k.Namespace, k.Pod)
	// An ADD for an attachment that exists already (CNI: the same
	// container and interface) answers with the same result and changes
	// nothing.
	wiredBefore, err := hasInterface(args.Netns, args.IfName)
	if err != nil {
		return err
	}
	if wiredBefore {
		return s.repeatedAdd(args, k, hostIface)
	}
	// Addresses first, from the IPAM plugin (calico-ipam runs in this
	// process: it saves a process and a connection to the API server).
	s.phase("connected")
	ips, fresh, err := s.ipamAdd(args)
	if err != nil {
		return err
	}
	s.phase("addresses assigned")
	// Only what this ADD allocated is released if it fails: addresses the
	// container held already (an ADD retried after a crash) stay its own
	// until its DEL.
	undoIPAM := func() {
		if !fresh {
			s.log.Info("the failed ADD keeps the addresses the container held before it", "ips", ips)
			return
		}
		if err := s.ipamDel(context.WithoutCancel(s.ctx), args); err != nil {
			s.log.Error("releasing the addresses of a failed ADD", "err", err)
		}
	}
	if len(ips) == 0 {
		undoIPAM()
		return fmt.Errorf("the IPAM plugin %s returned no addresses", s.conf.IPAM.Type)
	}

	w := Wiring{HostIface: hostIface, Netns: args.Netns, IfName: args.IfName, MTU: s.conf.MTU, IPs: ips,
		AllowIPFwd: s.conf.ContainerSettings.AllowIPForwarding}
	// The pod's annotations are written while its interfaces are made:
	// neither needs the other, and each undoes the other on failure.
	annotated := make(chan error, 1)
	go func() { annotated <- s.annotate(k, args.ContainerID, ips) }()
	wired, err := Setup(w)
	s.phase("interfaces and routes set up")
	annErr := <-annotated
	s.phase("pod annotated")
	if err != nil || annErr != nil {
		if err == nil {
			err = annErr
			_ = Teardown(args.Netns, args.IfName)
		} else if annErr == nil {
			if cerr := s.clearAnnotations(context.WithoutCancel(s.ctx), k, args.ContainerID); cerr != nil {
				s.log.Error("clearing the annotations of a failed ADD", "err", cerr)
			}
		}
		undoIPAM()
		return err
	}

	s.log.Info("wired pod", "pod", k.Namespace+"/"+k.Pod, "interface", hostIface, "ips", ips,
		"ms", float64(time.Since(s.start).Microseconds())/1000)
	return types.PrintResult(s.result(args, hostIface, wired, ips), s.conf.CNIVersion)
}

// result is the ADD's result for a wired pod.
func (s *session) result(args *skel.CmdArgs, hostIface string, wired Wired, ips []netip.Addr) *types100.Result {
	result := &types100.Result{CNIVersion: types100.ImplementedSpecVersion, DNS: s.conf.DNS}
	result.Interfaces = []*types100.Interface{
		{Name: hostIface, Mac: wired.HostMAC},
		{Name: args.IfName, Mac: wired.PodMAC, Sandbox: args.Netns},
	}
	podIdx := 1
	for _, ip := range ips {
		result.IPs = append(result.IPs, &types100.IPConfig{Address: *prefixNet(netip.PrefixFrom(ip, ip.BitLen())), Interface: &podIdx})
	}
	if hasV4(ips) {
		result.Routes = append(result.Routes, &types.Route{Dst: *prefixNet(netip.MustParsePrefix("0.0.0.0/0"))})
	}
	if hasV6(ips) {
		result.Routes = append(result.Routes, &types.Route{Dst: *prefixNet(netip.MustParsePrefix("::/0"))})
	}
	return result
}

// repeatedAdd answers an ADD for a container whose interface exists
// already: if it is this container's, wired as an earlier ADD left it,
// with the addresses IPAM holds for the container, the result is that
// ADD's and nothing is changed (the pod's annotations are written only if
// they do not name the container and its addresses: an ADD that crashed
// after wiring). Anything else is an error that releases nothing: the
// interface and addresses may be a live pod's.
func (s *session) repeatedAdd(args *skel.CmdArgs, k K8sArgs, hostIface string) error {
	var ips []netip.Addr
	if s.conf.IPAM.Type == calicoIPAM {
		handle := HandleID(s.conf.Name, args.ContainerID)
		held, err := s.ipam.IPsByHandle(s.ctx, handle)
		if errors.Is(err, ipam.ErrNotFound) || (err == nil && len(held) == 0) {
			return fmt.Errorf("the pod's network namespace already has an interface %s, but no addresses are allocated to container %s: "+
				"the interface is not this container's (a DEL removes it; or use another CNI_IFNAME)", args.IfName, args.ContainerID)
		}
		if err != nil {
			return fmt.Errorf("the pod's network namespace already has an interface %s; reading the addresses of %s: %w", args.IfName, handle, err)
		}
		ips = held
	} else {
		// Another IPAM plugin cannot be asked without allocating: the
		// interface's own addresses are the earlier result's.
		var err error
		if ips, err = interfaceAddrs(args.Netns, args.IfName); err != nil {
			return err
		}
	}
	wired, err := Inspect(Wiring{HostIface: hostIface, Netns: args.Netns, IfName: args.IfName, IPs: ips})
	if err != nil {
		return fmt.Errorf("the pod's network namespace already has an interface %s, not wired as an earlier ADD of container %s left it: %w",
			args.IfName, args.ContainerID, err)
	}
	// The earlier result's order of addresses is the one the pod's
	// annotations record; they are written again only if missing.
	pod, err := s.core.pod(s.ctx, k.Namespace, k.Pod)
	if err != nil {
		return fmt.Errorf("reading pod %s/%s: %w", k.Namespace, k.Pod, err)
	}
	ips = orderLike(ips, pod.Annotations[v3.AnnotationPodIPs])
	if pod.Annotations[v3.AnnotationContainerID] != args.ContainerID || pod.Annotations[v3.AnnotationPodIPs] != podIPs(ips) {
		if err := s.annotate(k, args.ContainerID, ips); err != nil {
			return err
		}
	}
	s.log.Info("repeated ADD: the pod is wired already", "pod", k.Namespace+"/"+k.Pod, "interface", hostIface, "ips", ips)
	return types.PrintResult(s.result(args, hostIface, wired, ips), s.conf.CNIVersion)
}

// podIPs is the podIPs annotation's value for addresses.
func podIPs(ips []netip.Addr) string {
	var nets []string
	for _, ip := range ips {
		nets = append(nets, netip.PrefixFrom(ip, ip.BitLen()).String())
	}
	return strings.Join(nets, ",")
}

// orderLike puts addresses in the order a podIPs annotation lists them
// (those it does not list last, in their own order).
func orderLike(ips []netip.Addr, annotation string) []netip.Addr {
	rank := map[netip.Addr]int{}
	for i, s := range strings.Split(annotation, ",") {
		if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
			rank[p.Addr()] = i + 1
		}
	}
	out := slices.Clone(ips)
	slices.SortStableFunc(out, func(a, b netip.Addr) int {
		ra, rb := rank[a], rank[b]
		if ra == 0 {
			ra = len(rank) + 1
		}
		if rb == 0 {
			rb = len(rank) + 1
		}
		return ra - rb
	})
	return out
}

// annotate records the pod's addresses and container, where the
// Kubernetes datastore makes the WorkloadEndpoint of them.
func (s *session) annotate(k K8sArgs, containerID string, ips []netip.Addr) error {
	ann := map[string]any{
		v3.AnnotationPodIP:       netip.PrefixFrom(ips[0], ips[0].BitLen()).String(),
		v3.AnnotationPodIPs:      podIPs(ips),
		v3.AnnotationContainerID: containerID,
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err := s.core.patchPod(s.ctx, k.Namespace, k.Pod, patch); err != nil {
		return fmt.Errorf("recording the addresses on pod %s/%s: %w", k.Namespace, k.Pod, err)
	}
	return nil
}

func cmdDel(args *skel.CmdArgs) error {
	s, err := newSession(args, "calico", true)
	defer s.close()
	if err != nil {
		return err
	}
	if err := s.ipamDel(s.ctx, args); err != nil {
		return err
	}
	if err := Teardown(args.Netns, args.IfName); err != nil {
		return err
	}
	k, err := ParseK8sArgs(args.Args)
	if err != nil {
		return nil // not a Kubernetes pod: nothing to clear
	}
	return s.clearAnnotations(s.ctx, k, args.ContainerID)
}

// clearAnnotations removes the pod's address annotations if they are this
// container's: a newer sandbox of the same pod may have written its own.
// The pod is read consistently and written back only if it has not
// changed since (a merge patch carrying the resourceVersion), so a
// concurrent ADD's annotations are never removed.
func (s *session) clearAnnotations(ctx context.Context, k K8sArgs, containerID string) error {
	for range 10 {
		pod, err := s.core.podFresh(ctx, k.Namespace, k.Pod)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading pod %s/%s: %w", k.Namespace, k.Pod, err)
		}
		if pod.Annotations[v3.AnnotationContainerID] != containerID {
			s.log.Info("unwired pod; a newer sandbox owns its annotations", "pod", k.Namespace+"/"+k.Pod)
			return nil
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": pod.ResourceVersion,
			"annotations":     map[string]any{v3.AnnotationPodIP: nil, v3.AnnotationPodIPs: nil, v3.AnnotationContainerID: nil},
		}})
		err = s.core.patchPod(ctx, k.Namespace, k.Pod, patch)
		switch {
		case err == nil:
			s.log.Info("unwired pod", "pod", k.Namespace+"/"+k.Pod)
			return nil
		case apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err):
			return fmt.Errorf("clearing the addresses of pod %s/%s: %w", k.Namespace, k.Pod, err)
		}
	}
	return fmt.Errorf("clearing the addresses of pod %s/%s: it kept changing", k.Namespace, k.Pod)
}

func cmdCheck(args *skel.CmdArgs) error {
	s, err := newSession(args, "calico", false)
	defer s.close()
	if err != nil {
		return err
	}
	if s.conf.RawPrevResult == nil {
		return &ConfError{Field: "prevResult", Problem: "CHECK needs the result of the ADD"}
	}
	k, err := ParseK8sArgs(args.Args)
	if err != nil {
		return argsError{err}
	}
	ips, err := prevIPs(s.conf)
	if err != nil {
		return err
	}
	if err := Check(Wiring{HostIface: conversion.VethName(k.Namespace, k.Pod), Netns: args.Netns, IfName: args.IfName, IPs: ips}); err != nil {
		return err
	}
	return s.ipamCall(args, s.check, invoke.DelegateCheck)
}

func cmdGC(args *skel.CmdArgs) error {
	s, err := newSession(args, "calico", false)
	defer s.close()
	if err != nil {
		return err
	}
	return s.ipamCall(args, func(*skel.CmdArgs) error { return s.gc() }, invoke.DelegateGC)
}

func cmdStatus(args *skel.CmdArgs) error {
	s, err := newSession(args, "calico", false)
	defer s.close()
	if err != nil {
		return err
	}
	return s.ipamCall(args, func(*skel.CmdArgs) error { return s.status() }, invoke.DelegateStatus)
}

// ipamCall runs an IPAM command: calico-ipam's in-process, any other
// IPAM plugin's through the plugin.
func (s *session) ipamCall(args *skel.CmdArgs, local func(*skel.CmdArgs) error,
	delegate func(context.Context, string, []byte, invoke.Exec) error) error {
	if s.conf.IPAM.Type != calicoIPAM {
		return delegate(s.ctx, s.conf.IPAM.Type, args.StdinData, nil)
	}
	if err := s.connect(); err != nil {
		return err
	}
	return local(args)
}

// calicoIPAM is the IPAM plugin the calico plugin runs in-process.
const calicoIPAM = "calico-ipam"

// ipamAdd gets the addresses: in-process for calico-ipam, else from the
// IPAM plugin named in the configuration.
//
// fresh tells whether this call allocated them (see assign). Another IPAM
// plugin cannot say: its addresses count as fresh (host-local, for one,
// refuses a second ADD for a container rather than repeat the first).
func (s *session) ipamAdd(args *skel.CmdArgs) (ips []netip.Addr, fresh bool, err error) {
	if s.conf.IPAM.Type == calicoIPAM {
		got, fresh, err := s.assign(args)
		for _, p := range got {
			ips = append(ips, p.Addr())
		}
		return ips, fresh, err
	}
	res, err := invoke.DelegateAdd(s.ctx, s.conf.IPAM.Type, args.StdinData, nil)
	if err != nil {
		return nil, false, err
	}
	r, err := types100.GetResult(res)
	if err != nil {
		return nil, true, fmt.Errorf("the IPAM plugin's result: %w", err)
	}
	for _, ipc := range r.IPs {
		if a, ok := netip.AddrFromSlice(ipc.Address.IP); ok {
			ips = append(ips, a.Unmap())
		}
	}
	return ips, true, nil
}

func (s *session) ipamDel(ctx context.Context, args *skel.CmdArgs) error {
	if s.conf.IPAM.Type == calicoIPAM {
		return s.release(args)
	}
	return invoke.DelegateDel(ctx, s.conf.IPAM.Type, args.StdinData, nil)
}
