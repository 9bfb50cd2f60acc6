// Package relay joins TCP addresses across network namespaces without
// adding anything to either namespace's network: it listens in one and
// relays each connection to an address in the other. The sandbox hosts
// of tests and of the lab reach the control plane this way (Listen), and
// the lab host reaches what runs inside the sandbox (Into).
package relay

import (
	"io"
	"net"
	"sync"

	"github.com/calicong/calico/internal/lab/probe"
)

// Relay is one listening relay.
type Relay struct {
	l  net.Listener
	wg sync.WaitGroup
}

// Listen starts relaying addr inside the named namespace to addr here.
func Listen(ns, addr string) (*Relay, error) { return ListenAt(ns, addr, addr) }

// ListenAt starts relaying listen inside the named namespace to dial here.
func ListenAt(ns, listen, dial string) (*Relay, error) {
	var l net.Listener
	err := probe.InNamespace(ns, func() (err error) {
		l, err = net.Listen("tcp", listen)
		return err
	})
	if err != nil {
		return nil, err
	}
	return serve(l, func() (net.Conn, error) { return net.Dial("tcp", dial) }), nil
}

// Into starts relaying listen here to dial inside the named namespace.
func Into(ns, listen, dial string) (*Relay, error) {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	return serve(l, func() (c net.Conn, err error) {
		err = probe.InNamespace(ns, func() (err error) {
			c, err = net.Dial("tcp", dial)
			return err
		})
		return c, err
	}), nil
}

// serve relays each connection l accepts to a connection dial makes.
func serve(l net.Listener, dial func() (net.Conn, error)) *Relay {
	r := &Relay{l: l}
	r.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.wg.Go(func() {
				defer c.Close()
				up, err := dial()
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
	return r
}

// Addr is where the relay listens.
func (r *Relay) Addr() net.Addr { return r.l.Addr() }

// Close stops accepting; connections in flight end with their peers.
func (r *Relay) Close() error { return r.l.Close() }
