// Package relay makes a TCP address of the current network namespace (the
// API server on 127.0.0.1, say) reachable at the same address inside
// another namespace: it listens there and relays each connection back.
// Nothing is added to either namespace's network; the sandbox hosts of
// tests and of the lab reach the control plane this way.
package relay

import (
	"io"
	"net"
	"runtime"
	"sync"

	"github.com/vishvananda/netns"
)

// Relay is one listening relay.
type Relay struct {
	l  net.Listener
	wg sync.WaitGroup
}

// Listen starts relaying addr inside the named namespace to addr here.
func Listen(ns, addr string) (*Relay, error) {
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
		return nil, err
	}
	r := &Relay{l: l}
	r.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.wg.Go(func() {
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
	return r, nil
}

// Close stops accepting; connections in flight end with their peers.
func (r *Relay) Close() error { return r.l.Close() }
