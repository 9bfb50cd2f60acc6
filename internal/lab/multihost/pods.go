package multihost

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

type cniSetup struct {
	cni  *libcni.CNIConfig
	conf *libcni.NetworkConfigList
}

// CNIOptions are the host's CNI settings.
type CNIOptions struct {
	// BinDir holds the calico and calico-ipam plugins.
	BinDir     string
	Kubeconfig string
	MTU        int
	// IPv4Pools restricts the pools (names or CIDRs).
	IPv4Pools []string
	// AssignIPv6 asks for an IPv6 address too.
	AssignIPv6 bool
	// ConfFile, when set, is the configuration list to use as it is
	// (one calico-cni-install wrote); Kubeconfig, MTU and the pool
	// options are then unused.
	ConfFile string
}

// SetupCNI installs the calico CNI plugins on the host as a runtime would
// find them: wrappers that run them in the host's namespace, and a
// configuration list naming them.
func (h *Host) SetupCNI(o CNIOptions) error {
	wrappers := filepath.Join(h.Dir, "cni-bin")
	if err := os.MkdirAll(wrappers, 0o755); err != nil {
		return err
	}
	for _, p := range []string{"calico", "calico-ipam"} {
		bin := filepath.Join(o.BinDir, p)
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("CNI plugin %s: %w", p, err)
		}
		script := fmt.Sprintf("#!/bin/sh\nexec nsenter --net=/var/run/netns/%s %s \"$@\"\n", h.NS, bin)
		if err := os.WriteFile(filepath.Join(wrappers, p), []byte(script), 0o755); err != nil {
			return err
		}
	}
	cache := filepath.Join(h.Dir, "cni-cache")
	if o.ConfFile != "" {
		conf, err := libcni.ConfListFromFile(o.ConfFile)
		if err != nil {
			return err
		}
		h.cni = &cniSetup{cni: libcni.NewCNIConfigWithCacheDir([]string{wrappers}, cache, nil), conf: conf}
		return nil
	}
	mtu := o.MTU
	if mtu == 0 {
		mtu = 1450
	}
	ipam := map[string]any{"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": fmt.Sprint(o.AssignIPv6)}
	if len(o.IPv4Pools) > 0 {
		ipam["ipv4_pools"] = o.IPv4Pools
	}
	plugin := map[string]any{
		"type": "calico", "log_level": "info", "log_file_path": filepath.Join(h.Dir, "cni.log"),
		"datastore_type": "kubernetes", "nodename": h.Name, "mtu": mtu,
		"ipam_lock_file": filepath.Join(h.Dir, "ipam.lock"), "ipam": ipam,
		"kubernetes": map[string]any{"kubeconfig": o.Kubeconfig}, "policy": map[string]any{"type": "k8s"},
	}
	b, _ := json.Marshal(map[string]any{"cniVersion": "1.1.0", "name": "k8s-pod-network", "plugins": []any{plugin}})
	conf, err := libcni.ConfListFromBytes(b)
	if err != nil {
		return err
	}
	h.cni = &cniSetup{cni: libcni.NewCNIConfigWithCacheDir([]string{wrappers}, cache, nil), conf: conf}
	return nil
}

// Pod is a pod wired on a host.
type Pod struct {
	Host            *Host
	Namespace, Name string
	// NS is the pod's network namespace; IPs its addresses.
	NS          string
	IPs         []netip.Addr
	containerID string
}

// IP is the pod's first IPv4 address.
func (p *Pod) IP() netip.Addr { return p.addr(false) }

// IP6 is the pod's first IPv6 address.
func (p *Pod) IP6() netip.Addr { return p.addr(true) }

func (p *Pod) addr(v6 bool) netip.Addr {
	for _, a := range p.IPs {
		if a.Is6() == v6 {
			return a
		}
	}
	return netip.Addr{}
}

func (p *Pod) rt() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: p.containerID, NetNS: "/var/run/netns/" + p.NS, IfName: "eth0",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", p.Namespace}, {"K8S_POD_NAME", p.Name}, {"K8S_POD_INFRA_CONTAINER_ID", p.containerID}}}
}

// AddPod creates a pod bound to the host in Kubernetes (its namespace
// too, if needed), gives it a network namespace and wires it with the CNI
// plugin, as a kubelet and its runtime would.
func (h *Host) AddPod(ctx context.Context, kube kubernetes.Interface, namespace, name string, labels, annotations map[string]string) (*Pod, error) {
	if h.cni == nil {
		return nil, fmt.Errorf("host %s: SetupCNI first", h.Name)
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	if _, err := CreatePod(ctx, kube, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{NodeName: h.Name, Containers: []corev1.Container{{Name: "c", Image: "none"}}}}); err != nil {
		return nil, fmt.Errorf("creating pod %s/%s: %w", namespace, name, err)
	}
	return h.Wire(ctx, namespace, name, fmt.Sprintf("%x", time.Now().UnixNano()), "p-"+name)
}

// Wire gives an existing pod a network namespace (named after role, or
// reused if it exists) and runs the CNI ADD for it with the sandbox's
// container ID, as a container runtime does for a pod the kubelet starts.
func (h *Host) Wire(ctx context.Context, namespace, name, containerID, role string) (*Pod, error) {
	if h.cni == nil {
		return nil, fmt.Errorf("host %s: SetupCNI first", h.Name)
	}
	ns, err := h.c.ensureNS(role)
	if err != nil {
		return nil, err
	}
	p := &Pod{Host: h, Namespace: namespace, Name: name, NS: ns, containerID: containerID}
	res, err := h.cni.cni.AddNetworkList(ctx, h.cni.conf, p.rt())
	if err != nil {
		return nil, fmt.Errorf("CNI ADD of %s/%s on %s: %w", namespace, name, h.Name, err)
	}
	r, err := types100.GetResult(res)
	if err != nil {
		return nil, err
	}
	for _, ip := range r.IPs {
		if a, ok := netip.AddrFromSlice(ip.Address.IP); ok {
			p.IPs = append(p.IPs, a.Unmap())
		}
	}
	return p, nil
}

// Adopt takes over a pod wired by an earlier process (its namespace and
// addresses as that process recorded them), so it can be unwired later.
func (h *Host) Adopt(namespace, name, containerID, netns string, ips []netip.Addr) (*Pod, error) {
	if h.cni == nil {
		return nil, fmt.Errorf("host %s: SetupCNI first", h.Name)
	}
	if _, err := os.Stat(filepath.Join("/var/run/netns", netns)); err != nil {
		return nil, fmt.Errorf("pod %s/%s: its network namespace %s is gone", namespace, name, netns)
	}
	h.c.mu.Lock()
	if !slices.Contains(h.c.nss, netns) {
		h.c.nss = append(h.c.nss, netns)
	}
	h.c.mu.Unlock()
	return &Pod{Host: h, Namespace: namespace, Name: name, NS: netns, IPs: ips, containerID: containerID}, nil
}

// ContainerID is the pod sandbox's ID, as given to the CNI plugin.
func (p *Pod) ContainerID() string { return p.containerID }

// Unwire runs the CNI DEL for the pod and removes its network namespace.
func (p *Pod) Unwire(ctx context.Context) error {
	if err := p.Host.cni.cni.DelNetworkList(ctx, p.Host.cni.conf, p.rt()); err != nil {
		return fmt.Errorf("CNI DEL of %s/%s on %s: %w", p.Namespace, p.Name, p.Host.Name, err)
	}
	return p.Host.c.deleteNS(p.NS)
}

// CreatePod creates a pod. In a namespace made a moment ago the
// ServiceAccount admission plugin refuses pods until the controller
// manager has made the namespace's default service account, so that
// refusal is retried for a while.
func CreatePod(ctx context.Context, kube kubernetes.Interface, pod *corev1.Pod) (*corev1.Pod, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := kube.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "service account") || time.Now().After(deadline) {
			return p, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
