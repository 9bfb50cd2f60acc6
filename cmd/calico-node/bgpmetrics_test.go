package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calicong/calico/internal/node/bird"
)

// TestBGPMetrics: calico_bgp_peers counts the sessions in each state,
// with Established always present (0 when none is), states that went
// away disappear, and a BIRD that does not answer is calico_bgp_bird_up 0.
func TestBGPMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newBGPMetrics(reg)
	expect := func(want string) {
		t.Helper()
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "calico_bgp_peers", "calico_bgp_bird_up"); err != nil {
			t.Error(err)
		}
	}
	m.set([]bird.Session{{Name: "Mesh_1", BGPState: "Established"}, {Name: "Mesh_2", BGPState: "Active"}, {Name: "Mesh_3", BGPState: "Established"}}, nil)
	expect(`# HELP calico_bgp_bird_up 1 while BIRD answers on its control socket.
# TYPE calico_bgp_bird_up gauge
calico_bgp_bird_up 1
# HELP calico_bgp_peers BGP sessions of this node's BIRD, by BGP state.
# TYPE calico_bgp_peers gauge
calico_bgp_peers{state="Active"} 1
calico_bgp_peers{state="Established"} 2
`)
	m.set([]bird.Session{{Name: "Mesh_1", State: "down"}}, nil)
	expect(`# HELP calico_bgp_bird_up 1 while BIRD answers on its control socket.
# TYPE calico_bgp_bird_up gauge
calico_bgp_bird_up 1
# HELP calico_bgp_peers BGP sessions of this node's BIRD, by BGP state.
# TYPE calico_bgp_peers gauge
calico_bgp_peers{state="Established"} 0
calico_bgp_peers{state="down"} 1
`)
	m.set(nil, errors.New("connection refused"))
	expect(`# HELP calico_bgp_bird_up 1 while BIRD answers on its control socket.
# TYPE calico_bgp_bird_up gauge
calico_bgp_bird_up 0
`)
}
