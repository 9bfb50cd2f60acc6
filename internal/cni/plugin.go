package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
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
	// Addresses first, from the IPAM plugin (calico-ipam runs in this
	// process: it saves a process and a connection to the API server).
	s.phase("connected")
	ips, err := s.ipamAdd(args)
	if err != nil {
		return err
	}
	s.phase("addresses assigned")
	undoIPAM := func() {
		if err := s.ipamDel(context.WithoutCancel(s.ctx), args); err != nil {
			s.log.Error("releasing the addresses of a failed ADD", "err", err)
		}
	}
	if len(ips) == 0 {
		undoIPAM()
		return fmt.Errorf("the IPAM plugin %s returned no addresses", s.conf.IPAM.Type)
	}

	hostIface := conversion.VethName(k.Namespace, k.Pod)
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
	s.log.Info("wired pod", "pod", k.Namespace+"/"+k.Pod, "interface", hostIface, "ips", ips,
		"ms", float64(time.Since(s.start).Microseconds())/1000)
	return types.PrintResult(result, s.conf.CNIVersion)
}

// annotate records the pod's addresses and container, where the
// Kubernetes datastore makes the WorkloadEndpoint of them.
func (s *session) annotate(k K8sArgs, containerID string, ips []netip.Addr) error {
	var nets []string
	for _, ip := range ips {
		nets = append(nets, netip.PrefixFrom(ip, ip.BitLen()).String())
	}
	ann := map[string]any{
		v3.AnnotationPodIP:       nets[0],
		v3.AnnotationPodIPs:      strings.Join(nets, ","),
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
func (s *session) ipamAdd(args *skel.CmdArgs) ([]netip.Addr, error) {
	if s.conf.IPAM.Type == calicoIPAM {
		got, err := s.assign(args)
		var ips []netip.Addr
		for _, p := range got {
			ips = append(ips, p.Addr())
		}
		return ips, err
	}
	res, err := invoke.DelegateAdd(s.ctx, s.conf.IPAM.Type, args.StdinData, nil)
	if err != nil {
		return nil, err
	}
	r, err := types100.GetResult(res)
	if err != nil {
		return nil, fmt.Errorf("the IPAM plugin's result: %w", err)
	}
	var ips []netip.Addr
	for _, ipc := range r.IPs {
		if a, ok := netip.AddrFromSlice(ipc.Address.IP); ok {
			ips = append(ips, a.Unmap())
		}
	}
	return ips, nil
}

func (s *session) ipamDel(ctx context.Context, args *skel.CmdArgs) error {
	if s.conf.IPAM.Type == calicoIPAM {
		return s.release(args)
	}
	return invoke.DelegateDel(ctx, s.conf.IPAM.Type, args.StdinData, nil)
}
