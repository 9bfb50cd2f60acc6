package netnstest

import (
	"io"
	"net"
	"runtime"
	"sync"
	"testing"

	"github.com/vishvananda/netns"
)

// Forward makes a TCP address of the test's own namespace (the API
// server on 127.0.0.1, say) reachable at the same address inside ns: it
// listens there and relays each connection. Nothing is added to the
// host's network. The relay stops when the test ends.
func Forward(t testing.TB, ns, addr string) {
	t.Helper()
	var l net.Listener
	errc := make(chan error, 1)
	go func() {
		// The thread enters ns to open the socket and is then retired
		// (LockOSThread without unlock); the socket stays in ns.
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		l, err = net.Listen("tcp", addr)
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("forward %s into %s: %v", addr, ns, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
			})
		}
	})
	t.Cleanup(func() { l.Close() })
}
