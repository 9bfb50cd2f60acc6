// Package tunneladdr gives a node its VXLAN tunnel address and MAC, as
// calico-node does: while some enabled VXLAN pool (vxlanMode Always or
// CrossSubnet) may be used by the node for tunnels, the node holds one
// address from such a pool (IPAM handle vxlan-tunnel-addr-<node>, owner
// type vxlanTunnelAddress) and both are recorded on its Node, where every
// Felix reads them; when no such pool is left, the address is released
// and the record removed. The MAC is derived from the node's name, so it
// survives restarts without being stored anywhere else.
package tunneladdr

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/reconcile"
	"github.com/calicong/calico/internal/selector"
)

// TypeVXLAN is the owner type of VXLAN tunnel addresses.
const TypeVXLAN = "vxlanTunnelAddress"

// Handle is the IPAM handle of a node's VXLAN tunnel address.
func Handle(node string) string { return "vxlan-tunnel-addr-" + node }

// MAC is a node's VXLAN device MAC: locally administered, unicast, from a
// hash of the node name.
func MAC(node string) string {
	sum := sha256.Sum256([]byte(node))
	return net.HardwareAddr{0x66, sum[0], sum[1], sum[2], sum[3], sum[4]}.String()
}

// Recorder writes the node's tunnel address and MAC ("" removes them).
type Recorder func(ctx context.Context, addr, mac string) error

// Config assembles the controller.
type Config struct {
	Node   string
	IPAM   *ipam.IPAM
	Record Recorder
	Log    *slog.Logger
	// Debounce is the least time between two passes (default 100ms).
	Debounce time.Duration
}

// Controller keeps the node's tunnel address in step with the pools; it
// takes the syncer's stream (IPPools and this node's Node).
type Controller struct {
	cfg Config

	mu     sync.Mutex
	inSync bool
	pools  map[string]*v3.IPPool
	// recorded is what the Node says now; labels are its labels.
	recorded, recordedMAC string
	labels                map[string]string
	kick                  reconcile.Trigger
}

// New makes the controller.
func New(cfg Config) *Controller {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	return &Controller{cfg: cfg, pools: map[string]*v3.IPPool{}, kick: reconcile.NewTrigger()}
}

// OnStatusUpdated is a syncer callback.
func (c *Controller) OnStatusUpdated(s model.SyncStatus) {
	if s == model.InSync {
		c.mu.Lock()
		c.inSync = true
		c.mu.Unlock()
		c.poke()
	}
}

// OnUpdates is a syncer callback.
func (c *Controller) OnUpdates(us []model.Update) {
	changed := false
	c.mu.Lock()
	for _, u := range us {
		switch {
		case u.Key.Kind == "IPPool":
			if p, ok := u.Value.(*v3.IPPool); ok && p != nil {
				c.pools[u.Key.Name] = p
			} else {
				delete(c.pools, u.Key.Name)
			}
			changed = true
		case u.Key.Kind == model.KindNode && u.Key.Name == c.cfg.Node:
			addr, mac := "", ""
			var labels map[string]string
			if n, ok := u.Value.(*v3.Node); ok && n != nil {
				addr, mac, labels = n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr, n.Labels
			}
			if addr != c.recorded || mac != c.recordedMAC || !maps.Equal(labels, c.labels) {
				c.recorded, c.recordedMAC, c.labels = addr, mac, labels
				changed = true
			}
		}
	}
	c.mu.Unlock()
	if changed {
		c.poke()
	}
}

func (c *Controller) poke() { c.kick.Poke() }

// Run reconciles until ctx ends, retrying failures with back-off.
func (c *Controller) Run(ctx context.Context) error {
	reconcile.Loop{Trigger: c.kick, MinInterval: c.cfg.Debounce, Run: c.Reconcile,
		OnError: func(err error) { c.cfg.Log.Error("VXLAN tunnel address", "err", err) }}.Serve(ctx)
	return nil
}

// vxlanPools are the enabled IPv4 pools with VXLAN on that the node may
// take tunnel addresses from, by name.
func vxlanPools(pools map[string]*v3.IPPool, nodeLabels map[string]string) []*v3.IPPool {
	var out []*v3.IPPool
	for _, p := range pools {
		c, err := netip.ParsePrefix(p.Spec.CIDR)
		if err != nil || !c.Addr().Is4() || p.Spec.Disabled {
			continue
		}
		if len(p.Spec.AllowedUses) > 0 && !slices.Contains(p.Spec.AllowedUses, v3.IPPoolAllowedUseTunnel) {
			continue
		}
		if sel := p.Spec.NodeSelector; sel != "" && sel != "all()" {
			s, err := selector.Parse(sel)
			if err != nil || !s.Evaluate(nodeLabels) {
				continue
			}
		}
		if p.Spec.VXLANMode == v3.EncapAlways || p.Spec.VXLANMode == v3.EncapCrossSubnet {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *v3.IPPool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Reconcile does one pass (it is safe to call at any time after the
// stream is in sync).
func (c *Controller) Reconcile(ctx context.Context) error {
	c.mu.Lock()
	if !c.inSync {
		c.mu.Unlock()
		return nil
	}
	pools := vxlanPools(c.pools, c.labels)
	recorded, recordedMAC := c.recorded, c.recordedMAC
	c.mu.Unlock()
	handle := Handle(c.cfg.Node)
	m := c.cfg.IPAM

	held, err := m.IPsByHandle(ctx, handle)
	if err != nil && !errors.Is(err, ipam.ErrNotFound) {
		return fmt.Errorf("reading the tunnel address: %w", err)
	}
	if len(pools) == 0 {
		if len(held) > 0 {
			if err := m.ReleaseByHandle(ctx, handle); err != nil && !errors.Is(err, ipam.ErrNotFound) {
				return fmt.Errorf("releasing the tunnel address: %w", err)
			}
			c.cfg.Log.Info("released the VXLAN tunnel address: no VXLAN pool left", "addr", held)
		}
		if recorded != "" || recordedMAC != "" {
			return c.cfg.Record(ctx, "", "")
		}
		return nil
	}
	inPool := func(a netip.Addr) bool {
		return slices.ContainsFunc(pools, func(p *v3.IPPool) bool {
			c, _ := netip.ParsePrefix(p.Spec.CIDR)
			return c.Contains(a)
		})
	}
	var keep netip.Addr
	if len(held) == 1 && held[0].Is4() && inPool(held[0]) {
		keep = held[0]
	} else {
		// Nothing usable (or more than one address): start over with one.
		if len(held) > 0 {
			if err := m.ReleaseByHandle(ctx, handle); err != nil && !errors.Is(err, ipam.ErrNotFound) {
				return fmt.Errorf("releasing the old tunnel address: %w", err)
			}
		}
		var names []string
		for _, p := range pools {
			names = append(names, p.Name)
		}
		got, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: handle, Node: c.cfg.Node, IPv4Pools: names,
			Use: v3.IPPoolAllowedUseTunnel, Attrs: map[string]string{ipam.AttrNode: c.cfg.Node, ipam.AttrType: TypeVXLAN}})
		if err != nil {
			return fmt.Errorf("assigning a VXLAN tunnel address from %v: %w", names, err)
		}
		keep = got.IPv4[0].Addr()
		c.cfg.Log.Info("assigned the VXLAN tunnel address", "addr", keep)
	}
	mac := MAC(c.cfg.Node)
	if recorded != keep.String() || recordedMAC != mac {
		return c.cfg.Record(ctx, keep.String(), mac)
	}
	return nil
}
