package main

import (
	"context"
	"log/slog"

	"github.com/vishvananda/netlink"

	"github.com/calicong/calico/internal/felixconfig"
	"github.com/calicong/calico/internal/node/dataplane"
	"github.com/calicong/calico/internal/node/dataplane/nft"
	"github.com/calicong/calico/internal/node/dataplane/routes"
	"github.com/calicong/calico/internal/node/dataplane/vxlan"
	"github.com/calicong/calico/internal/node/felix"
)

// newDataplane builds Felix's dataplane from its configuration: the
// nftables table, workload routes and the VXLAN overlay, each reporting
// what it repairs.
func newDataplane(fc *felixconfig.Config, node string, repairs *felix.Repairs, log *slog.Logger) (*dataplane.Dataplane, *routes.Manager, error) {
	proto := 3
	if fc.Spec.DeviceRouteProtocol != nil {
		proto = *fc.Spec.DeviceRouteProtocol
	}
	rm, err := routes.New(routes.Config{InterfacePrefixes: felix.InterfacePrefixes(fc.Spec), Protocol: proto, Repaired: repairs.For("routes")}, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	dpCfg := felix.DataplaneConfig(fc, log)
	dpCfg.NodeName = node
	dpCfg.Repaired = repairs.Record
	// Changes that are only set members (a DNS answer's addresses, a pod's)
	// are written over netlink, without starting nft.
	dp, err := dataplane.New(dpCfg, nft.Runner{Elements: &nft.NetlinkElements{}}, rm)
	if err != nil {
		return nil, nil, err
	}
	vc := felix.VXLANConfig(fc)
	vc.Repaired = repairs.For("vxlan")
	overlay, err := vxlan.New(vc, nil)
	if err != nil {
		return nil, nil, err
	}
	dp.SetOverlay(overlay)
	return dp, rm, nil
}

// watchLinks kicks the dataplane when a workload interface appears or
// comes up, so its routes are programmed without waiting for a resync.
func watchLinks(ctx context.Context, prefixes []string, rm *routes.Manager, kicks chan<- struct{}, log *slog.Logger) {
	updates := make(chan netlink.LinkUpdate, 64)
	if err := netlink.LinkSubscribe(updates, ctx.Done()); err != nil {
		log.Warn("cannot watch interfaces; relying on periodic resyncs", "err", err)
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				return
			}
			if !routes.IsWorkloadInterface(prefixes, u.Attrs().Name) {
				continue
			}
			rm.Kick()
			select {
			case kicks <- struct{}{}:
			default:
			}
		}
	}
}
