package nodestatus

import (
	"context"
	"net/netip"

	v3 "github.com/calicong/calico/api/v3"
)

// NotReady is the daemon state reported for a BGP agent that is not
// running.
const NotReady = "NotReady"

// WithoutBGP is the source for a node that runs no BGP daemon: both BIRD
// agents are reported NotReady, there are no sessions, and the routes are
// the workload routes the kernel holds (type FIB, learned from Kernel).
type WithoutBGP struct {
	// KernelRoutes lists this node's workload routes.
	KernelRoutes func() ([]v3.CalicoNodeRoute, error)
}

func (WithoutBGP) Agent(context.Context) (v3.CalicoNodeAgentStatus, error) {
	return v3.CalicoNodeAgentStatus{BIRDV4: v3.BGPDaemonStatus{State: NotReady}, BIRDV6: v3.BGPDaemonStatus{State: NotReady}}, nil
}

func (WithoutBGP) BGP(context.Context) (v3.CalicoNodeBGPStatus, error) {
	return v3.CalicoNodeBGPStatus{}, nil
}

func (w WithoutBGP) Routes(context.Context) (v3.CalicoNodeBGPRouteStatus, error) {
	var out v3.CalicoNodeBGPRouteStatus
	if w.KernelRoutes == nil {
		return out, nil
	}
	rs, err := w.KernelRoutes()
	if err != nil {
		return out, err
	}
	for _, r := range rs {
		r.Type = "FIB"
		r.LearnedFrom = v3.CalicoNodeRouteLearnedFrom{SourceType: "Kernel"}
		if p, err := netip.ParsePrefix(r.Destination); err == nil && p.Addr().Is6() {
			out.RoutesV6 = append(out.RoutesV6, r)
		} else {
			out.RoutesV4 = append(out.RoutesV4, r)
		}
	}
	return out, nil
}
