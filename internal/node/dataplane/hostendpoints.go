package dataplane

import (
	"fmt"
	"sort"
	"strings"

	"github.com/calicong/calico/internal/node/dataplane/nft"
	"github.com/calicong/calico/internal/proto"
)

// FailsafePort is a port that stays open to and from host endpoints
// whatever the policy, so an operator cannot lock themselves out.
type FailsafePort = proto.HostPort

// Host endpoint dispatch maps: interface → the endpoint's chain, one per
// place in the packet path.
const (
	mapHostIn      = "hep-in"      // to the host, filter input
	mapHostOut     = "hep-out"     // from the host, filter output
	mapHostFwdIn   = "hep-fwd-in"  // forwarded, arriving on the interface
	mapHostFwdOut  = "hep-fwd-out" // forwarded, leaving by the interface
	mapHostPreDNAT = "hep-pre"     // arriving, before DNAT (mangle prerouting)
	mapHostRawIn   = "hep-raw-in"  // arriving, before conntrack (raw prerouting)
	mapHostRawOut  = "hep-raw-out" // leaving, before conntrack (raw output)
)

var hostMaps = []string{mapHostIn, mapHostOut, mapHostFwdIn, mapHostFwdOut, mapHostPreDNAT, mapHostRawIn, mapHostRawOut}

// starIface names the chains of a host endpoint for all interfaces
// ("*"); real interface names get an "i-" before them, so no interface
// can collide with it.
const starIface = "star"

func hostChainSuffix(iface string) string {
	if iface == "*" {
		return starIface
	}
	return "i-" + iface
}

// hostChains are the chains of one host endpoint, by map.
func hostChains(iface string) map[string]string {
	s := hostChainSuffix(iface)
	return map[string]string{
		mapHostIn: "fh-" + s, mapHostOut: "th-" + s,
		mapHostFwdIn: "fhf-" + s, mapHostFwdOut: "thf-" + s,
		mapHostPreDNAT: "fhp-" + s, mapHostRawIn: "fhr-" + s, mapHostRawOut: "thr-" + s,
	}
}

// workloadInterfaces matches the names of workload interfaces: "cali*",
// or a set of wildcards for several prefixes.
func workloadInterfaces(prefixes []string) string {
	var ws []string
	for _, p := range prefixes {
		ws = append(ws, fmt.Sprintf("%q", p+"*"))
	}
	if len(ws) == 1 {
		return ws[0]
	}
	return "{ " + strings.Join(ws, ", ") + " }"
}

// baseChains renders the hooked chains; they depend on whether a host
// endpoint for all interfaces exists.
func (d *Dataplane) baseChains() {
	t := d.table
	m := d.marks
	wl := workloadInterfaces(d.cfg.InterfacePrefixes)
	star := d.starHost != ""
	// A "*" host endpoint covers every interface but loopback and the
	// workloads' own.
	starIn := func(prefix, mapName string) []string {
		if !star {
			return nil
		}
		return []string{fmt.Sprintf(`iifname != "lo" iifname != %s %s jump %s`, wl, prefix, hostChains("*")[mapName])}
	}
	starOut := func(prefix, mapName string) []string {
		if !star {
			return nil
		}
		return []string{fmt.Sprintf(`oifname != "lo" oifname != %s %s jump %s`, wl, prefix, hostChains("*")[mapName])}
	}
	accepted := m.isSet(m.accept) + " accept"
	notAccepted := m.isClear(m.accept)

	t.SetChain("raw-prerouting", &nft.Chain{
		Base: &nft.BaseChain{Type: "filter", Hook: "prerouting", Priority: "raw"},
		Rules: append([]string{
			m.clear(m.accept | m.pass | m.host),
			"iifname vmap @" + mapHostRawIn,
		}, starIn("", mapHostRawIn)...),
	})
	t.SetChain("raw-output", &nft.Chain{
		Base: &nft.BaseChain{Type: "filter", Hook: "output", Priority: "raw"},
		Rules: append([]string{
			m.clear(m.accept | m.pass | m.host),
			"oifname vmap @" + mapHostRawOut,
		}, starOut("", mapHostRawOut)...),
	})
	t.SetChain("mangle-prerouting", &nft.Chain{
		Base: &nft.BaseChain{Type: "filter", Hook: "prerouting", Priority: "mangle"},
		Rules: append([]string{
			"ct state established,related accept",
			notAccepted + " iifname vmap @" + mapHostPreDNAT,
		}, starIn(notAccepted, mapHostPreDNAT)...),
	})
	t.SetChain("filter-input", &nft.Chain{
		Base: &nft.BaseChain{Type: "filter", Hook: "input", Priority: "filter"},
		Rules: append([]string{
			"iifname " + wl + " jump wl-to-host",
			// Allowed before conntrack or before DNAT: done.
			accepted,
			"iifname vmap @" + mapHostIn,
		}, starIn("", mapHostIn)...),
	})
	t.SetChain("filter-output", &nft.Chain{
		Base: &nft.BaseChain{Type: "filter", Hook: "output", Priority: "filter"},
		Rules: append([]string{
			// The host may always reach its own workloads (Kubernetes
			// requires it for probes).
			"oifname " + wl + " return",
			accepted,
			"oifname vmap @" + mapHostOut,
		}, starOut("", mapHostOut)...),
	})
	fwd := []string{notAccepted + " iifname vmap @" + mapHostFwdIn}
	fwd = append(fwd, starIn(notAccepted, mapHostFwdIn)...)
	fwd = append(fwd,
		"iifname "+wl+" jump from-wl-dispatch",
		"oifname "+wl+" jump to-wl-dispatch",
		"oifname vmap @"+mapHostFwdOut)
	fwd = append(fwd, starOut("", mapHostFwdOut)...)
	t.SetChain("filter-forward", &nft.Chain{Base: &nft.BaseChain{Type: "filter", Hook: "forward", Priority: "filter"}, Rules: fwd})
}

// failsafe renders the rules that accept failsafe ports: inbound checks
// destination ports of arriving packets (and their source net, when the
// port has one), outbound those of leaving ones (and their destination
// net).
func (d *Dataplane) failsafe(ports []FailsafePort, inbound bool, verdict string) []string {
	type key struct{ proto, net string }
	byKey := map[key][]string{}
	for _, p := range ports {
		k := key{proto: strings.ToLower(p.Protocol)}
		if k.proto == "" {
			k.proto = "tcp"
		}
		if p.Net.IsValid() {
			k.net = p.Net.String()
		}
		byKey[k] = append(byKey[k], fmt.Sprint(p.Port))
	}
	keys := make([]key, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].proto != keys[j].proto {
			return keys[i].proto < keys[j].proto
		}
		return keys[i].net < keys[j].net
	})
	var out []string
	for _, k := range keys {
		ps := byKey[k]
		sort.Strings(ps)
		match := ""
		if k.net != "" {
			f := ipv4
			if strings.Contains(k.net, ":") {
				f = ipv6
			}
			addr := f.saddr
			if !inbound {
				addr = f.daddr
			}
			match = fmt.Sprintf("%s %s ", addr, k.net)
		}
		out = append(out, fmt.Sprintf("meta l4proto %s %sth dport %s %s comment %q", k.proto, match, anonSet(ps), verdict, "failsafe"))
	}
	return out
}

func (d *Dataplane) hostUpdate(m proto.HostEndpointUpdate) {
	ep := m.Endpoint
	if old, ok := d.hostIfaces[m.ID]; ok && old != ep.Interface {
		d.removeHost(m.ID)
	}
	if ep.Interface == "" {
		// Identified by its addresses only: its policy selects by them, but
		// without an interface there is nothing to enforce here.
		return
	}
	d.hostIfaces[m.ID] = ep.Interface
	if ep.Interface == "*" {
		d.starHost = m.ID
		d.baseChains()
	}
	t := d.table
	chains := hostChains(ep.Interface)
	conntrack := []string{"ct state established,related accept", "ct state invalid drop"}
	comment := "host endpoint " + m.ID
	in := append(append([]string(nil), conntrack...), d.failsafe(d.cfg.FailsafeInbound, true, "accept")...)
	in = append(in, d.walk(ep.Tiers, ep.ProfileIDs, true, walkNormal, true)...)
	out := append(append([]string(nil), conntrack...), d.failsafe(d.cfg.FailsafeOutbound, false, "accept")...)
	out = append(out, d.walk(ep.Tiers, ep.ProfileIDs, false, walkNormal, true)...)
	set := func(mapName string, rules []string) {
		chain := chains[mapName]
		t.SetChain(chain, &nft.Chain{Comment: comment, Rules: rules})
		if ep.Interface != "*" {
			verdict := "goto "
			if mapName == mapHostFwdIn {
				verdict = "jump "
			}
			t.SetMapElement(mapName, fmt.Sprintf("%q", ep.Interface), verdict+chain)
		}
	}
	set(mapHostIn, in)
	set(mapHostOut, out)
	// Forwarded traffic goes on to the workload dispatch (and the leaving
	// interface's chain) after this one, so it is jumped to, not gone to.
	set(mapHostFwdIn, append(append([]string(nil), conntrack...), d.walk(ep.ForwardTiers, nil, true, walkForward, true)...))
	set(mapHostFwdOut, append(append([]string(nil), conntrack...), d.walk(ep.ForwardTiers, nil, false, walkForward, true)...))
	set(mapHostPreDNAT, append(d.failsafe(d.cfg.FailsafeInbound, true, "return"), d.walk(ep.PreDNATTiers, nil, true, walkPreDNAT, true)...))
	set(mapHostRawIn, append(d.failsafe(d.cfg.FailsafeInbound, true, "return"), d.walk(ep.UntrackedTiers, nil, true, walkUntracked, true)...))
	set(mapHostRawOut, append(d.failsafe(d.cfg.FailsafeOutbound, false, "return"), d.walk(ep.UntrackedTiers, nil, false, walkUntracked, true)...))
}

func (d *Dataplane) removeHost(id string) {
	iface, ok := d.hostIfaces[id]
	if !ok {
		return
	}
	delete(d.hostIfaces, id)
	t := d.table
	for mapName, chain := range hostChains(iface) {
		if iface != "*" {
			t.DeleteMapElement(mapName, fmt.Sprintf("%q", iface))
		}
		t.DeleteChain(chain)
	}
	if iface == "*" && d.starHost == id {
		d.starHost = ""
		d.baseChains()
	}
}
