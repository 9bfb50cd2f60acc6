package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Three hosts with BGP (the default full mesh): every host has sessions
// to the two others, learns their pods' blocks, and pods on different
// hosts reach each other; a host whose calico-node stops has its routes
// withdrawn from the others.
func TestBGPMesh(t *testing.T) {
	c := newCluster(t, clusterOpts{hosts: 3})
	makePool(t, "e2e-mesh", "10.70.0.0/16")
	for _, h := range c.hosts {
		poll(t, "mesh sessions on "+h.Name, 60*time.Second, func() bool {
			s := sessions(h)
			if len(s) != 2 {
				return false
			}
			for _, up := range s {
				if !up {
					return false
				}
			}
			return true
		})
	}
	pods := c.pods("e2e-mesh")
	for i, h := range c.hosts {
		for j, p := range pods {
			if i == j {
				continue
			}
			blk := blockOf(p.IP())
			poll(t, fmt.Sprintf("%s learns %s's block %s", h.Name, p.Host.Name, blk), 30*time.Second, func() bool {
				ok, via := hasRoute(h, blk)
				return ok && strings.Contains(via, "via "+p.Host.IP.Addr().String()) && strings.Contains(via, "proto bird")
			})
		}
	}
	if out, err := c.hosts[0].Exec("ip", "route"); err == nil {
		t.Logf("%s's routes:\n%s", c.hosts[0].Name, out)
	}
	for _, from := range pods {
		for _, to := range pods {
			if from != to && !reach(from, to) {
				t.Errorf("%s (%s) cannot reach %s (%s)", from.Name, from.IP(), to.Name, to.IP())
			}
		}
	}

	// Host 2 stops: the others withdraw its block.
	gone := c.hosts[2]
	c.stopNode(gone)
	blk := blockOf(pods[2].IP())
	for _, h := range c.hosts[:2] {
		poll(t, fmt.Sprintf("%s withdraws %s's block", h.Name, gone.Name), 30*time.Second, func() bool {
			ok, _ := hasRoute(h, blk)
			return !ok
		})
	}
	if !reach(pods[0], pods[1]) {
		t.Errorf("the remaining hosts lost each other")
	}
}
