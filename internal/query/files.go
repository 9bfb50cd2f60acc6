package query

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/manifest"
	"github.com/calicong/calico/internal/model"
)

// OfflineNode is the node of pods that name none in the files.
const OfflineNode = "unscheduled"

// defaultOfflineRange holds made-up pod addresses when the files define no
// IPv4 IP pool: a range policies rarely mention.
var defaultOfflineRange = netip.MustParsePrefix("100.64.0.0/10")

// Snapshot is a datastore state read from files, plus notes for the user.
type Snapshot struct {
	KVs []model.KVPair
	// Assigned lists pods that had no address and got a made-up one.
	Assigned map[string]netip.Addr
	// Ignored counts documents of kinds that play no part in policy.
	Ignored map[string]int
}

// workloadKinds have a pod template; each stands for one pod.
var workloadKinds = map[string]bool{
	"apps/v1/Deployment": true, "apps/v1/StatefulSet": true, "apps/v1/DaemonSet": true,
	"apps/v1/ReplicaSet": true, "batch/v1/Job": true, "batch/v1/CronJob": true,
}

// LoadFiles reads Kubernetes and projectcalico.org/v3 manifests (files,
// directories, "-") into the state a live cluster with those objects would
// have: namespaces and service accounts that objects refer to exist, the
// built-in tiers exist, and a pod without an address gets a stable made-up
// one (from the first IPv4 IP pool in the files, else 100.64.0.0/10). Pods
// of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs
// are represented by one pod each, named after the workload. Every invalid
// document is reported, with its file and document number.
func LoadFiles(paths []string, recursive bool, stdin io.Reader) (*Snapshot, error) {
	docs, err := manifest.Read(paths, recursive, stdin)
	if err != nil {
		return nil, err
	}
	l := &loader{
		kvs:        map[model.Key]any{},
		namespaces: map[string]*corev1.Namespace{},
		accounts:   map[string]*corev1.ServiceAccount{},
		snap:       &Snapshot{Assigned: map[string]netip.Addr{}, Ignored: map[string]int{}},
	}
	var errs []error
	for _, d := range docs {
		if err := l.add(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l.finish()
	return l.snap, nil
}

type loader struct {
	kvs        map[model.Key]any
	namespaces map[string]*corev1.Namespace
	accounts   map[string]*corev1.ServiceAccount // "<ns>/<name>"
	pods       []*corev1.Pod
	pools      []netip.Prefix
	snap       *Snapshot
}

func (l *loader) add(d manifest.Doc) error {
	if d.IsCalico() {
		kind, obj, err := manifest.DecodeCalico(d)
		if err != nil {
			return err
		}
		if kind.Namespaced && obj.GetNamespace() == "" {
			obj.SetNamespace("default")
		}
		if kind.Stored {
			v3.Default(obj)
			if errs := validation.Validate(obj); len(errs) > 0 {
				e := &manifest.Error{Doc: d}
				for _, fe := range errs {
					e.Errs = append(e.Errs, fe.Error())
				}
				return e
			}
		}
		if pool, ok := obj.(*v3.IPPool); ok {
			if p, err := netip.ParsePrefix(pool.Spec.CIDR); err == nil && p.Addr().Is4() && !pool.Spec.Disabled {
				l.pools = append(l.pools, p)
			}
		}
		if kind.Namespaced {
			l.namespace(obj.GetNamespace())
		}
		l.kvs[model.Key{Kind: kind.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}] = obj
		return nil
	}
	gvk := d.APIVersion + "/" + d.Kind
	switch gvk {
	case "v1/Namespace":
		var ns corev1.Namespace
		if err := manifest.DecodeStrict(d, &ns); err != nil {
			return err
		}
		l.namespaces[ns.Name] = &ns
	case "v1/ServiceAccount":
		var sa corev1.ServiceAccount
		if err := manifest.DecodeStrict(d, &sa); err != nil {
			return err
		}
		if sa.Namespace == "" {
			sa.Namespace = "default"
		}
		l.namespace(sa.Namespace)
		l.accounts[sa.Namespace+"/"+sa.Name] = &sa
	case "v1/Pod":
		var pod corev1.Pod
		if err := manifest.DecodeStrict(d, &pod); err != nil {
			return err
		}
		l.addPod(&pod)
	case "networking.k8s.io/v1/NetworkPolicy":
		var np networkingv1.NetworkPolicy
		if err := manifest.DecodeStrict(d, &np); err != nil {
			return err
		}
		if np.Namespace == "" {
			np.Namespace = "default"
		}
		l.namespace(np.Namespace)
		pol, err := conversion.NetworkPolicy(&np)
		if err != nil {
			return manifest.Errorf(d, "%v", err)
		}
		l.kvs[model.Key{Kind: model.KindKubernetesNetworkPolicy, Namespace: np.Namespace, Name: np.Name}] = pol
	case "discovery.k8s.io/v1/EndpointSlice":
		var es discoveryv1.EndpointSlice
		if err := manifest.DecodeStrict(d, &es); err != nil {
			return err
		}
		if es.Namespace == "" {
			es.Namespace = "default"
		}
		l.kvs[model.Key{Kind: model.KindEndpointSlice, Namespace: es.Namespace, Name: es.Name}] = &es
	default:
		if workloadKinds[gvk] {
			return l.addWorkload(d)
		}
		l.snap.Ignored[d.Kind]++
	}
	return nil
}

// addWorkload turns a workload's pod template into one pod.
func (l *loader) addWorkload(d manifest.Doc) error {
	var w struct {
		metav1.ObjectMeta `json:"metadata"`
		Spec              struct {
			Template    *corev1.PodTemplateSpec `json:"template"`
			JobTemplate *struct {
				Spec struct {
					Template *corev1.PodTemplateSpec `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}
	// Workloads carry many fields calicoq does not use: decode leniently.
	if err := jsonUnmarshal(d.JSON, &w); err != nil {
		return manifest.Errorf(d, "%v", err)
	}
	tmpl := w.Spec.Template
	if tmpl == nil && w.Spec.JobTemplate != nil {
		tmpl = w.Spec.JobTemplate.Spec.Template
	}
	if tmpl == nil {
		return manifest.Errorf(d, "spec.template: Required value")
	}
	pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	pod.Name, pod.Namespace = w.Name, w.Namespace
	l.addPod(pod)
	return nil
}

func (l *loader) addPod(pod *corev1.Pod) {
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	if pod.Spec.HostNetwork {
		return
	}
	if pod.Spec.NodeName == "" {
		pod.Spec.NodeName = OfflineNode
	}
	l.namespace(pod.Namespace)
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	l.account(pod.Namespace, sa)
	l.pods = append(l.pods, pod)
}

func (l *loader) namespace(name string) {
	if _, ok := l.namespaces[name]; !ok {
		l.namespaces[name] = nil // referenced; made up in finish if not defined
	}
	l.account(name, "default")
}

func (l *loader) account(ns, name string) {
	if _, ok := l.accounts[ns+"/"+name]; !ok {
		l.accounts[ns+"/"+name] = nil
	}
}

// finish makes up what is referenced but not defined and converts
// everything into stream key/values.
func (l *loader) finish() {
	for _, t := range v3.BuiltinTiers() {
		key := model.Key{Kind: "Tier", Name: t.Name}
		if _, ok := l.kvs[key]; !ok {
			order := t.Order
			l.kvs[key] = &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: t.Name}, Spec: v3.TierSpec{Order: &order, DefaultAction: t.DefaultAction}}
		}
	}
	for name, ns := range l.namespaces {
		if ns == nil {
			ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		}
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		// As the API server does.
		ns.Labels["kubernetes.io/metadata.name"] = name
		p := conversion.NamespaceProfile(ns)
		l.kvs[model.Key{Kind: model.KindProfile, Name: p.Name}] = p
	}
	for id, sa := range l.accounts {
		if sa == nil {
			ns, name, _ := strings.Cut(id, "/")
			sa = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		}
		p := conversion.ServiceAccountProfile(sa)
		l.kvs[model.Key{Kind: model.KindProfile, Name: p.Name}] = p
	}
	l.assignAddresses()
	for _, pod := range l.pods {
		if wep, ok := conversion.WorkloadEndpoint(pod); ok {
			l.kvs[model.Key{Kind: model.KindWorkloadEndpoint, Namespace: wep.Namespace, Name: wep.Name}] = wep
		}
	}
	keys := slices.SortedFunc(maps.Keys(l.kvs), func(a, b model.Key) int {
		return strings.Compare(a.Kind+"/"+a.Namespace+"/"+a.Name, b.Kind+"/"+b.Namespace+"/"+b.Name)
	})
	for _, k := range keys {
		l.snap.KVs = append(l.snap.KVs, model.KVPair{Key: k, Value: l.kvs[k]})
	}
}

// assignAddresses gives each pod without an address a stable made-up one:
// a hash of its namespace and name into the range, probing past addresses
// already taken, pods taken in name order.
func (l *loader) assignAddresses() {
	rng := defaultOfflineRange
	if len(l.pools) > 0 {
		rng = l.pools[0]
	}
	taken := map[netip.Addr]bool{}
	for _, p := range l.pods {
		for _, ip := range podAddrs(p) {
			taken[ip] = true
		}
	}
	sort.Slice(l.pods, func(i, j int) bool {
		return l.pods[i].Namespace+"/"+l.pods[i].Name < l.pods[j].Namespace+"/"+l.pods[j].Name
	})
	size := uint64(1) << (32 - rng.Bits())
	base := ipv4ToUint(rng.Addr())
	for _, p := range l.pods {
		if len(podAddrs(p)) > 0 {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(p.Namespace + "/" + p.Name))
		off := h.Sum64() % size
		for range size {
			// Skip the range's network and broadcast addresses.
			if off != 0 && off != size-1 {
				ip := uintToIPv4(base + uint32(off))
				if !taken[ip] {
					taken[ip] = true
					p.Status.PodIP = ip.String()
					p.Status.PodIPs = []corev1.PodIP{{IP: ip.String()}}
					l.snap.Assigned[p.Namespace+"/"+p.Name] = ip
					break
				}
			}
			off = (off + 1) % size
		}
	}
}

func podAddrs(p *corev1.Pod) []netip.Addr {
	var out []netip.Addr
	for _, s := range append([]string{p.Status.PodIP, p.Annotations[v3.AnnotationPodIP]}, strings.Split(p.Annotations[v3.AnnotationPodIPs], ",")...) {
		s, _, _ = strings.Cut(strings.TrimSpace(s), "/")
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	for _, ip := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func ipv4ToUint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uintToIPv4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// describeIgnored summarises documents that were skipped.
func describeIgnored(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return "ignored documents that play no part in policy: " + strings.Join(parts, ", ")
}
