// Package graph builds the console's service graph from aggregated flows
// (Linseed's L3 flows): namespaces as nodes by default, and, drilled into
// one namespace, its workloads as nodes beside the other namespaces.
// Edges carry the traffic between two nodes, split by verdict, so the
// console can colour and size them. It is pure: flows in, graph out.
package graph

import (
	"cmp"
	"slices"
	"strconv"
)

// Flow is one aggregated flow: the fields of a Linseed L3 flow the graph
// uses.
type Flow struct {
	Action   string   `json:"action"`
	Reporter string   `json:"reporter"`
	Source   Endpoint `json:"source"`
	Dest     Endpoint `json:"destination"`
	Port     int64    `json:"port"`
	Proto    string   `json:"protocol"`
	Flows    int64    `json:"flows"`
	Packets  int64    `json:"packets"`
	Bytes    int64    `json:"bytes"`
}

// Endpoint is a flow's source or destination: its type (wep, hep, ns,
// net), namespace ("-" for none) and aggregated name.
type Endpoint struct {
	Type      string `json:"type"`
	Namespace string `json:"namespace"`
	Name      string `json:"aggregated_name"`
}

// Node kinds.
const (
	KindNamespace = "namespace"
	KindWorkload  = "workload"
	// KindNetwork is traffic from or to outside the cluster's workloads:
	// host endpoints, network sets and public or private networks.
	KindNetwork = "network"
)

// Node is a node of the graph.
type Node struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Drillable nodes are namespaces the user can open.
	Drillable bool `json:"drillable,omitempty"`
}

// Edge is the traffic from one node to another.
type Edge struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// Allowed and Denied count flows by verdict; a flow reported by both
	// ends is counted once, by its destination's verdict when there is
	// one (the deciding end for ingress).
	Allowed int64 `json:"allowed"`
	Denied  int64 `json:"denied"`
	Bytes   int64 `json:"bytes"`
	// Ports are the destination ports seen, in order.
	Ports []int64 `json:"ports"`
}

// Verdict is "allowed", "denied" or "both".
func (e Edge) Verdict() string {
	switch {
	case e.Allowed > 0 && e.Denied > 0:
		return "both"
	case e.Denied > 0:
		return "denied"
	}
	return "allowed"
}

// Graph is what the console draws.
type Graph struct {
	Focus string `json:"focus,omitempty"`
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges"`
}

// Build makes the graph of flows: at namespace level when focus is "",
// else with focus's workloads as nodes of their own.
func Build(flows []Flow, focus string) Graph {
	g := Graph{Focus: focus, Nodes: []Node{}, Edges: []Edge{}}
	nodes := map[string]Node{}
	node := func(e Endpoint) string {
		n := nodeOf(e, focus)
		if _, ok := nodes[n.ID]; !ok {
			nodes[n.ID] = n
		}
		return n.ID
	}
	type key struct{ src, dst string }
	edges := map[key]*Edge{}
	// A flow seen by both its source and its destination is in the flows
	// twice; the destination's report decides ingress, so it counts when
	// there is one, and a source's report only when the destination did
	// not report (it is outside the cluster, or the source denied it).
	reportedByDest := map[string]bool{}
	for _, f := range flows {
		if f.Reporter == "dst" {
			reportedByDest[pairKey(f)] = true
		}
	}
	for _, f := range flows {
		if f.Reporter == "src" && f.Action == "allow" && reportedByDest[pairKey(f)] {
			continue
		}
		k := key{node(f.Source), node(f.Dest)}
		e := edges[k]
		if e == nil {
			e = &Edge{Source: k.src, Target: k.dst, Ports: []int64{}}
			edges[k] = e
		}
		if f.Action == "deny" {
			e.Denied += max(f.Flows, 1)
		} else {
			e.Allowed += max(f.Flows, 1)
		}
		e.Bytes += f.Bytes
		if f.Port > 0 && !slices.Contains(e.Ports, f.Port) {
			e.Ports = append(e.Ports, f.Port)
		}
	}
	for _, n := range nodes {
		g.Nodes = append(g.Nodes, n)
	}
	slices.SortFunc(g.Nodes, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	for _, e := range edges {
		slices.Sort(e.Ports)
		g.Edges = append(g.Edges, *e)
	}
	slices.SortFunc(g.Edges, func(a, b Edge) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Target, b.Target))
	})
	return g
}

// pairKey identifies a flow across its two reports.
func pairKey(f Flow) string {
	return f.Source.Type + "/" + f.Source.Namespace + "/" + f.Source.Name + ">" + f.Dest.Type + "/" + f.Dest.Namespace + "/" + f.Dest.Name + ":" + f.Proto + "/" + strconv.FormatInt(f.Port, 10)
}

// nodeOf is the node an endpoint belongs to at this focus.
func nodeOf(e Endpoint, focus string) Node {
	ns := e.Namespace
	if ns == "" || ns == "-" {
		// Outside any namespace: host endpoints, global network sets and
		// networks, each by its aggregated name ("pub", "pvt", a set's).
		name := e.Name
		if name == "" || name == "-" {
			name = e.Type
		}
		return Node{ID: "net/" + e.Type + "/" + name, Kind: KindNetwork, Name: name}
	}
	if e.Type == "wep" && ns == focus {
		return Node{ID: "wl/" + ns + "/" + e.Name, Kind: KindWorkload, Namespace: ns, Name: e.Name}
	}
	if e.Type != "wep" {
		// A namespaced network set.
		return Node{ID: "net/" + ns + "/" + e.Name, Kind: KindNetwork, Namespace: ns, Name: e.Name}
	}
	return Node{ID: "ns/" + ns, Kind: KindNamespace, Namespace: ns, Name: ns, Drillable: true}
}
