package netnstest

import (
	"testing"

	"github.com/calicong/calico/internal/lab/relay"
)

// Forward makes a TCP address of the test's own namespace (the API
// server on 127.0.0.1, say) reachable at the same address inside ns (see
// internal/relay). The relay stops when the test ends.
func Forward(t testing.TB, ns, addr string) {
	t.Helper()
	r, err := relay.Listen(ns, addr)
	if err != nil {
		t.Fatalf("forward %s into %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { r.Close() })
}
