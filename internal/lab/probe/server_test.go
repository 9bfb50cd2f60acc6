package probe_test

import (
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
)

// TestDownload: a workload server serves a download of the size asked
// for, and refuses one past its limit.
func TestDownload(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t, "dl")
	netnstest.Run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	srv, err := probe.Serve(ns, "server", []probe.Port{{Protocol: "TCP", Port: 8080}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if n, err := probe.Download(ns, "127.0.0.1", 8080, 1_000_000, 5*time.Second); err != nil || n != 1_000_000 {
		t.Errorf("downloaded %d bytes, %v; want 1000000", n, err)
	}
	if _, err := probe.Download(ns, "127.0.0.1", 8080, 1<<30, 5*time.Second); err == nil {
		t.Error("a download past the limit was served")
	}
	if r, err := probe.Connect(ns, "TCP", "127.0.0.1", 8080, time.Second); err != nil || r.Reply != "server" {
		t.Errorf("the plain reply: %+v %v", r, err)
	}
}
