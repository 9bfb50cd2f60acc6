package main

import (
	"context"
	"time"

	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/node/bird"
)

// healthBGP is the readiness part for BGP: calico-node is not ready while
// BIRD does not answer or any of its sessions is not Established (what
// Calico's -bird-ready probe checks), so a rolling update moves on only
// once the restarted node peers again. BIRD's own crashes are the
// daemon's to restart, so this part never makes calico-node unlive.
const healthBGP = "bgp"

// reportBGP asks BIRD for its sessions every interval until ctx ends.
func reportBGP(ctx context.Context, agg *health.Aggregator, socket string, interval time.Duration) {
	agg.Register(healthBGP, 0)
	agg.Report(healthBGP, health.Report{Live: true, Detail: "BIRD not asked yet"})
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		sessions, err := bird.Sessions(qctx, socket)
		cancel()
		r := health.Report{Live: true}
		if err != nil {
			r.Detail = "BIRD is not answering: " + err.Error()
		} else {
			r.Ready, r.Detail = bird.Readiness(sessions)
		}
		agg.Report(healthBGP, r)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
