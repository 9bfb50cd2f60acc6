package lab

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/lab/probe"
)

// The outside host stands in for the internet (docs/lab.md, "Cluster
// DNS"): a namespace on the hosts' network, outside the cluster, with a
// few addresses that serve HTTP (port 80) and TCP (8080). Its own CoreDNS
// answers for the zone example.test from a hosts file with a short TTL,
// and the cluster's CoreDNS forwards that zone to it, so pods resolve
// names of "external" services as in a real cluster.
const (
	outsideName = "outside"
	// OutsideZone is the outside host's DNS zone.
	OutsideZone = "example.test"
	// outsideFirst is the first outside address's index in the hosts'
	// subnet (172.31.0.200 in the default lab), outsideAddrs how many.
	outsideFirst = 200
	outsideAddrs = 40
	// outsideHosts is how many names h1 ... hN.sub.example.test the zone
	// has, each on an address of its own from the eleventh on.
	outsideHosts = 30
	// OutsideTTL is the TTL of the outside zone's answers, in seconds.
	OutsideTTL = 5
)

// OutsideHostsFile is the outside zone's hosts file: edit it and the
// outside DNS answers the new addresses within a second.
func (c Config) OutsideHostsFile() string {
	rec, err := readNodes(c)
	if err != nil || rec == nil {
		return ""
	}
	return filepath.Join(rec.Cluster.Dir, outsideName, "example.test.hosts")
}

// outsideRecords are the zone's names at first, each on an address of
// its own: the DNS server (ns), allowed, blocked and moving (the fifth
// address is free for moving to), then h1 ... h30.sub.
func outsideRecords(addrs []netip.Addr) string {
	var b strings.Builder
	for i, n := range []string{"ns", "allowed", "blocked", "moving"} {
		fmt.Fprintf(&b, "%s %s.%s\n", addrs[i], n, OutsideZone)
	}
	for i := 1; i <= outsideHosts && 9+i < len(addrs); i++ {
		fmt.Fprintf(&b, "%s h%d.sub.%s\n", addrs[9+i], i, OutsideZone)
	}
	return b.String()
}

// runOutside sets up the outside host and serves it until ctx ends. It
// returns the address of its DNS server.
func runOutside(ctx context.Context, cfg Config, mh *multihost.Cluster, wg *sync.WaitGroup, log *slog.Logger) (netip.Addr, error) {
	h, addrs, err := mh.OutsideHost(outsideName, outsideFirst, outsideAddrs)
	if err != nil {
		return netip.Addr{}, err
	}
	hosts := filepath.Join(h.Dir, "example.test.hosts")
	if _, err := os.Stat(hosts); os.IsNotExist(err) {
		if err := writeFile(hosts, []byte(outsideRecords(addrs)), 0o644); err != nil {
			return netip.Addr{}, err
		}
	}
	corefile := filepath.Join(h.Dir, "Corefile")
	conf := fmt.Sprintf(`%s:53 {
    errors
    log
    hosts %s {
        ttl %d
        reload 1s
    }
}
`, OutsideZone, hosts, OutsideTTL)
	if err := writeFile(corefile, []byte(conf), 0o644); err != nil {
		return netip.Addr{}, err
	}
	srv, err := probe.Serve(h.NS, outsideName, []probe.Port{{Protocol: "TCP", Port: 80}, {Protocol: "TCP", Port: 8080}})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("outside host: %w", err)
	}
	a := &agent{cfg: cfg, host: h, log: log.With("host", outsideName), procs: map[string]*procState{},
		restart: map[string]chan struct{}{"coredns": make(chan struct{}, 1)}}
	wg.Go(func() {
		defer srv.Close()
		a.supervise(ctx, "coredns", nil, filepath.Join(filepath.Dir(cfg.Executable), "coredns"), "-conf", corefile)
	})
	return addrs[0], nil
}
