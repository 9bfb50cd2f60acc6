package query

import (
	"fmt"
	"log/slog"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/conversion"
	"github.com/calicong/calico/internal/felixconfig"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

// FromObjects builds a snapshot from objects already read (by a caller
// with its own credentials, such as the console reading as its user):
// projectcalico.org/v3 objects, Pods, Namespaces, ServiceAccounts and
// Kubernetes NetworkPolicies. Namespaces and ServiceAccounts the others
// refer to are made up when missing, as for files; pods keep their own
// addresses (made-up ones only when they have none).
func FromObjects(objs []any) (*Snapshot, error) {
	l := &loader{
		kvs:        map[model.Key]any{},
		namespaces: map[string]*corev1.Namespace{},
		accounts:   map[string]*corev1.ServiceAccount{},
		snap:       &Snapshot{Assigned: map[string]netip.Addr{}, Ignored: map[string]int{}},
	}
	for _, o := range objs {
		switch x := o.(type) {
		case *corev1.Pod:
			l.addPod(x.DeepCopy())
		case *corev1.Namespace:
			l.namespaces[x.Name] = x.DeepCopy()
			l.account(x.Name, "default")
		case *corev1.ServiceAccount:
			l.namespace(x.Namespace)
			l.accounts[x.Namespace+"/"+x.Name] = x.DeepCopy()
		case *networkingv1.NetworkPolicy:
			l.namespace(x.Namespace)
			pol, err := conversion.NetworkPolicy(x)
			if err != nil {
				return nil, fmt.Errorf("NetworkPolicy %s/%s: %w", x.Namespace, x.Name, err)
			}
			l.kvs[model.Key{Kind: model.KindKubernetesNetworkPolicy, Namespace: x.Namespace, Name: x.Name}] = pol
		case v3.Object:
			kind, ok := v3.KindFor(x.GetObjectKind().GroupVersionKind().Kind)
			if !ok {
				return nil, fmt.Errorf("%T %s: not a projectcalico.org/v3 kind this knows", o, x.GetName())
			}
			if kind.Namespaced {
				l.namespace(x.GetNamespace())
			}
			if pool, ok := x.(*v3.IPPool); ok {
				if p, err := netip.ParsePrefix(pool.Spec.CIDR); err == nil && p.Addr().Is4() && !pool.Spec.Disabled {
					l.pools = append(l.pools, p)
				}
			}
			l.kvs[model.Key{Kind: kind.Kind, Namespace: x.GetNamespace(), Name: x.GetName()}] = x
		default:
			return nil, fmt.Errorf("%T: not an object the policy engine reads", o)
		}
	}
	l.finish()
	return l.snap, nil
}

// FromSnapshot is the state of a snapshot: its graph flushed, every
// endpoint local.
func FromSnapshot(snap *Snapshot, log *slog.Logger) (*State, error) {
	g, err := NewGraph(log)
	if err != nil {
		return nil, err
	}
	ups := make([]model.Update, len(snap.KVs))
	for i, kv := range snap.KVs {
		ups[i] = model.Update{KVPair: kv}
	}
	Update(g, ups)
	return &State{Graph: g}, nil
}

// NewGraph is an empty graph as tools use it: every endpoint local, each
// rule's source kept, Felix's default host settings.
func NewGraph(log *slog.Logger) (*calc.Graph, error) {
	defaults, err := felixconfig.Resolve(nil, nil, nil)
	if err != nil {
		return nil, err
	}
	g := calc.New(calc.Config{AllLocal: true, KeepRuleSource: true, Host: calc.HostSettingsFor(defaults.Spec), Log: log}, func([]proto.Message) {})
	g.OnStatusUpdated(model.InSync)
	return g, nil
}

// Update applies updates to a graph from NewGraph (a FelixConfiguration
// among them sets the host settings) and flushes it.
func Update(g *calc.Graph, ups []model.Update) {
	g.OnUpdates(ups)
	useHostSettings(g, ups)
	g.Flush()
}
