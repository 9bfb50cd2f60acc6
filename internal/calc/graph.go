package calc

import (
	"hash/maphash"
	"log/slog"

	discoveryv1 "k8s.io/api/discovery/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/labelindex"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/proto"
)

// Config says which endpoints are local.
type Config struct {
	// Hostname is the node whose endpoints the graph computes policy for.
	Hostname string
	// AllLocal makes every endpoint local, for tools that answer questions
	// about the whole cluster (calicoq) rather than program one node.
	AllLocal bool
	// KeepRuleSource keeps each rule as the user wrote it in the rendered
	// rules (proto.Rule.Source), for tools that explain policy.
	KeepRuleSource bool
	// Host holds the node settings that decide host-endpoint traffic
	// beside policy. Only the oracle (Evaluate) reads them; the dataplane
	// enforces the same settings from its own configuration.
	Host HostSettings
	Log  *slog.Logger
}

// HostSettings are FelixConfiguration's host-side settings.
type HostSettings struct {
	// FailsafeInbound and FailsafeOutbound stay open to and from host
	// endpoints whatever the policy.
	FailsafeInbound, FailsafeOutbound []proto.HostPort
	// DefaultEndpointToHostAction is what happens to a workload's traffic
	// to its own host once its egress policy allowed it: Drop (the
	// default), Accept or Return.
	DefaultEndpointToHostAction string
}

// Graph is the calculation graph: it turns the datastore's key/value stream
// into what one node must enforce. It is synchronous and single-threaded:
// OnUpdates and OnStatusUpdated record changes (cheaply, marking things
// dirty); Flush computes what changed and hands the dataplane messages to
// the sink, in dependency order.
type Graph struct {
	cfg  Config
	sink func([]proto.Message)
	log  *slog.Logger
	r    renderer

	items    itemTable
	setIndex *labelindex.Index[itemID, string]

	locals   map[itemID]*localEndpoint
	polIndex *labelindex.Index[itemID, policyHandle]

	policies map[proto.PolicyID]*policyState
	handles  []*policyState // by handle; nil when free
	freeHdls []policyHandle
	tiers    map[string]*v3.Tier
	profiles map[string]*profileState
	ipsets   map[string]*ipSetState
	// domainSets are the ipsets of kind setDomains, which LearnDomain
	// visits on each DNS answer.
	domainSets map[string]*ipSetState
	// netsetDomains are network sets' allowedEgressDomains; netsetSets
	// the egress destination sets each network set is in.
	netsetDomains map[itemID]*netsetDomainState
	netsetSets    map[itemID]map[string]struct{}
	services      map[string]*serviceState // "<ns>/<name>"
	slices        map[model.Key]*discoveryv1.EndpointSlice

	dirtyPolicies  map[proto.PolicyID]struct{}
	dirtyProfiles  map[string]struct{}
	dirtyEndpoints map[itemID]struct{}
	removedWEPs    map[proto.WorkloadEndpointID]struct{}
	removedHEPs    map[string]struct{}

	blocks blockRoutes

	inSync     bool
	sentInSync bool
}

// New creates a graph that sends its output to sink.
func New(cfg Config, sink func([]proto.Message)) *Graph {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Graph{
		cfg: cfg, sink: sink, log: log, r: renderer{keepSource: cfg.KeepRuleSource},
		items:          itemTable{seed: maphash.MakeSeed()},
		locals:         map[itemID]*localEndpoint{},
		policies:       map[proto.PolicyID]*policyState{},
		tiers:          map[string]*v3.Tier{},
		profiles:       map[string]*profileState{},
		ipsets:         map[string]*ipSetState{},
		domainSets:     map[string]*ipSetState{},
		netsetDomains:  map[itemID]*netsetDomainState{},
		netsetSets:     map[itemID]map[string]struct{}{},
		services:       map[string]*serviceState{},
		slices:         map[model.Key]*discoveryv1.EndpointSlice{},
		dirtyPolicies:  map[proto.PolicyID]struct{}{},
		dirtyProfiles:  map[string]struct{}{},
		dirtyEndpoints: map[itemID]struct{}{},
		removedWEPs:    map[proto.WorkloadEndpointID]struct{}{},
		removedHEPs:    map[string]struct{}{},
	}
	g.setIndex = labelindex.New[itemID, string](g.onSetMatchStarted, g.onSetMatchStopped)
	g.polIndex = labelindex.New[itemID, policyHandle](g.onPolicyMatchStarted, g.onPolicyMatchStopped)
	return g
}

// OnStatusUpdated records the datastore's sync status. The in-sync marker
// is forwarded at the end of the first flush after InSync, never
// fabricated.
func (g *Graph) OnStatusUpdated(s model.SyncStatus) {
	if s == model.InSync {
		g.inSync = true
	}
}

// OnUpdates applies a batch of updates. Existence is decided by Value
// alone; UpdateType is ignored.
func (g *Graph) OnUpdates(updates []model.Update) {
	for i := range updates {
		g.onUpdate(updates[i].Key, updates[i].Value)
	}
}

func (g *Graph) onUpdate(key model.Key, value any) {
	switch {
	case key.Kind == model.KindWorkloadEndpoint:
		g.onWorkloadEndpoint(key, value)
	case key.Kind == "HostEndpoint":
		g.onHostEndpoint(key, value)
	case key.Kind == "NetworkSet" || key.Kind == "GlobalNetworkSet":
		g.onNetworkSet(key, value)
	case key.Kind == model.KindProfile:
		g.onProfile(key.Name, value)
	case key.Kind == "Tier":
		g.onTier(key.Name, value)
	case IsPolicyKind(key.Kind):
		g.onPolicy(key, value)
	case key.Kind == model.KindEndpointSlice:
		g.onEndpointSlice(key, value)
	case key.Kind == "IPAMBlock":
		g.onIPAMBlock(key, value)
	case key.Kind == "IPPool":
		g.onIPPool(key, value)
	case key.Kind == model.KindNode:
		g.onNode(key, value)
	}
}

// item returns the record of an item.
func (g *Graph) item(id itemID) *item { return g.items.at(id) }
