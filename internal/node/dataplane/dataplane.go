// Package dataplane programs what the policy engine decided into the
// kernel: one nftables table (policy, with IP sets and dispatch maps) and,
// through Routes, each local workload's routes and interface settings.
//
// Contract (docs/dataplane.md): OnMessages only updates the desired state
// and marks what changed (no I/O); Apply programs the changes in one
// nftables transaction. Nothing is programmed before the first InSync, and
// the first Apply of a process rewrites our table atomically, so a restart
// neither opens a window where denied traffic passes nor drops established
// connections (the conntrack fast path stays in place throughout).
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"

	"github.com/calicong/calico/internal/node/dataplane/nft"
	"github.com/calicong/calico/internal/proto"
)

// Config says how to program the dataplane.
type Config struct {
	// Table is our nftables table (family inet); default "calico".
	Table string
	// InterfacePrefixes start workload interface names; default ["cali"].
	InterfacePrefixes []string
	// MarkAccept and MarkPass are the packet mark bits rules use; defaults
	// 0x10000 and 0x20000.
	MarkAccept, MarkPass uint32
	// MarkHostEndpoint marks packets while a host endpoint's chains judge
	// them, so that NFLOG reports tell a host endpoint's verdicts from a
	// workload's (they share policy chains). Used only with NFLOGGroup;
	// default 0x40000.
	MarkHostEndpoint uint32
	// DefaultEndpointToHostAction is what happens to traffic from a
	// workload to its own host after its egress policy allowed it: Drop,
	// Accept or Return (leave it to host endpoint policy). Default Drop.
	DefaultEndpointToHostAction string
	// NFLOGGroup, if positive, reports every verdict to this NFLOG group
	// with its rule ID (for flow logs).
	NFLOGGroup int
	// FailsafeInbound and FailsafeOutbound stay open to and from host
	// endpoints whatever the policy.
	FailsafeInbound, FailsafeOutbound []FailsafePort
	// NodeName is this node: its VTEP describes the local VXLAN device.
	NodeName string
	// Repaired, if set, hears each repair of kernel state that someone
	// else changed: kind is "nftables" (found by CheckKernel); the routes
	// and overlay managers report theirs through their own configuration.
	Repaired func(kind, what string)
	Log      *slog.Logger
}

func (c *Config) defaults() {
	if c.Table == "" {
		c.Table = "calico"
	}
	if len(c.InterfacePrefixes) == 0 {
		c.InterfacePrefixes = []string{"cali"}
	}
	if c.Repaired == nil {
		c.Repaired = func(string, string) {}
	}
	if c.MarkAccept == 0 {
		c.MarkAccept = 0x10000
	}
	if c.MarkPass == 0 {
		c.MarkPass = 0x20000
	}
	if c.MarkHostEndpoint == 0 {
		c.MarkHostEndpoint = 0x40000
	}
	if c.DefaultEndpointToHostAction == "" {
		c.DefaultEndpointToHostAction = "Drop"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// HostEndpointMarkInUse is the mark host endpoint chains set with this
// configuration: MarkHostEndpoint or its default, 0 without NFLOG.
func (c Config) HostEndpointMarkInUse() uint32 {
	if c.NFLOGGroup <= 0 {
		return 0
	}
	c.defaults()
	return c.MarkHostEndpoint
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	switch c.DefaultEndpointToHostAction {
	case "", "Drop", "Accept", "Return":
	default:
		errs = append(errs, fmt.Errorf("DefaultEndpointToHostAction %q: use Drop, Accept or Return", c.DefaultEndpointToHostAction))
	}
	marks := []uint32{c.MarkAccept, c.MarkPass, c.MarkHostEndpoint}
	for i, a := range marks {
		for _, b := range marks[i+1:] {
			if a != 0 && a == b {
				errs = append(errs, fmt.Errorf("the accept, pass and host endpoint marks must differ (0x%x is used twice)", a))
			}
		}
	}
	return errors.Join(errs...)
}

// NFT is how the dataplane reaches nftables (nft.Runner; a fake in tests).
type NFT interface {
	Apply(ctx context.Context, script string) error
	Read(ctx context.Context, family, table string) (*nft.Kernel, error)
}

// ElementWriter writes changes that are only set elements without a
// script (nft.Runner with Elements); nft.ErrElementsUnsupported sends
// them to the script.
type ElementWriter interface {
	ApplyElements(t *nft.Table, add, del map[string][]string) error
}

// Routes programs workload routes and interface settings.
type Routes interface {
	SetWorkload(iface string, nets []string)
	RemoveWorkload(iface string)
	SetBlackhole(cidr netip.Prefix)
	RemoveBlackhole(cidr netip.Prefix)
	// Kick makes the next Apply read back the kernel's routes and repair
	// what differs.
	Kick()
	Apply(ctx context.Context) error
}

// Overlay programs the VXLAN overlay and routes to other nodes' blocks
// (vxlan.Manager).
type Overlay interface {
	SetLocalVTEP(v *proto.VTEPUpdate)
	SetVTEP(v proto.VTEPUpdate)
	RemoveVTEP(node string)
	SetRoute(r proto.RouteUpdate)
	RemoveRoute(dst netip.Prefix)
	Kick()
	Apply(ctx context.Context) error
}

// Dataplane is the policy dataplane of one node.
type Dataplane struct {
	cfg     Config
	nft     NFT
	routes  Routes
	overlay Overlay
	rr      ruleRenderer
	marks   marks

	state   *proto.State
	table   *nft.Table
	inSync  bool
	started bool // the kernel's content was read

	// owners decodes the chain part of rule IDs: chain → policy or profile.
	owners map[string]RuleOwner
	// ifaceOwners remembers each endpoint's interface, so a removal or an
	// interface change can clean up.
	ifaceOwners map[proto.WorkloadEndpointID]string
	// hostIfaces remembers each host endpoint's interface; starHost is the
	// host endpoint for all interfaces, if any.
	hostIfaces map[string]string
	starHost   string
	// pools are the IP pools, for NAT outgoing.
	pools      map[string]proto.IPPoolUpdate
	poolsDirty bool
}

// SetOverlay gives the dataplane the VXLAN overlay to program (nil:
// none, as in tests of policy alone).
func (d *Dataplane) SetOverlay(o Overlay) { d.overlay = o }

// New creates a dataplane. It does not touch the kernel.
func New(cfg Config, n NFT, routes Routes) (*Dataplane, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	m := marks{accept: cfg.MarkAccept, pass: cfg.MarkPass}
	if cfg.NFLOGGroup > 0 {
		m.host = cfg.MarkHostEndpoint
	}
	d := &Dataplane{
		cfg: cfg, nft: n, routes: routes, marks: m,
		rr:          ruleRenderer{marks: m, nflog: cfg.NFLOGGroup},
		state:       proto.NewState(),
		table:       nft.NewTable("inet", cfg.Table),
		owners:      map[string]RuleOwner{},
		ifaceOwners: map[proto.WorkloadEndpointID]string{},
		hostIfaces:  map[string]string{},
		pools:       map[string]proto.IPPoolUpdate{},
	}
	d.staticChains()
	return d, nil
}

const (
	mapFromWorkload = "from-wl"
	mapToWorkload   = "to-wl"
)

func (d *Dataplane) staticChains() {
	t := d.table
	t.EnsureMap(mapFromWorkload, "ifname : verdict")
	t.EnsureMap(mapToWorkload, "ifname : verdict")
	for _, m := range hostMaps {
		t.EnsureMap(m, "ifname : verdict")
	}
	d.baseChains()
	d.natChains()
	// A pod must always be able to find its IPv6 gateway (neighbour and
	// router discovery, MLD), whatever its policy and the action below.
	toHost := []string{
		`icmpv6 type { mld-listener-query, mld-listener-report, mld-listener-done, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept`,
		"jump from-wl-dispatch",
	}
	switch d.cfg.DefaultEndpointToHostAction {
	case "Accept":
		toHost = append(toHost, `counter accept comment "default endpoint to host action"`)
	case "Drop":
		toHost = append(toHost, `counter drop comment "default endpoint to host action"`)
	}
	t.SetChain("wl-to-host", &nft.Chain{Rules: toHost})
	// Interfaces we have not programmed (yet) get nothing: fail closed.
	t.SetChain("from-wl-dispatch", &nft.Chain{Rules: []string{"iifname vmap @" + mapFromWorkload, `counter drop comment "unknown interface"`}})
	t.SetChain("to-wl-dispatch", &nft.Chain{Rules: []string{"oifname vmap @" + mapToWorkload, `counter drop comment "unknown interface"`}})
}

// OnMessages applies the policy engine's messages to the desired state.
// It does no I/O.
func (d *Dataplane) OnMessages(msgs []proto.Message) error {
	for _, m := range msgs {
		if err := d.state.Apply([]proto.Message{m}); err != nil {
			return fmt.Errorf("dataplane: %w", err)
		}
		d.onMessage(m)
	}
	return nil
}

func (d *Dataplane) onMessage(m proto.Message) {
	t := d.table
	switch m := m.(type) {
	case proto.InSync:
		d.inSync = true
	case proto.IPSetUpdate:
		for _, v6 := range []bool{false, true} {
			name := setName(m.ID, v6)
			typ, interval := setType(m.Type, v6)
			t.EnsureSet(name, typ, interval)
			var elems []string
			for _, mem := range m.Members {
				if mem.Net.Addr().Unmap().Is4() != v6 {
					elems = append(elems, member(mem))
				}
			}
			t.SetElements(name, elems)
		}
	case proto.IPSetDeltaUpdate:
		for _, mem := range m.Removed {
			t.DeleteElements(setName(m.ID, !mem.Net.Addr().Unmap().Is4()), member(mem))
		}
		for _, mem := range m.Added {
			t.AddElements(setName(m.ID, !mem.Net.Addr().Unmap().Is4()), member(mem))
		}
	case proto.IPSetRemove:
		t.DeleteSet(setName(m.ID, false))
		t.DeleteSet(setName(m.ID, true))
	case proto.ActivePolicyUpdate:
		for _, in := range []bool{true, false} {
			chain := policyChain(m.ID, in)
			rules := m.Policy.OutboundRules
			if in {
				rules = m.Policy.InboundRules
			}
			t.SetChain(chain, &nft.Chain{Comment: direction(in) + " rules of " + m.ID.String(), Rules: d.rr.policyRules(chain, rules, in)})
			id := m.ID
			d.owners[chain] = RuleOwner{Policy: &id, Tier: m.Policy.Tier}
		}
	case proto.ActivePolicyRemove:
		for _, in := range []bool{true, false} {
			t.DeleteChain(policyChain(m.ID, in))
			delete(d.owners, policyChain(m.ID, in))
		}
	case proto.ActiveProfileUpdate:
		for _, in := range []bool{true, false} {
			chain := profileChain(m.ID, in)
			rules := m.Profile.OutboundRules
			if in {
				rules = m.Profile.InboundRules
			}
			t.SetChain(chain, &nft.Chain{Comment: direction(in) + " rules of profile " + m.ID, Rules: d.rr.policyRules(chain, rules, in)})
			d.owners[chain] = RuleOwner{Profile: m.ID}
		}
	case proto.ActiveProfileRemove:
		for _, in := range []bool{true, false} {
			t.DeleteChain(profileChain(m.ID, in))
			delete(d.owners, profileChain(m.ID, in))
		}
	case proto.WorkloadEndpointUpdate:
		d.workloadUpdate(m)
	case proto.WorkloadEndpointRemove:
		d.workloadRemove(m.ID)
	case proto.HostEndpointUpdate:
		d.hostUpdate(m)
	case proto.HostEndpointRemove:
		d.removeHost(m.ID)
	case proto.RouteUpdate:
		switch {
		case m.Type == proto.RouteLocalBlock && d.routes != nil:
			d.routes.SetBlackhole(m.Dst)
		case m.Type != proto.RouteLocalBlock && d.overlay != nil:
			d.overlay.SetRoute(m)
		}
	case proto.RouteRemove:
		if d.routes != nil {
			d.routes.RemoveBlackhole(m.Dst)
		}
		if d.overlay != nil {
			d.overlay.RemoveRoute(m.Dst)
		}
	case proto.VTEPUpdate:
		switch {
		case d.overlay == nil:
		case m.Node == d.cfg.NodeName:
			d.overlay.SetLocalVTEP(&m)
		default:
			d.overlay.SetVTEP(m)
		}
	case proto.VTEPRemove:
		switch {
		case d.overlay == nil:
		case m.Node == d.cfg.NodeName:
			d.overlay.SetLocalVTEP(nil)
		default:
			d.overlay.RemoveVTEP(m.Node)
		}
	case proto.IPPoolUpdate:
		d.pools[m.ID], d.poolsDirty = m, true
	case proto.IPPoolRemove:
		delete(d.pools, m.ID)
		d.poolsDirty = true
	}
}

// NAT outgoing: traffic from a natOutgoing pool to anywhere outside every
// pool leaves with the node's address.
const (
	setPoolsV4     = "pools-v4"
	setMasqPoolsV4 = "masq-pools-v4"
	setPoolsV6     = "pools-v6"
	setMasqPoolsV6 = "masq-pools-v6"
)

func (d *Dataplane) natChains() {
	t := d.table
	t.EnsureSet(setPoolsV4, "ipv4_addr", true)
	t.EnsureSet(setMasqPoolsV4, "ipv4_addr", true)
	t.EnsureSet(setPoolsV6, "ipv6_addr", true)
	t.EnsureSet(setMasqPoolsV6, "ipv6_addr", true)
	t.SetChain("nat-postrouting", &nft.Chain{
		Base: &nft.BaseChain{Type: "nat", Hook: "postrouting", Priority: "srcnat"},
		Rules: []string{
			fmt.Sprintf(`ip saddr @%s ip daddr != @%s counter masquerade comment "natOutgoing pools"`, setMasqPoolsV4, setPoolsV4),
			fmt.Sprintf(`ip6 saddr @%s ip6 daddr != @%s counter masquerade comment "natOutgoing pools"`, setMasqPoolsV6, setPoolsV6),
		},
	})
}

// syncPools refreshes the NAT sets from the pools.
func (d *Dataplane) syncPools() {
	if !d.poolsDirty {
		return
	}
	d.poolsDirty = false
	var all4, masq4, all6, masq6 []string
	for _, p := range d.pools {
		all, masq := &all4, &masq4
		if p.CIDR.Addr().Is6() {
			all, masq = &all6, &masq6
		}
		*all = append(*all, p.CIDR.String())
		if p.Masquerade {
			*masq = append(*masq, p.CIDR.String())
		}
	}
	for name, elems := range map[string][]string{setPoolsV4: all4, setMasqPoolsV4: masq4, setPoolsV6: all6, setMasqPoolsV6: masq6} {
		d.table.SetElements(name, outermost(elems))
	}
}

// outermost drops the CIDRs inside others: an interval set refuses
// overlapping elements.
func outermost(cidrs []string) []string {
	var ps []netip.Prefix
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			ps = append(ps, p.Masked())
		}
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if a.Bits() != b.Bits() {
			return a.Bits() - b.Bits()
		}
		return a.Addr().Compare(b.Addr())
	})
	var keep []netip.Prefix
	var out []string
	for _, p := range ps {
		if !slices.ContainsFunc(keep, func(k netip.Prefix) bool { return k.Contains(p.Addr()) }) {
			keep = append(keep, p)
			out = append(out, p.String())
		}
	}
	return out
}

func (d *Dataplane) workloadUpdate(m proto.WorkloadEndpointUpdate) {
	ep := m.Endpoint
	iface := ep.Interface
	if old, ok := d.ifaceOwners[m.ID]; ok && old != iface {
		d.removeIface(old)
	}
	d.ifaceOwners[m.ID] = iface
	t := d.table
	fw, tw := fromWorkloadChain(iface), toWorkloadChain(iface)
	t.SetChain(fw, &nft.Chain{Comment: "egress of workload " + m.ID.Namespace + "/" + ep.Pod, Rules: d.endpointRules(ep, fw, false)})
	t.SetChain(tw, &nft.Chain{Comment: "ingress of workload " + m.ID.Namespace + "/" + ep.Pod, Rules: d.endpointRules(ep, tw, true)})
	t.SetMapElement(mapFromWorkload, fmt.Sprintf("%q", iface), "goto "+fw)
	t.SetMapElement(mapToWorkload, fmt.Sprintf("%q", iface), "goto "+tw)
	if d.routes != nil {
		var nets []string
		for _, n := range slices.Concat(ep.IPv4Nets, ep.IPv6Nets) {
			nets = append(nets, n.String())
		}
		d.routes.SetWorkload(iface, nets)
	}
}

func (d *Dataplane) workloadRemove(id proto.WorkloadEndpointID) {
	if iface, ok := d.ifaceOwners[id]; ok {
		d.removeIface(iface)
		delete(d.ifaceOwners, id)
	}
}

func (d *Dataplane) removeIface(iface string) {
	t := d.table
	t.DeleteMapElement(mapFromWorkload, fmt.Sprintf("%q", iface))
	t.DeleteMapElement(mapToWorkload, fmt.Sprintf("%q", iface))
	t.DeleteChain(fromWorkloadChain(iface))
	t.DeleteChain(toWorkloadChain(iface))
	if d.routes != nil {
		d.routes.RemoveWorkload(iface)
	}
}

// endpointRules renders a workload's ingress (tw) or egress (fw) chain:
// the conntrack fast path, anti-spoofing (egress), then the tiers and
// profiles.
func (d *Dataplane) endpointRules(ep *proto.WorkloadEndpoint, chain string, ingress bool) []string {
	rules := []string{
		"ct state established,related accept",
		"ct state invalid drop",
	}
	if !ingress {
		// A workload may only send from its own addresses (and those it is
		// explicitly allowed to spoof).
		for _, f := range []family{ipv4, ipv6} {
			var own []string
			for _, n := range slices.Concat(ep.IPv4Nets, ep.IPv6Nets, ep.AllowSpoofedSourcePrefixes) {
				if n.Addr().Unmap().Is4() != f.v6 {
					own = append(own, n.String())
				}
			}
			if f.v6 {
				own = append(own, "fe80::/10") // link-local: neighbour discovery
			}
			if len(own) == 0 {
				rules = append(rules, fmt.Sprintf(`meta nfproto %s counter drop comment "no %s address"`, f.nfproto, f.nfproto))
				continue
			}
			sort.Strings(own)
			rules = append(rules, fmt.Sprintf(`meta nfproto %s %s != %s counter drop comment "spoofed source"`, f.nfproto, f.saddr, anonSet(own)))
		}
	}
	return append(rules, d.walk(ep.Tiers, ep.ProfileIDs, ingress, walkNormal, false)...)
}

// walkKind says how a chain treats the end of a tier and the end of the
// chain.
type walkKind int

const (
	// walkNormal: end-of-tier drops apply, then profiles, then a drop.
	walkNormal walkKind = iota
	// walkForward (host endpoint, forwarded traffic): tiers only; what no
	// tier dropped is allowed.
	walkForward
	// walkPreDNAT and walkUntracked: policies decide what they match;
	// anything else carries on to normal processing.
	walkPreDNAT
	walkUntracked
)

// walk renders the tier-and-profile part of an endpoint chain: per tier,
// each enforced policy's chain in order (stopping at an accept, skipping
// the rest of the tier at a pass), the tier's default action, then the
// profiles, then a drop.
//
// The walk starts by clearing the verdict marks; for a host endpoint
// (host) it also sets the host endpoint mark, which the workloads' walks
// clear, so that NFLOG reports say whose chain decided.
func (d *Dataplane) walk(tiers []proto.TierInfo, profiles []string, ingress bool, kind walkKind, host bool) []string {
	m := d.marks
	first := m.clear(m.accept | m.pass | m.host)
	if host && m.host != 0 {
		first += fmt.Sprintf(" | 0x%08x", m.host)
	}
	rules := []string{first}
	accepted := fmt.Sprintf("%s return", m.isSet(m.accept))
	if kind == walkUntracked {
		accepted = fmt.Sprintf("%s notrack return", m.isSet(m.accept))
	}
	for _, ti := range tiers {
		ids := ti.EgressPolicies
		if ingress {
			ids = ti.IngressPolicies
		}
		// Staged policies are never enforced; a tier with only staged
		// policies takes no part (no end-of-tier drop).
		var enforced []proto.PolicyID
		for _, id := range ids {
			if !id.Staged() {
				enforced = append(enforced, id)
			}
		}
		if len(enforced) == 0 {
			continue
		}
		rules = append(rules, m.clear(m.pass))
		for _, id := range enforced {
			rules = append(rules,
				fmt.Sprintf("%s jump %s", m.isClear(m.pass), policyChain(id, ingress)),
				accepted)
		}
		if ti.DefaultAction != "Pass" && (kind == walkNormal || kind == walkForward) {
			// Rule index -1 of the tier's last policy: Calico's form for a
			// tier's default action (flow logs).
			id := ruleID("Deny", ingress, -1, policyChain(enforced[len(enforced)-1], ingress))
			rules = append(rules, fmt.Sprintf("%s %s drop comment %q", m.isClear(m.pass), d.verdictLog(id), "end of tier "+ti.Name))
		}
	}
	switch kind {
	case walkForward:
		return append(rules, m.setAccept()+" return")
	case walkPreDNAT, walkUntracked:
		return append(rules, "return")
	}
	for _, p := range profiles {
		rules = append(rules,
			"jump "+profileChain(p, ingress),
			fmt.Sprintf("%s return", m.isSet(m.accept)))
	}
	// Rule index -1 of the last profile (or of none at all).
	endOfProfiles := "no profile"
	if len(profiles) > 0 {
		endOfProfiles = profileChain(profiles[len(profiles)-1], ingress)
	}
	return append(rules, fmt.Sprintf("%s drop comment %q", d.verdictLog(ruleID("Deny", ingress, -1, endOfProfiles)), "no policy or profile allowed it"))
}

func direction(inbound bool) string {
	if inbound {
		return "ingress"
	}
	return "egress"
}

func dirLetter(ingress bool) string {
	if ingress {
		return "I"
	}
	return "E"
}

func (d *Dataplane) verdictLog(id string) string {
	if d.cfg.NFLOGGroup > 0 {
		return fmt.Sprintf("counter log prefix %q group %d", id, d.cfg.NFLOGGroup)
	}
	return "counter"
}

// Apply programs what changed. Before the first InSync it does nothing.
func (d *Dataplane) Apply(ctx context.Context) error {
	if !d.inSync {
		return nil
	}
	if !d.started {
		k, err := d.nft.Read(ctx, "inet", d.cfg.Table)
		if err != nil {
			return err
		}
		d.table.Existing(k)
		d.started = true
	}
	d.syncPools()
	if add, del, only := d.table.ElementChanges(); only {
		// Set members alone: written without a script where the NFT can.
		if ew, ok := d.nft.(ElementWriter); ok {
			if err := ew.ApplyElements(d.table, add, del); err == nil {
				d.table.Committed()
			} else if !errors.Is(err, nft.ErrElementsUnsupported) {
				d.cfg.Log.Warn("writing set elements over netlink failed; writing a script instead", "err", err)
			}
		}
	}
	if d.table.Dirty() {
		script := d.table.Script()
		if err := d.nft.Apply(ctx, script); err != nil {
			d.table.Failed()
			return err
		}
		d.table.Committed()
	}
	if d.routes != nil {
		if err := d.routes.Apply(ctx); err != nil {
			return fmt.Errorf("routes: %w", err)
		}
	}
	if d.overlay != nil {
		if err := d.overlay.Apply(ctx); err != nil {
			return fmt.Errorf("VXLAN overlay: %w", err)
		}
	}
	return nil
}

// ReadKernel lists our nftables table as the kernel holds it, for
// CheckKernel. It touches no state of the dataplane's, so it may run
// beside OnMessages and Apply: the listing takes seconds for a large
// table.
func (d *Dataplane) ReadKernel(ctx context.Context) (*nft.Kernel, error) {
	return d.nft.Read(ctx, "inet", d.cfg.Table)
}

// KernelGeneration is the last commit (for ReadKernel's asOf) and whether
// anything was programmed yet.
func (d *Dataplane) KernelGeneration() (asOf uint64, started bool) {
	return d.table.Generation(), d.started
}

// CheckKernel compares a listing read by ReadKernel after commit asOf
// with what was programmed, and schedules a repair of whatever differs
// (Felix's nftablesRefreshInterval); the next Apply makes the repairs, in
// one transaction. It reports whether anything needs repair.
func (d *Dataplane) CheckKernel(k *nft.Kernel, asOf uint64) bool {
	found := d.table.Check(k, asOf)
	for _, f := range found {
		d.cfg.Repaired("nftables", f)
	}
	return len(found) > 0
}

// RefreshRoutes makes the next Apply read back workload and overlay
// routes and repair what differs (Felix's routeRefreshInterval).
func (d *Dataplane) RefreshRoutes() {
	if d.routes != nil {
		d.routes.Kick()
	}
	if d.overlay != nil {
		d.overlay.Kick()
	}
}

// State is what the dataplane was told to program.
func (d *Dataplane) State() *proto.State { return d.state }

// Table exposes the desired nftables table (for tests and diagnostics).
func (d *Dataplane) Table() *nft.Table { return d.table }

// RuleOwner is what a rule ID's chain belongs to: a policy (with its
// tier) or a profile.
type RuleOwner struct {
	Policy  *proto.PolicyID
	Tier    string
	Profile string
}

func (o RuleOwner) String() string {
	if o.Policy != nil {
		return "policy " + o.Policy.String()
	}
	return "profile " + o.Profile
}

// Owner says which policy or profile a rule ID's chain belongs to.
func (d *Dataplane) Owner(chain string) (RuleOwner, bool) {
	o, ok := d.owners[chain]
	return o, ok
}

// DescribeRuleChain says which policy or profile a rule ID's chain
// belongs to, for people.
func (d *Dataplane) DescribeRuleChain(chain string) (string, bool) {
	o, ok := d.owners[chain]
	return o.String(), ok
}
