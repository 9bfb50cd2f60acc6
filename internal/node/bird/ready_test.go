package bird

import (
	"net/netip"
	"testing"
)

func TestReadiness(t *testing.T) {
	up := Session{Name: "Mesh_10_0_0_2", State: "up", BGPState: "Established", Neighbor: netip.MustParseAddr("10.0.0.2")}
	active := Session{Name: "Mesh_10_0_0_3", State: "start", BGPState: "Active", Neighbor: netip.MustParseAddr("10.0.0.3")}
	starting := Session{Name: "Node_tor", State: "start"}
	for _, tc := range []struct {
		name     string
		sessions []Session
		ready    bool
		detail   string
	}{
		{"no peers", nil, true, "0 BGP sessions established"},
		{"all up", []Session{up}, true, "1 BGP sessions established"},
		{"one down", []Session{up, active}, false, "BGP not established with 10.0.0.3 (Active)"},
		{"no neighbor or BGP state yet", []Session{active, starting}, false, "BGP not established with 10.0.0.3 (Active), Node_tor (start)"},
	} {
		ready, detail := Readiness(tc.sessions)
		if ready != tc.ready || detail != tc.detail {
			t.Errorf("%s: Readiness = %v, %q; want %v, %q", tc.name, ready, detail, tc.ready, tc.detail)
		}
	}
}
