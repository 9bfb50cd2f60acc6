package nodestatus

import (
	"context"
	"strings"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/node/bird"
)

// WithBIRD is the source for a node running BIRD: the daemon's status,
// its sessions and its routes, read from its control socket. A daemon
// that does not answer is reported NotReady with no sessions.
type WithBIRD struct {
	Socket string
}

func (w WithBIRD) Agent(ctx context.Context) (v3.CalicoNodeAgentStatus, error) {
	out := v3.CalicoNodeAgentStatus{BIRDV4: v3.BGPDaemonStatus{State: NotReady}, BIRDV6: v3.BGPDaemonStatus{State: NotReady}}
	st, err := bird.Status(ctx, w.Socket)
	if err != nil {
		return out, nil
	}
	d := v3.BGPDaemonStatus{State: "Ready", Version: st.Version, RouterID: st.RouterID, LastBootTime: st.LastBoot, LastReconfigurationTime: st.LastReconfiguration}
	out.BIRDV4 = d
	// One BIRD 2 daemon speaks both families: IPv6 is ready when it has
	// IPv6 sessions to run.
	if ss, err := bird.Sessions(ctx, w.Socket); err == nil {
		for _, s := range ss {
			if s.Neighbor.Is6() {
				out.BIRDV6 = d
				break
			}
		}
	}
	return out, nil
}

// peerType is CalicoNodeStatus's name for a session, from its protocol
// name.
func peerType(name string) string {
	switch {
	case strings.HasPrefix(name, "Mesh_"):
		return "NodeMesh"
	case strings.HasPrefix(name, "Node_"):
		return "NodePeer"
	case strings.HasPrefix(name, "Global_"):
		return "GlobalPeer"
	}
	return ""
}

func (w WithBIRD) BGP(ctx context.Context) (v3.CalicoNodeBGPStatus, error) {
	var out v3.CalicoNodeBGPStatus
	ss, err := bird.Sessions(ctx, w.Socket)
	if err != nil {
		return out, nil
	}
	for _, s := range ss {
		state := s.BGPState
		if state == "" {
			state = s.State
		}
		p := v3.CalicoNodePeer{PeerIP: s.Neighbor.String(), Type: peerType(s.Name), State: state, Since: s.Since}
		if s.Neighbor.Is6() {
			out.PeersV6 = append(out.PeersV6, p)
			if s.Established() {
				out.NumberEstablishedV6++
			} else {
				out.NumberNotEstablishedV6++
			}
		} else {
			out.PeersV4 = append(out.PeersV4, p)
			if s.Established() {
				out.NumberEstablishedV4++
			} else {
				out.NumberNotEstablishedV4++
			}
		}
	}
	return out, nil
}

func (w WithBIRD) Routes(ctx context.Context) (v3.CalicoNodeBGPRouteStatus, error) {
	var out v3.CalicoNodeBGPRouteStatus
	rs, err := bird.Routes(ctx, w.Socket)
	if err != nil {
		return out, nil
	}
	peers := map[string]string{}
	if ss, err := bird.Sessions(ctx, w.Socket); err == nil {
		for _, s := range ss {
			peers[s.Name] = s.Neighbor.String()
		}
	}
	for _, r := range rs {
		cr := v3.CalicoNodeRoute{Type: "RIB", Destination: r.Destination.String(), Interface: r.Interface}
		if r.Primary {
			cr.Type = "FIB"
		}
		if r.Gateway.IsValid() {
			cr.Gateway = r.Gateway.String()
		}
		switch t := peerType(r.Protocol); {
		case t == "NodeMesh":
			cr.LearnedFrom = v3.CalicoNodeRouteLearnedFrom{SourceType: "NodeMesh", PeerIP: peers[r.Protocol]}
		case t != "":
			cr.LearnedFrom = v3.CalicoNodeRouteLearnedFrom{SourceType: "BGPPeer", PeerIP: peers[r.Protocol]}
		case strings.HasPrefix(r.Protocol, "direct"):
			cr.LearnedFrom.SourceType = "Direct"
		case strings.HasPrefix(r.Protocol, "kernel"):
			cr.LearnedFrom.SourceType = "Kernel"
		default:
			cr.LearnedFrom.SourceType = "Static"
		}
		if r.Destination.Addr().Is6() {
			out.RoutesV6 = append(out.RoutesV6, cr)
		} else {
			out.RoutesV4 = append(out.RoutesV4, cr)
		}
	}
	return out, nil
}
