// Command coredns is the lab's cluster DNS: the real CoreDNS server
// (github.com/coredns/coredns, its own coremain.Run) built with the
// plugins a cluster's Corefile uses, as CoreDNS's plugin.cfg lets any
// build choose. The lab runs it as the kube-dns Deployment's container in
// kube-system, and on the lab's "outside" host, where it serves
// example.test from a hosts file. Flags are CoreDNS's: -conf FILE,
// -plugins, -version.
//
// It is its own binary, not a kube-lab subcommand: CoreDNS's plugins
// register client-go's metrics adapter when they are loaded, which must
// not take the place of the control-plane components' own.
package main

import (
	"github.com/coredns/coredns/coremain"

	// The plugins of a cluster Corefile, and hosts for the outside zone.
	// Their order of execution is CoreDNS's (dnsserver.Directives), not
	// this list's.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
