package server

import "testing"

func TestMaxConnections(t *testing.T) {
	for _, tc := range []struct {
		types, nodes, typhas int
		l                    Limits
		want                 int
	}{
		{3, 5000, 27, Limits{}, 696}, // 3 × (1 + 6000/26) = 695.3 → 696
		{3, 200, 3, Limits{}, 400},   // 363 is below the floor
		{2, 100, 1, Limits{}, 10000}, // lone Typha
		{2, 100000, 2, Limits{}, 10000},
		{2, 10, 2, Limits{Lower: 5, Upper: 100}, 26},
	} {
		if got := MaxConnections(tc.types, tc.nodes, tc.typhas, tc.l); got != tc.want {
			t.Errorf("MaxConnections(%d, %d, %d, %+v) = %d, want %d", tc.types, tc.nodes, tc.typhas, tc.l, got, tc.want)
		}
	}
}
