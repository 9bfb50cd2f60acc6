package calc

import (
	"log/slog"
	"net/netip"
	"slices"
	"unique"

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
	Log            *slog.Logger
}

// itemID numbers the endpoints and network sets densely, so the indexes can
// use small keys.
type itemID uint32

type itemKind uint8

const (
	kindWorkload itemKind = iota
	kindHost
	kindNetworkSet
)

// item is an endpoint or network set, as far as IP-set membership goes.
// It is kept small (48 bytes): there is one per endpoint in the cluster,
// and nearly all have one address and no named ports.
type item struct {
	net   netip.Prefix    // the first address; invalid if none
	more  *[]netip.Prefix // any further addresses
	ports *[]namedPort
	local *localEndpoint
	kind  itemKind
}

// nets returns the item's addresses.
func (it *item) nets() []netip.Prefix {
	if !it.net.IsValid() {
		return nil
	}
	if it.more == nil {
		return []netip.Prefix{it.net}
	}
	return append([]netip.Prefix{it.net}, *it.more...)
}

func (it *item) setNets(nets []netip.Prefix) {
	it.net, it.more = netip.Prefix{}, nil
	if len(nets) > 0 {
		it.net = nets[0]
	}
	if len(nets) > 1 {
		more := slices.Clone(nets[1:])
		it.more = &more
	}
}

func (it *item) namedPorts() []namedPort {
	if it.ports == nil {
		return nil
	}
	return *it.ports
}

func (it *item) setPorts(ports []namedPort) {
	it.ports = nil
	if len(ports) > 0 {
		p := slices.Clone(ports)
		it.ports = &p
	}
}

type namedPort struct {
	name     string
	protocol uint8
	port     uint16
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

	itemIDs  map[model.Key]itemID
	items    chunked[item]
	freeIDs  []itemID
	setIndex *labelindex.Index[itemID, string]

	locals   map[itemID]*localEndpoint
	polIndex *labelindex.Index[itemID, policyHandle]

	policies map[proto.PolicyID]*policyState
	handles  []*policyState // by handle; nil when free
	freeHdls []policyHandle
	tiers    map[string]*v3.Tier
	profiles map[string]*profileState
	ipsets   map[string]*ipSetState
	services map[string]*serviceState // "<ns>/<name>"
	slices   map[model.Key]*discoveryv1.EndpointSlice

	dirtyPolicies  map[proto.PolicyID]struct{}
	dirtyProfiles  map[string]struct{}
	dirtyEndpoints map[itemID]struct{}
	removedWEPs    map[proto.WorkloadEndpointID]struct{}
	removedHEPs    map[string]struct{}

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
		itemIDs:        map[model.Key]itemID{},
		locals:         map[itemID]*localEndpoint{},
		policies:       map[proto.PolicyID]*policyState{},
		tiers:          map[string]*v3.Tier{},
		profiles:       map[string]*profileState{},
		ipsets:         map[string]*ipSetState{},
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
	}
}

func (g *Graph) allocItem(key model.Key, kind itemKind) itemID {
	if id, ok := g.itemIDs[key]; ok {
		return id
	}
	var id itemID
	if n := len(g.freeIDs); n > 0 {
		id = g.freeIDs[n-1]
		g.freeIDs = g.freeIDs[:n-1]
	} else {
		id = itemID(g.items.grow())
	}
	*g.items.at(uint32(id)) = item{kind: kind}
	// Thousands of endpoints share a namespace: keep one copy of its name.
	key.Namespace = unique.Make(key.Namespace).Value()
	g.itemIDs[key] = id
	return id
}

func (g *Graph) freeItem(key model.Key, id itemID) {
	delete(g.itemIDs, key)
	*g.items.at(uint32(id)) = item{}
	g.freeIDs = append(g.freeIDs, id)
}

// item returns the record of an item.
func (g *Graph) item(id itemID) *item { return g.items.at(uint32(id)) }

// chunked is a growable array of records in fixed-size chunks: no copying
// and no doubling slack as it grows to hundreds of thousands of records.
type chunked[T any] struct {
	chunks []*[chunkSize]T
	n      uint32
}

const chunkSize = 1024

func (c *chunked[T]) grow() uint32 {
	if c.n%chunkSize == 0 {
		c.chunks = append(c.chunks, new([chunkSize]T))
	}
	c.n++
	return c.n - 1
}

func (c *chunked[T]) at(i uint32) *T { return &c.chunks[i/chunkSize][i%chunkSize] }
