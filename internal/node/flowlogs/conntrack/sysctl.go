package conntrack

import (
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netns"

	"github.com/calicong/calico/internal/node/netnsname"
)

// EnableAccounting turns on conntrack's per-connection packet and byte
// counters (net.netfilter.nf_conntrack_acct=1) in a network namespace
// (named as Config.NetNS; "" for the process's own). calico-node does
// this in the host's namespace when flow logs are on. Only connections
// created afterwards are counted: an entry gets its counters when it is
// created.
func EnableAccounting(ns string) error {
	return SetSysctl(ns, "net/netfilter/nf_conntrack_acct", "1")
}

// SetSysctl writes a sysctl under /proc/sys (path such as
// "net/netfilter/nf_conntrack_acct") as seen from a network namespace:
// the net.* sysctls are the namespace's own.
func SetSysctl(ns, path, value string) error {
	err := inNamespace(ns, func() error {
		return os.WriteFile("/proc/sys/"+path, []byte(value), 0o644)
	})
	if err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", path, value, err)
	}
	return nil
}

// inNamespace runs f on an OS thread that has entered ns ("" for the
// current namespace). The thread is retired afterwards rather than
// handed back to the scheduler in a foreign namespace.
func inNamespace(ns string, f func() error) error {
	if ns == "" {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		target, err := netnsname.Open(ns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
