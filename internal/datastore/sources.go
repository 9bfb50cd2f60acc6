package datastore

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/syncer"
)

// Synthesised sources, named after the native objects they watch.
const (
	SourcePods                      = "pods"
	SourceNamespaces                = "namespaces"
	SourceServiceAccounts           = "serviceaccounts"
	SourceKubernetesNetworkPolicies = "networkpolicies.networking.k8s.io"
	SourceEndpointSlices            = "endpointslices.discovery.k8s.io"
	SourceNodes                     = "nodes"
)

// FelixKinds are the stored Calico kinds Felix's calculation graph needs.
var FelixKinds = []string{
	"Tier", "NetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy",
	"StagedGlobalNetworkPolicy", "StagedKubernetesNetworkPolicy", "NetworkSet",
	"GlobalNetworkSet", "HostEndpoint", "IPPool", "FelixConfiguration",
	"ClusterInformation", "BGPConfiguration", "IPAMBlock",
}

// BGPKinds are the stored kinds confd needs; with the synthesised Nodes
// they are the "bgp" syncer type.
var BGPKinds = []string{"BGPConfiguration", "BGPPeer", "BGPFilter", "IPPool", "IPAMBlock"}

// The syncer types Typha serves.
const (
	SyncerFelix = "felix"
	SyncerBGP   = "bgp"
)

// SyncerSources returns the sources of one syncer type: "felix" is
// FelixKinds plus every synthesised resource; "bgp" is BGPKinds plus
// Nodes.
func (c *Client) SyncerSources(syncerType string, log *slog.Logger) ([]syncer.Source, error) {
	switch syncerType {
	case SyncerFelix:
		return c.Sources(FelixKinds, log)
	case SyncerBGP:
		all, err := c.Sources(BGPKinds, log)
		if err != nil {
			return nil, err
		}
		synthesised := []string{SourcePods, SourceNamespaces, SourceServiceAccounts, SourceKubernetesNetworkPolicies, SourceEndpointSlices}
		return slices.DeleteFunc(all, func(s syncer.Source) bool { return slices.Contains(synthesised, s.Name) }), nil
	}
	return nil, fmt.Errorf("unknown syncer type %q (felix or bgp)", syncerType)
}

// Reads is one API group's resources a syncer lists and watches.
type Reads struct {
	Group     string
	Resources []string
}

// SyncerReads are the resources a syncer type lists and watches, for
// RBAC: the manifests grant exactly these.
func SyncerReads(syncerType string) ([]Reads, error) {
	var kinds []string
	synthesised := []string{SourcePods, SourceNamespaces, SourceServiceAccounts, SourceKubernetesNetworkPolicies, SourceEndpointSlices, SourceNodes}
	switch syncerType {
	case SyncerFelix:
		kinds = FelixKinds
	case SyncerBGP:
		kinds, synthesised = BGPKinds, []string{SourceNodes}
	default:
		return nil, fmt.Errorf("unknown syncer type %q (felix or bgp)", syncerType)
	}
	calico := Reads{Group: v3.GroupName}
	for _, k := range kinds {
		ki, _ := v3.KindFor(k)
		calico.Resources = append(calico.Resources, ki.Plural)
	}
	byGroup := map[string][]string{}
	for _, s := range synthesised {
		res, group, _ := strings.Cut(s, ".")
		byGroup[group] = append(byGroup[group], res)
	}
	out := []Reads{calico}
	for _, g := range []string{"", "networking.k8s.io", "discovery.k8s.io"} {
		if len(byGroup[g]) > 0 {
			out = append(out, Reads{Group: g, Resources: byGroup[g]})
		}
	}
	return out, nil
}

// Sources returns syncer sources for the given stored Calico kinds plus the
// resources synthesised from Pods, Namespaces, ServiceAccounts, Kubernetes
// NetworkPolicies, EndpointSlices and Nodes.
//
// Stored resources are defaulted and validated on the way in: one that
// fails validation (written by a client that bypassed it) is sent with a nil
// value, so consumers treat it as absent rather than enforce half of it.
func (c *Client) Sources(kinds []string, log *slog.Logger) ([]syncer.Source, error) {
	var out []syncer.Source
	for _, name := range kinds {
		kind, ok := v3.KindFor(name)
		if !ok || !kind.Stored {
			return nil, fmt.Errorf("syncer: %q is not a stored Calico kind", name)
		}
		out = append(out, syncer.Source{
			Name:      kind.Plural,
			ListWatch: c.ListWatch(kind, ""),
			Example:   kind.New(),
			Convert:   convertStored(kind),
		})
	}
	core := c.Kube.CoreV1().RESTClient()
	out = append(out,
		syncer.Source{
			Name:      SourcePods,
			ListWatch: cache.NewListWatchFromClient(core, "pods", "", fields.Everything()),
			Example:   &corev1.Pod{},
			Convert: func(obj runtime.Object) (model.Key, any, bool, error) {
				wep, ok := conversion.WorkloadEndpoint(obj.(*corev1.Pod))
				if !ok {
					return model.Key{}, nil, false, nil
				}
				return model.Key{Kind: model.KindWorkloadEndpoint, Namespace: wep.Namespace, Name: wep.Name}, wep, true, nil
			},
		},
		syncer.Source{
			Name:      SourceNamespaces,
			ListWatch: cache.NewListWatchFromClient(core, "namespaces", "", fields.Everything()),
			Example:   &corev1.Namespace{},
			Convert: func(obj runtime.Object) (model.Key, any, bool, error) {
				p := conversion.NamespaceProfile(obj.(*corev1.Namespace))
				return model.Key{Kind: model.KindProfile, Name: p.Name}, p, true, nil
			},
		},
		syncer.Source{
			Name:      SourceServiceAccounts,
			ListWatch: cache.NewListWatchFromClient(core, "serviceaccounts", "", fields.Everything()),
			Example:   &corev1.ServiceAccount{},
			Convert: func(obj runtime.Object) (model.Key, any, bool, error) {
				p := conversion.ServiceAccountProfile(obj.(*corev1.ServiceAccount))
				return model.Key{Kind: model.KindProfile, Name: p.Name}, p, true, nil
			},
		},
		syncer.Source{
			Name:      SourceKubernetesNetworkPolicies,
			ListWatch: cache.NewListWatchFromClient(c.Kube.NetworkingV1().RESTClient(), "networkpolicies", "", fields.Everything()),
			Example:   &networkingv1.NetworkPolicy{},
			Convert: func(obj runtime.Object) (model.Key, any, bool, error) {
				np := obj.(*networkingv1.NetworkPolicy)
				key := model.Key{Kind: model.KindKubernetesNetworkPolicy, Namespace: np.Namespace, Name: np.Name}
				pol, err := conversion.NetworkPolicy(np)
				if err != nil {
					if pol == nil {
						return key, nil, true, err
					}
					// What converted is enforced; what did not only
					// ever allowed traffic.
					log.Warn("kubernetes network policy partly converted", "key", key.String(), "err", err)
				}
				return key, pol, true, nil
			},
		},
		syncer.Source{
			Name:      SourceNodes,
			ListWatch: cache.NewListWatchFromClient(core, "nodes", "", fields.Everything()),
			Example:   &corev1.Node{},
			Convert: func(obj runtime.Object) (model.Key, any, bool, error) {
				n := conversion.Node(obj.(*corev1.Node))
				return model.Key{Kind: model.KindNode, Name: n.Name}, n, true, nil
			},
		},
		syncer.Source{
			Name:      SourceEndpointSlices,
			ListWatch: cache.NewListWatchFromClient(c.Kube.DiscoveryV1().RESTClient(), "endpointslices", "", fields.Everything()),
			Example:   &discoveryv1.EndpointSlice{},
			Convert: func(obj runtime.Object) (model.Key, any, bool, error) {
				es := obj.(*discoveryv1.EndpointSlice)
				if es.Labels[discoveryv1.LabelServiceName] == "" {
					return model.Key{}, nil, false, nil
				}
				return model.Key{Kind: model.KindEndpointSlice, Namespace: es.Namespace, Name: es.Name}, slimEndpointSlice(es), true, nil
			},
		},
	)
	return out, nil
}

// slimEndpointSlice keeps what policy needs: the service name, the
// addresses and the ports.
func slimEndpointSlice(es *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	out := &discoveryv1.EndpointSlice{AddressType: es.AddressType, Ports: es.Ports}
	out.Name, out.Namespace, out.ResourceVersion = es.Name, es.Namespace, es.ResourceVersion
	out.Labels = map[string]string{discoveryv1.LabelServiceName: es.Labels[discoveryv1.LabelServiceName]}
	for _, ep := range es.Endpoints {
		out.Endpoints = append(out.Endpoints, discoveryv1.Endpoint{Addresses: ep.Addresses})
	}
	return out
}

func convertStored(kind v3.KindInfo) syncer.ConvertFunc {
	return func(obj runtime.Object) (model.Key, any, bool, error) {
		o := obj.(v3.Object)
		key := model.Key{Kind: kind.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
		v := o.DeepCopyObject().(v3.Object)
		v.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
		v3.Default(v)
		if errs := validation.Validate(v); len(errs) > 0 {
			return key, nil, true, errs.ToAggregate()
		}
		return key, v, true, nil
	}
}
