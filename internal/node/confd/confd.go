// Package confd keeps a node's BIRD configuration in step with the
// datastore: it takes the syncer's stream (BGP configurations, peers and
// filters, nodes, IP pools, IPAM blocks), renders the configuration with
// internal/bgp once the stream is in sync and whenever it changes
// (coalescing bursts), reads the BGP passwords from Secrets, and hands the
// result to BIRD (internal/bird), which checks it before loading it.
package confd

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/bgp"
	"github.com/calicong/calico/internal/reconcile"
)

// Applier installs a rendered configuration (bird.Daemon).
type Applier interface {
	Apply(ctx context.Context, c *bgp.Config) error
}

// SecretReader reads one key of a Secret in calico-node's namespace.
type SecretReader func(ctx context.Context, name, key string) (string, error)

// Config assembles confd.
type Config struct {
	Node    string
	BIRD    Applier
	Secrets SecretReader
	Log     *slog.Logger
	// Debounce is the least time between two renders (default 100ms): a
	// change after a quiet spell is rendered at once, a burst coalesces.
	Debounce time.Duration
	// Resync renders again this often even without updates, so a changed
	// password Secret is picked up (default 1m).
	Resync time.Duration
}

// Confd is the loop.
type Confd struct {
	cfg Config

	mu      sync.Mutex
	inSync  bool
	configs map[string]*v3.BGPConfiguration
	peers   map[string]*v3.BGPPeer
	filters map[string]*v3.BGPFilter
	nodes   map[string]*v3.Node
	pools   map[string]*v3.IPPool
	blocks  map[string]netip.Prefix // this node's, by block name
	// borrowed are the addresses this node holds in others' blocks, by
	// block name.
	borrowed map[string][]netip.Addr
	kick     reconcile.Trigger

	// status, for health and tests
	applied      string // last configuration installed
	lastErr      error
	lastProblems []string
	renders      int
}

// New makes the loop; feed it with OnUpdates/OnStatusUpdated and Run it.
func New(cfg Config) *Confd {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	if cfg.Resync == 0 {
		cfg.Resync = time.Minute
	}
	return &Confd{cfg: cfg, configs: map[string]*v3.BGPConfiguration{}, peers: map[string]*v3.BGPPeer{},
		filters: map[string]*v3.BGPFilter{}, nodes: map[string]*v3.Node{}, pools: map[string]*v3.IPPool{},
		blocks: map[string]netip.Prefix{}, borrowed: map[string][]netip.Addr{}, kick: reconcile.NewTrigger()}
}

// OnStatusUpdated is a syncer callback.
func (c *Confd) OnStatusUpdated(s model.SyncStatus) {
	c.mu.Lock()
	c.inSync = c.inSync || s == model.InSync
	c.mu.Unlock()
	if s == model.InSync {
		c.poke()
	}
}

// OnUpdates is a syncer callback: it records what confd needs and ignores
// the rest.
func (c *Confd) OnUpdates(us []model.Update) {
	changed := false
	c.mu.Lock()
	for _, u := range us {
		name := u.Key.Name
		switch u.Key.Kind {
		case "BGPConfiguration":
			changed = set(c.configs, name, u.Value) || changed
		case "BGPPeer":
			changed = set(c.peers, name, u.Value) || changed
		case "BGPFilter":
			changed = set(c.filters, name, u.Value) || changed
		case "IPPool":
			changed = set(c.pools, name, u.Value) || changed
		case model.KindNode:
			changed = set(c.nodes, name, u.Value) || changed
		case "IPAMBlock":
			b, _ := u.Value.(*v3.IPAMBlock)
			cidr, err := netip.ParsePrefix(blockCIDR(b))
			_, had := c.blocks[name]
			live := b != nil && err == nil && !b.Spec.Deleted
			if live && b.Spec.Affinity != nil && *b.Spec.Affinity == "host:"+c.cfg.Node {
				changed = changed || !had || c.blocks[name] != cidr.Masked()
				c.blocks[name] = cidr.Masked()
			} else if had {
				delete(c.blocks, name)
				changed = true
			}
			// Addresses this node borrowed from the block.
			var mine []netip.Addr
			if live {
				mine = ipam.Borrowed(b)[c.cfg.Node]
				slices.SortFunc(mine, netip.Addr.Compare)
			}
			if !slices.Equal(mine, c.borrowed[name]) {
				if len(mine) > 0 {
					c.borrowed[name] = mine
				} else {
					delete(c.borrowed, name)
				}
				changed = true
			}
		}
	}
	c.mu.Unlock()
	if changed {
		c.poke()
	}
}

func blockCIDR(b *v3.IPAMBlock) string {
	if b == nil {
		return ""
	}
	return b.Spec.CIDR
}

// set records a value (nil: gone) and tells whether anything changed.
func set[T any](m map[string]*T, name string, v any) bool {
	t, ok := v.(*T)
	if !ok || t == nil {
		_, had := m[name]
		delete(m, name)
		return had
	}
	m[name] = t
	return true
}

func (c *Confd) poke() { c.kick.Poke() }

// Run renders and applies until ctx ends. A failure (BIRD rejecting the
// configuration, BIRD not up yet) is retried with back-off.
func (c *Confd) Run(ctx context.Context) error {
	reconcile.Loop{Trigger: c.kick, MinInterval: c.cfg.Debounce, Resync: c.cfg.Resync, Run: c.render,
		OnError: func(err error) { c.cfg.Log.Error("BGP configuration not applied", "err", err) }}.Serve(ctx)
	return nil
}

// input snapshots the state as the renderer's input.
func (c *Confd) input() (*bgp.Input, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.inSync {
		return nil, false
	}
	in := &bgp.Input{Node: c.cfg.Node, Nodes: map[string]*v3.Node{}, Configs: map[string]*v3.BGPConfiguration{},
		Filters: map[string]*v3.BGPFilter{}, Passwords: map[bgp.PasswordRef]string{}}
	for k, v := range c.nodes {
		in.Nodes[k] = v
	}
	for k, v := range c.configs {
		in.Configs[k] = v
	}
	for k, v := range c.filters {
		in.Filters[k] = v
	}
	for _, v := range c.peers {
		in.Peers = append(in.Peers, v)
	}
	for _, v := range c.pools {
		in.Pools = append(in.Pools, v)
	}
	for _, b := range c.blocks {
		in.Blocks = append(in.Blocks, b)
	}
	for _, addrs := range c.borrowed {
		in.Borrowed = append(in.Borrowed, addrs...)
	}
	return in, true
}

func (c *Confd) render(ctx context.Context) error {
	in, ok := c.input()
	if !ok {
		return nil // not in sync yet: a partial view must not be acted on
	}
	for _, ref := range in.PasswordRefs() {
		if c.cfg.Secrets == nil {
			break
		}
		pw, err := c.cfg.Secrets(ctx, ref.Secret, ref.Key)
		if err != nil {
			c.cfg.Log.Warn("reading a BGP password", "secret", ref.Secret, "key", ref.Key, "err", err)
			continue
		}
		in.Passwords[ref] = pw
	}
	out, err := bgp.Render(in)
	if err != nil {
		c.setStatus(err, nil, "")
		return err
	}
	c.mu.Lock()
	c.renders++
	same := c.applied == out.Main+"\x00"+out.IPv6
	newProblems := !slices.Equal(c.lastProblems, out.Problems)
	c.mu.Unlock()
	if newProblems {
		for _, p := range out.Problems {
			c.cfg.Log.Warn("BGP configuration", "problem", p)
		}
	}
	if same {
		c.setStatus(nil, out.Problems, out.Main+"\x00"+out.IPv6)
		return nil
	}
	if err := c.cfg.BIRD.Apply(ctx, out); err != nil {
		c.setStatus(err, out.Problems, "")
		return err
	}
	c.cfg.Log.Info("BGP configuration applied", "ipv4Peers", len(out.PeersV4), "ipv6Peers", len(out.PeersV6), "blocks", len(in.Blocks))
	c.setStatus(nil, out.Problems, out.Main+"\x00"+out.IPv6)
	return nil
}

func (c *Confd) setStatus(err error, problems []string, applied string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr, c.lastProblems = err, problems
	if applied != "" {
		c.applied = applied
	}
}

// Status is how the last render went.
type Status struct {
	InSync   bool
	Applied  bool
	Err      error
	Problems []string
}

// Status reports the last render.
func (c *Confd) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{InSync: c.inSync, Applied: c.applied != "", Err: c.lastErr, Problems: slices.Clone(c.lastProblems)}
}
