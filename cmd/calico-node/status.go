package main

import (
	"context"
	"encoding/json"
	"log/slog"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/dataplane/routes"
	"github.com/calicong/calico/internal/node/ipipcheck"
	"github.com/calicong/calico/internal/node/nodestatus"
	"github.com/calicong/calico/internal/node/tunneladdr"
)

// startTunnelAddress keeps the node's VXLAN tunnel address and MAC (node
// annotations) while VXLAN pools exist; it consumes Felix's stream.
func startTunnelAddress(ctx context.Context, client *datastore.Client, node string, log *slog.Logger) model.SyncerCallbacks {
	tunnels := tunneladdr.New(tunneladdr.Config{Node: node, IPAM: client.IPAM(), Log: log.With("component", "tunnel-address"),
		Record: func(ctx context.Context, addr, mac string) error {
			val := func(v string) any {
				if v == "" {
					return nil
				}
				return v
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
				v3.AnnotationNodeIPv4VXLANTunnelAddr: val(addr), v3.AnnotationNodeVXLANTunnelMACAddr: val(mac)}}})
			_, err := client.Kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{})
			return err
		}})
	go func() { _ = tunnels.Run(ctx) }()
	return tunnels
}

// startNodeStatus fills in CalicoNodeStatus objects for this node: BIRD's
// figures when it runs (birdSocket), the kernel's workload routes
// otherwise, and the pool check's condition.
func startNodeStatus(ctx context.Context, client *datastore.Client, node, birdSocket string, rm *routes.Manager, pools *ipipcheck.Checker, log *slog.Logger) {
	var src nodestatus.Source = nodestatus.WithoutBGP{KernelRoutes: func() ([]v3.CalicoNodeRoute, error) {
		rs, err := rm.Programmed()
		out := make([]v3.CalicoNodeRoute, 0, len(rs))
		for _, r := range rs {
			out = append(out, v3.CalicoNodeRoute{Destination: r.Destination, Interface: r.Interface})
		}
		return out, err
	}}
	if birdSocket != "" {
		src = nodestatus.WithBIRD{Socket: birdSocket}
	}
	nsKind, _ := v3.KindFor("CalicoNodeStatus")
	go func() {
		err := nodestatus.Run(ctx, nodestatus.Config{
			Node: node, Informer: client.NewInformer(nsKind, "", 0), Writer: client, Log: log, Source: src,
			Conditions: func() []metav1.Condition { return []metav1.Condition{pools.Condition()} },
		})
		if err != nil {
			log.Error("CalicoNodeStatus reporting stopped", "err", err)
		}
	}()
}
