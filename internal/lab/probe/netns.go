// Package probe serves and probes connections inside network namespaces:
// the lab's workload server (listening on every declared port, answering
// HTTP with the pod's name) and the client side of connectivity checks
// (TCP, UDP and ICMP echo).
package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"

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

// HTTPClient is an HTTP client whose connections are made inside the
// named network namespace, one per request (no keep-alive: a pooled
// connection would outlive the namespace it belongs to).
func HTTPClient(ns string, timeout time.Duration) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := InNamespace(ns, func() (err error) {
			c, err = (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	return &http.Client{Transport: tr, Timeout: timeout}
}
