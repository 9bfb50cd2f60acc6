package graph

import (
	"reflect"
	"testing"
)

func wep(ns, name string) Endpoint { return Endpoint{Type: "wep", Namespace: ns, Name: name} }

func TestBuild(t *testing.T) {
	fe, be, db := wep("demo", "frontend-*"), wep("demo", "backend-*"), wep("demo", "database-*")
	mon := wep("monitoring", "prom-*")
	flows := []Flow{
		// frontend → backend, reported by both ends: counted once.
		{Action: "allow", Reporter: "src", Source: fe, Dest: be, Port: 8080, Proto: "tcp", Flows: 3, Bytes: 100},
		{Action: "allow", Reporter: "dst", Source: fe, Dest: be, Port: 8080, Proto: "tcp", Flows: 3, Bytes: 100},
		// frontend → database, denied at the destination.
		{Action: "allow", Reporter: "src", Source: fe, Dest: db, Port: 5432, Proto: "tcp", Flows: 2},
		{Action: "deny", Reporter: "dst", Source: fe, Dest: db, Port: 5432, Proto: "tcp", Flows: 2},
		// monitoring → frontend, denied at the source (no dst report).
		{Action: "deny", Reporter: "src", Source: mon, Dest: fe, Port: 80, Proto: "tcp", Flows: 1},
		// To the internet, allowed; only the source reports.
		{Action: "allow", Reporter: "src", Source: be, Dest: Endpoint{Type: "net", Namespace: "-", Name: "pub"}, Port: 443, Proto: "tcp", Flows: 4, Bytes: 50},
	}

	g := Build(flows, "")
	wantNodes := []string{"net/net/pub", "ns/demo", "ns/monitoring"}
	if got := ids(g.Nodes); !reflect.DeepEqual(got, wantNodes) {
		t.Fatalf("namespace level nodes %v, want %v", got, wantNodes)
	}
	edges := byPair(g.Edges)
	if e := edges["ns/demo>ns/demo"]; e.Allowed != 3 || e.Denied != 2 || e.Verdict() != "both" || !reflect.DeepEqual(e.Ports, []int64{5432, 8080}) || e.Bytes != 100 {
		t.Errorf("demo→demo: %+v", e)
	}
	if e := edges["ns/monitoring>ns/demo"]; e.Denied != 1 || e.Allowed != 0 || e.Verdict() != "denied" {
		t.Errorf("monitoring→demo: %+v", e)
	}
	if e := edges["ns/demo>net/net/pub"]; e.Allowed != 4 || e.Verdict() != "allowed" {
		t.Errorf("demo→pub: %+v", e)
	}

	g = Build(flows, "demo")
	wantNodes = []string{"net/net/pub", "ns/monitoring", "wl/demo/backend-*", "wl/demo/database-*", "wl/demo/frontend-*"}
	if got := ids(g.Nodes); !reflect.DeepEqual(got, wantNodes) {
		t.Fatalf("drilled into demo: nodes %v, want %v", got, wantNodes)
	}
	edges = byPair(g.Edges)
	if e := edges["wl/demo/frontend-*>wl/demo/database-*"]; e.Denied != 2 || e.Allowed != 0 {
		t.Errorf("frontend→database: %+v, want 2 denied (the source's allow is the same flows)", e)
	}
	if e := edges["wl/demo/frontend-*>wl/demo/backend-*"]; e.Allowed != 3 || e.Denied != 0 {
		t.Errorf("frontend→backend: %+v", e)
	}
	for _, n := range g.Nodes {
		if n.Kind == KindWorkload && n.Drillable {
			t.Errorf("workload %s is drillable", n.ID)
		}
	}

	if g := Build(nil, ""); g.Nodes == nil || g.Edges == nil || len(g.Nodes) != 0 {
		t.Errorf("no flows: %+v, want empty lists (not null) for the console", g)
	}
}

func ids(ns []Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

func byPair(es []Edge) map[string]Edge {
	out := map[string]Edge{}
	for _, e := range es {
		out[e.Source+">"+e.Target] = e
	}
	return out
}
