// Package probe serves and probes connections inside network namespaces:
// the lab's workload server (listening on every declared port, answering
// HTTP with the pod's name) and the client side of connectivity checks
// (TCP, UDP and ICMP echo).
package probe

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// InNamespace runs f on an OS thread switched into the named network
// namespace ("" for the current one). Sockets f creates belong to that
// namespace for their whole life, whichever thread later uses them.
func InNamespace(name string, f func() error) error {
	if name == "" {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is never handed back to the scheduler: a thread that
		// changed namespace is not safe to reuse, so the runtime retires it
		// when this goroutine ends with the lock held.
		runtime.LockOSThread()
		target, err := netns.GetFromName(name)
		if err != nil {
			errc <- fmt.Errorf("network namespace %s: %w", name, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
