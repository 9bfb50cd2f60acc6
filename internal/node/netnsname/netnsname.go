// Package netnsname opens a network namespace as calico-node's readers
// are told of it (NFLOG, NFQUEUE, conntrack, nftables over netlink): a
// name under /var/run/netns (ip netns), or a path such as
// /proc/<pid>/ns/net.
package netnsname

import (
	"fmt"

	"github.com/vishvananda/netns"
)

// Open returns a handle on the named network namespace; the caller
// closes it.
func Open(name string) (netns.NsHandle, error) {
	var (
		h   netns.NsHandle
		err error
	)
	if name != "" && name[0] == '/' {
		h, err = netns.GetFromPath(name)
	} else {
		h, err = netns.GetFromName(name)
	}
	if err != nil {
		return -1, fmt.Errorf("network namespace %s: %w", name, err)
	}
	return h, nil
}
