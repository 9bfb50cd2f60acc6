package main

import (
	"testing"
	"time"
)

func TestBGPLogRecord(t *testing.T) {
	// BIRD writes its local time; read it here as UTC.
	local := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = local })
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ line, msg, version string }{
		{"2026-12-06 06:27:34.463 <INFO> Started", "<INFO> Started", "IPv4"},
		{"2026-12-06 06:27:34.463 <INFO> Mesh_10_0_0_2: BGP session established", "<INFO> Mesh_10_0_0_2: BGP session established", "IPv4"},
		{"2026-12-06 06:27:34.463 <RMT> Mesh_fd00__2: Received: Hold timer expired", "<RMT> Mesh_fd00__2: Received: Hold timer expired", "IPv6"},
		{"2026-12-06 06:27:34 <INFO> kernel6: Initializing", "<INFO> kernel6: Initializing", "IPv6"},
		{"bird: not a dated line", "bird: not a dated line", "IPv4"},
	} {
		r := bgpLogRecord(tc.line, "node-1", now)
		if r.Message != tc.msg || r.IPVersion != tc.version || r.Host != "node-1" {
			t.Errorf("%q: %+v", tc.line, r)
		}
	}
	if r := bgpLogRecord("2026-12-06 06:27:34.463 <INFO> Started", "n", now); r.LogTime != "2026-12-06T06:27:34.463Z" {
		t.Errorf("BIRD's time: %s", r.LogTime)
	}
	if r := bgpLogRecord("no time", "n", now); r.LogTime != "2026-12-06T10:00:00Z" {
		t.Errorf("a line without BIRD's time gets the time it was read: %s", r.LogTime)
	}
}
