package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/node/bird"
)

// Three hosts with BGP (the default full mesh): every host has sessions
// to the two others, learns their pods' blocks, and pods on different
// hosts reach each other; a host whose calico-node stops has its routes
// withdrawn from the others.
func TestBGPMesh(t *testing.T) {
	c := newCluster(t, clusterOpts{hosts: 3})
	makePool(t, "e2e-mesh", "10.70.0.0/16")
	meshUp := func(h *multihost.Host) bool {
		s := sessions(h)
		for _, up := range s {
			if !up {
				return false
			}
		}
		return len(s) == 2
	}
	for _, h := range c.hosts {
		until(t, 60*time.Second, "mesh sessions on "+h.Name, func() bool { return meshUp(h) })
		until(t, 30*time.Second, "calico-node ready on "+h.Name, func() bool {
			ready, _ := nodeReadiness(t, h)
			return ready
		})
	}
	pods := c.pods("e2e-mesh")
	for i, h := range c.hosts {
		for j, p := range pods {
			if i == j {
				continue
			}
			blk := blockOf(p.IP())
			until(t, 30*time.Second, fmt.Sprintf("%s learns %s's block %s", h.Name, p.Host.Name, blk), func() bool {
				ok, via := hasRoute(h, blk)
				return ok && strings.Contains(via, "via "+p.Host.IP.Addr().String()) && strings.Contains(via, "proto bird")
			})
		}
	}
	// What users see: calicoctl node status on a host, and the
	// CalicoNodeStatus the node fills in.
	status := nodeStatus(t, c, c.hosts[0], 0)
	t.Logf("calicoctl node status on %s:\n%s", c.hosts[0].Name, status)
	for _, want := range []string{"Calico process is running.", "IPv4 BGP status", "No IPv6 peers found."} {
		if !strings.Contains(status, want) {
			t.Errorf("calicoctl node status lacks %q:\n%s", want, status)
		}
	}
	for _, h := range c.hosts[1:] {
		if !regexp.MustCompile(`\| ` + regexp.QuoteMeta(h.IP.Addr().String()) + ` +\| node-to-node mesh \| up +\| [0-9:.]+ +\| Established +\|`).MatchString(status) {
			t.Errorf("calicoctl node status lacks an established mesh session with %s:\n%s", h.IP.Addr(), status)
		}
	}
	st := calicoNodeStatus(t, c.hosts[0].Name, func(s v3.CalicoNodeStatusStatus) bool {
		return s.BGP.NumberEstablishedV4 == 2 && len(s.Routes.RoutesV4) >= 4
	})
	if st.Agent.BIRDV4.State != "Ready" || st.Agent.BIRDV4.RouterID != c.hosts[0].IP.Addr().String() || st.Agent.BIRDV6.State != "NotReady" {
		t.Errorf("CalicoNodeStatus agent: %+v", st.Agent)
	}
	for _, p := range pods[1:] {
		found := false
		for _, r := range st.Routes.RoutesV4 {
			if r.Destination == blockOf(p.IP()) && r.Type == "FIB" && r.LearnedFrom.SourceType == "NodeMesh" && r.LearnedFrom.PeerIP == p.Host.IP.Addr().String() {
				found = true
			}
		}
		if !found {
			t.Errorf("CalicoNodeStatus routes lack %s from %s: %+v", blockOf(p.IP()), p.Host.Name, st.Routes.RoutesV4)
		}
	}
	for _, from := range pods {
		for _, to := range pods {
			if from != to && !reach(from, to) {
				t.Errorf("%s (%s) cannot reach %s (%s)", from.Name, from.IP(), to.Name, to.IP())
			}
		}
	}

	// Host 0's calico-node restarts (graceful, the default): the others
	// keep its block throughout, so traffic to its pods flows on.
	restarted, kept := c.hosts[0], blockOf(pods[0].IP())
	c.stopNode(restarted)
	// Longer than the kernel protocol's scan time: a withdrawal would
	// have reached the peers' kernels by then.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, h := range c.hosts[1:] {
			if ok, _ := hasRoute(h, kept); !ok {
				t.Fatalf("%s dropped %s's block while its calico-node was down for a restart", h.Name, restarted.Name)
			}
		}
	}
	c.startNode(restarted)
	until(t, 60*time.Second, "the restarted host's mesh sessions", func() bool { return meshUp(restarted) })
	if !reach(pods[1], pods[0]) {
		t.Errorf("after the restart, %s cannot reach %s", pods[1].Name, pods[0].Name)
	}

	// Host 2 stops for good (CALICO_BGP_SHUTDOWN=withdraw): the others
	// withdraw its block at once.
	gone := c.hosts[2]
	c.stopNode(gone)
	c.startNode(gone, "CALICO_BGP_SHUTDOWN=withdraw")
	until(t, 60*time.Second, "the mesh sessions of "+gone.Name, func() bool { return meshUp(gone) })
	c.stopNode(gone)
	blk := blockOf(pods[2].IP())
	for _, h := range c.hosts[:2] {
		until(t, 30*time.Second, fmt.Sprintf("%s withdraws %s's block", h.Name, gone.Name), func() bool {
			ok, _ := hasRoute(h, blk)
			return !ok
		})
	}
	if !reach(pods[0], pods[1]) {
		t.Errorf("the remaining hosts lost each other")
	}
	// The peers' readiness probes say which session is down, as
	// Calico's -bird-ready does.
	for _, h := range c.hosts[:2] {
		want := "BGP not established with " + gone.IP.Addr().String()
		var body string
		until(t, 30*time.Second, h.Name+"'s readiness names the stopped peer", func() bool {
			var ready bool
			ready, body = nodeReadiness(t, h)
			return !ready && strings.Contains(body, want)
		})
	}
	if out := nodeStatus(t, c, gone, 1); !strings.Contains(out, "Calico process is not running.") {
		t.Errorf("calicoctl node status on the stopped host:\n%s", out)
	}
}

// Route reflectors: the mesh off, host 0 a reflector (cluster ID from its
// Node annotation, peers chosen by a BGPPeer's selectors). The two other
// hosts each have one session, to the reflector, which has both as
// clients; traffic between them still flows, with routes reflected.
func TestBGPRouteReflector(t *testing.T) {
	c := newCluster(t, clusterOpts{hosts: 3})
	makePool(t, "e2e-rr", "10.71.0.0/16")
	ctx := context.Background()
	rr := c.hosts[0]
	patch := fmt.Sprintf(`{"metadata":{"labels":{"route-reflector":"true"},"annotations":{%q:"244.0.0.1"}}}`, v3.AnnotationNodeRouteReflectorID)
	if _, err := testLab.Client.Kube.CoreV1().Nodes().Patch(ctx, rr.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	apply(t, &v3.BGPConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v3.BGPConfigurationSpec{NodeToNodeMeshEnabled: ptr(false)}})
	apply(t, &v3.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "peer-with-rr"}, Spec: v3.BGPPeerSpec{NodeSelector: "!has(route-reflector)", PeerSelector: "has(route-reflector)"}})

	want := map[string][]string{
		rr.Name:         {"Node_" + birdName(c.hosts[1]), "Node_" + birdName(c.hosts[2])},
		c.hosts[1].Name: {"Node_" + birdName(rr)},
		c.hosts[2].Name: {"Node_" + birdName(rr)},
	}
	for _, h := range c.hosts {
		until(t, 60*time.Second, "sessions on "+h.Name, func() bool {
			s := sessions(h)
			if len(s) != len(want[h.Name]) {
				return false
			}
			for _, n := range want[h.Name] {
				if !s[n] {
					return false
				}
			}
			return true
		})
	}
	pods := c.pods("e2e-rr")
	// The clients learn each other's blocks through the reflector, with
	// the original next hop.
	for _, pair := range [][2]int{{1, 2}, {2, 1}, {0, 1}, {1, 0}} {
		h, p := c.hosts[pair[0]], pods[pair[1]]
		blk := blockOf(p.IP())
		until(t, 30*time.Second, fmt.Sprintf("%s learns %s's block", h.Name, p.Host.Name), func() bool {
			ok, via := hasRoute(h, blk)
			return ok && strings.Contains(via, "via "+p.Host.IP.Addr().String())
		})
	}
	for _, pair := range [][2]int{{1, 2}, {2, 1}, {0, 2}, {1, 0}} {
		if !reach(pods[pair[0]], pods[pair[1]]) {
			t.Errorf("%s cannot reach %s", pods[pair[0]].Name, pods[pair[1]].Name)
		}
	}
}

// An external router that this project did not configure (a BIRD of its
// own, in AS 65001, on the underlay like a top-of-rack switch), declared
// with a global BGPPeer whose password is in a Secret: it learns the
// pods' blocks from every node, tagged with BGPConfiguration's community,
// and reaches the pods; the prefix it advertises reaches the nodes'
// kernels, and the one a BGPFilter refuses does not; a disableBGPExport
// pool's block is advertised to no one.
func TestBGPExternalRouter(t *testing.T) {
	c := newCluster(t, clusterOpts{hosts: 2})
	makePool(t, "e2e-tor", "10.72.0.0/16")
	tor, err := c.mh.AddHost("tor")
	if err != nil {
		t.Fatal(err)
	}
	var neighbors strings.Builder
	for _, h := range c.hosts {
		fmt.Fprintf(&neighbors, "protocol bgp node_%s from nodes { neighbor %s as 64512; }\n", strings.ReplaceAll(h.Name, "-", "_"), h.IP.Addr())
	}
	conf := fmt.Sprintf(`router id %s;
protocol device {}
protocol kernel { ipv4 { export where source = RTS_BGP; }; }
protocol static rack { ipv4; route 198.51.100.0/24 blackhole; route 203.0.113.0/24 blackhole; }
template bgp nodes {
  local %s as 65001;
  password "t0r-s3cret";
  ipv4 { import all; export where proto = "rack"; };
}
%s`, tor.IP.Addr(), tor.IP.Addr(), neighbors.String())
	if err := os.WriteFile(filepath.Join(tor.Dir, "bird.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	birdBin, _ := exec.LookPath("bird")
	torSock := filepath.Join(tor.Dir, "bird.ctl")
	if _, err := tor.Start("bird", nil, birdBin, "-f", "-c", filepath.Join(tor.Dir, "bird.conf"), "-s", torSock); err != nil {
		t.Fatal(err)
	}
	// The session's password comes from a Secret in calico-node's
	// namespace; the router was configured with the same by hand.
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bgp-tor", Namespace: "kube-system"}, StringData: map[string]string{"password": "t0r-s3cret"}}
	if _, err := testLab.Client.Kube.CoreV1().Secrets("kube-system").Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = testLab.Client.Kube.CoreV1().Secrets("kube-system").Delete(context.Background(), "bgp-tor", metav1.DeleteOptions{})
	})
	// A filter on the router's session refuses one of its prefixes; a
	// community marks what the nodes advertise; a pool kept private.
	apply(t, &v3.BGPFilter{ObjectMeta: metav1.ObjectMeta{Name: "from-tor"}, Spec: v3.BGPFilterSpec{
		ImportV4: []v3.BGPFilterRuleV4{{CIDR: "203.0.113.0/24", MatchOperator: v3.MatchOperatorEqual, Action: v3.BGPFilterReject}}}})
	apply(t, &v3.BGPConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v3.BGPConfigurationSpec{
		Communities:          []v3.Community{{Name: "cluster", Value: "64512:300"}},
		PrefixAdvertisements: []v3.PrefixAdvertisement{{CIDR: "10.72.0.0/16", Communities: []string{"cluster"}}}}})
	makePool(t, "e2e-tor-private", "10.76.0.0/16", func(s *v3.IPPoolSpec) { s.DisableBGPExport = true })
	apply(t, &v3.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor"}, Spec: v3.BGPPeerSpec{PeerIP: tor.IP.Addr().String(), ASNumber: 65001,
		Filters:  []string{"from-tor"},
		Password: &v3.BGPPassword{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "bgp-tor"}, Key: "password"}}}})

	pods := c.pods("e2e-tor")
	for _, p := range pods {
		// Every node advertises the blocks it knows (as Calico's do,
		// with itself as next hop unless keepOriginalNextHop): the router
		// has a path from the block's own node among them.
		blk := blockOf(p.IP())
		until(t, 60*time.Second, "the router learns "+blk+" from "+p.Host.Name, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			rep, err := bird.Command(ctx, torSock, "show route "+blk+" all")
			return err == nil && strings.Contains(rep.Text(), "BGP.next_hop: "+p.Host.IP.Addr().String()) &&
				strings.Contains(rep.Text(), "BGP.community: (64512,300)")
		})
		until(t, 10*time.Second, "the router's kernel routes "+blk, func() bool { ok, _ := hasRoute(tor, blk); return ok })
		// And traffic from outside the cluster reaches the pod.
		if r, err := probe.Connect(tor.NS, "TCP", p.IP().String(), 8080, 3*time.Second); err != nil || !r.Connected {
			t.Errorf("the router cannot reach pod %s (%s): %+v %v", p.Name, p.IP(), r, err)
		}
	}
	for _, h := range c.hosts {
		until(t, 30*time.Second, h.Name+" learns the router's prefix", func() bool {
			ok, via := hasRoute(h, "198.51.100.0/24")
			return ok && strings.Contains(via, "via "+tor.IP.Addr().String())
		})
		if s := sessions(h); !s["Global_"+birdName(tor)] {
			t.Errorf("%s: session to the router: %v", h.Name, s)
		}
	}
	// The filtered prefix reached no node.
	for _, h := range c.hosts {
		if ok, via := hasRoute(h, "203.0.113.0/24"); ok {
			t.Errorf("%s has the filtered prefix: %s", h.Name, via)
		}
	}
	// The router is a BGP peer, not a mesh member: the pods still reach
	// each other over the mesh.
	if !reach(pods[0], pods[1]) {
		t.Errorf("pods cannot reach each other")
	}
	// A pod of the disableBGPExport pool: its block is not advertised.
	private, err := c.hosts[0].AddPod(context.Background(), testLab.Client.Kube, "e2e-tor", "private", nil,
		map[string]string{"cni.projectcalico.org/ipv4pools": `["e2e-tor-private"]`})
	if err != nil {
		t.Fatal(err)
	}
	blk := blockOf(private.IP())
	until(t, 10*time.Second, "the private block's blackhole on its node", func() bool { ok, _ := hasRoute(c.hosts[0], blk); return ok })
	// Give a leak the time a route takes to travel (well under a second
	// here, see make bench), then check nobody has it.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if ok, _ := hasRoute(tor, blk); ok {
			t.Fatalf("the router learned %s from a disableBGPExport pool", blk)
		}
		if ok, _ := hasRoute(c.hosts[1], blk); ok {
			t.Fatalf("%s learned %s from a disableBGPExport pool", c.hosts[1].Name, blk)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// birdName is a host's address as BIRD protocol names spell it.
func birdName(h *multihost.Host) string { return strings.ReplaceAll(h.IP.Addr().String(), ".", "_") }

// Dual stack: hosts with IPv4 and IPv6 addresses peer in both families
// (bird6.cfg, included by bird.cfg, in the one BIRD), learn each other's
// IPv6 blocks, and pods reach each other over IPv6 as well as IPv4.
func TestBGPDualStack(t *testing.T) {
	c := newCluster(t, clusterOpts{hosts: 2, dualStack: true})
	makePool(t, "e2e-ds-v4", "10.77.0.0/16")
	p6 := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "e2e-ds-v6"}, Spec: v3.IPPoolSpec{CIDR: "fd00:77::/48", BlockSize: 122}}
	apply(t, p6)
	for i, h := range c.hosts {
		other := c.hosts[1-i]
		until(t, 60*time.Second, "IPv4 and IPv6 sessions on "+h.Name, func() bool {
			s := sessions(h)
			return s["Mesh_"+birdName(other)] && s["Mesh_"+strings.ReplaceAll(other.IP6.Addr().String(), ":", "_")]
		})
	}
	pods := c.pods("e2e-ds")
	for i, h := range c.hosts {
		p := pods[1-i]
		if !p.IP6().IsValid() {
			t.Fatalf("pod %s has no IPv6 address: %v", p.Name, p.IPs)
		}
		blk := blockOf(p.IP6())
		until(t, 30*time.Second, fmt.Sprintf("%s learns %s's IPv6 block %s", h.Name, p.Host.Name, blk), func() bool {
			ok, via := hasRoute(h, blk)
			return ok && strings.Contains(via, "via "+p.Host.IP6.Addr().String()) && strings.Contains(via, "proto bird")
		})
	}
	for _, pair := range [][2]int{{0, 1}, {1, 0}} {
		from, to := pods[pair[0]], pods[pair[1]]
		if !reachAddr(from, to.IP6()) {
			t.Errorf("%s cannot reach %s over IPv6 (%s)", from.Name, to.Name, to.IP6())
		}
		if !reach(from, to) {
			t.Errorf("%s cannot reach %s over IPv4", from.Name, to.Name)
		}
	}
	if out := nodeStatus(t, c, c.hosts[0], 0); !strings.Contains(out, "IPv6 BGP status") || !strings.Contains(out, c.hosts[1].IP6.Addr().String()) {
		t.Errorf("calicoctl node status lacks the IPv6 session:\n%s", out)
	}
}

// Borrowing: a pool of two 4-address blocks, one per host. Once host 0's
// block is full, its next pod borrows an address from host 1's block;
// host 0 advertises that address alone, so host 1 (which blackholes the
// rest of its block) routes it back, and the pods reach each other.
func TestBGPBorrowedAddress(t *testing.T) {
	c := newCluster(t, clusterOpts{hosts: 2})
	makePool(t, "e2e-borrow", "10.78.0.0/29", func(s *v3.IPPoolSpec) { s.BlockSize = 30 })
	ctx := context.Background()
	h0, h1 := c.hosts[0], c.hosts[1]
	until(t, 60*time.Second, "mesh", func() bool { return sessions(h0)["Mesh_"+birdName(h1)] })
	onH1, err := h1.AddPod(ctx, testLab.Client.Kube, "e2e-borrow", "on-h1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last *multihost.Pod
	for i := range 5 {
		if last, err = h0.AddPod(ctx, testLab.Client.Kube, "e2e-borrow", fmt.Sprintf("on-h0-%d", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if blockOf30(last.IP()) != blockOf30(onH1.IP()) {
		t.Fatalf("host 0's fifth pod got %s, not an address of host 1's block %s", last.IP(), blockOf30(onH1.IP()))
	}
	srv, err := probe.Serve(last.NS, "borrowed", []probe.Port{{Protocol: "TCP", Port: 8080}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dst := last.IP().String() + "/32"
	until(t, 30*time.Second, "host 1 learns the borrowed address from host 0", func() bool {
		ok, via := hasRoute(h1, dst)
		return ok && strings.Contains(via, "via "+h0.IP.Addr().String())
	})
	if !reach(onH1, last) {
		t.Errorf("the pod on host 1 cannot reach the borrowed address %s on host 0", last.IP())
	}
}

func blockOf30(a netip.Addr) string { return netip.PrefixFrom(a, 30).Masked().String() }

// nodeReadiness asks calico-node's /readiness inside host h (the test
// cluster serves it on the host's 127.0.0.1:9099) and returns whether it
// answered 200, with the body.
func nodeReadiness(t *testing.T, h *multihost.Host) (bool, string) {
	t.Helper()
	resp, err := probe.HTTPClient(h.NS, 5*time.Second).Get("http://127.0.0.1:9099/readiness")
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK, string(b)
}
