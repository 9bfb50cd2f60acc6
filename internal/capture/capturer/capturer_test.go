package capturer

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"golang.org/x/net/bpf"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/capture/sniff"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/lab/probe"
	"github.com/calicong/calico/internal/poll"
)

// node is a node's network namespace with pods, each a namespace joined
// by a veth whose host side is in the node.
type node struct {
	t  *testing.T
	ns string
}

// addPod makes pod i: its host side calit<i> (10.67.<i>.1) and its
// eth0 (10.67.<i>.2).
func (n *node) addPod(i int) Endpoint {
	pod := netnstest.New(n.t, fmt.Sprintf("pcp%d", i))
	iface := fmt.Sprintf("calit%d", i)
	netnstest.Run(n.t, "ip", "-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", iface, "netns", n.ns)
	netnstest.Run(n.t, "ip", "-n", pod, "addr", "add", fmt.Sprintf("10.67.%d.2/24", i), "dev", "eth0")
	netnstest.Run(n.t, "ip", "-n", pod, "link", "set", "eth0", "up")
	netnstest.Run(n.t, "ip", "-n", n.ns, "addr", "add", fmt.Sprintf("10.67.%d.1/24", i), "dev", iface)
	netnstest.Run(n.t, "ip", "-n", n.ns, "link", "set", iface, "up")
	return Endpoint{Namespace: "demo", Interface: iface}
}

// send makes TCP connection attempts to pod i's 8080 and sends UDP to
// its 5353, from the node.
func (n *node) send(i int) {
	n.t.Helper()
	err := probe.InNamespace(n.ns, func() error {
		for range 2 {
			if u, err := net.Dial("udp", fmt.Sprintf("10.67.%d.2:5353", i)); err == nil {
				u.Write([]byte("x"))
				u.Close()
			}
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("10.67.%d.2:8080", i), time.Second); err == nil {
				c.Close() // refused is as good: the SYN and the RST are TCP on 8080
			}
		}
		return nil
	})
	if err != nil {
		n.t.Fatal(err)
	}
}

// packets reads a pcap file's packet count.
func packets(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return 0
	}
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			return n
		}
		n++
	}
}

// TestCapturer: a capture of app == 'web' with a TCP/8080 filter on a
// node with two web pods (one arriving during the capture) and a db
// pod: each web pod's traffic to 8080 is in its own file, db has none;
// the node reports WaitingForTraffic, then Capturing with the files,
// then Finished when the end moves to the past; deleting the capture
// deletes its files.
func TestCapturer(t *testing.T) {
	netnstest.Require(t)
	n := &node{t: t, ns: netnstest.New(t, "pcn")}
	web1, db := n.addPod(1), n.addPod(2)
	web1.Pod, web1.Labels = "web-1", map[string]string{"app": "web"}
	db.Pod, db.Labels = "db-1", map[string]string{"app": "db"}

	var mu sync.Mutex
	status := map[string]v3.PacketCaptureFile{}
	dir := t.TempDir()
	c := New(Config{Node: "node-1", Dir: dir,
		Open: func(iface string, prog []bpf.Instruction) (s *sniff.Socket, err error) {
			err = probe.InNamespace(n.ns, func() error { s, err = sniff.Open(iface, prog); return err })
			return s, err
		},
		Report: func(_ context.Context, ns, name string, f v3.PacketCaptureFile) error {
			mu.Lock()
			defer mu.Unlock()
			status[ns+"/"+name] = f
			return nil
		}})
	defer c.Stop()
	state := func() v3.PacketCaptureFile {
		mu.Lock()
		defer mu.Unlock()
		return status["demo/web"]
	}
	ctx := context.Background()
	tcp := v3.ProtocolFromString("TCP")
	pc := &v3.PacketCapture{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo", UID: "u1"},
		Spec: v3.PacketCaptureSpec{Selector: "app == 'web'", Filters: []v3.PacketCaptureRule{{Protocol: &tcp, Ports: []v3.Port{v3.SinglePort(8080)}}}}}
	c.SetEndpoint(web1)
	c.SetEndpoint(db)
	c.SetCapture(pc)
	c.Reconcile(ctx)
	if st := state(); st.State != v3.PacketCaptureStateWaitingForTraffic || st.Node != "node-1" || st.Directory != filepath.Join(dir, "demo", "web") {
		t.Fatalf("before traffic: %+v", st)
	}
	n.send(1)
	n.send(2)
	file1 := filepath.Join(dir, "demo", "web", "web-1_calit1.pcap")
	poll.Until(t, 10*time.Second, "web-1's packets in its file", func() bool { return packets(t, file1) >= 4 })

	// A web pod that arrives during the capture is captured too.
	web2 := n.addPod(3)
	web2.Pod, web2.Labels = "web-2", map[string]string{"app": "web"}
	c.SetEndpoint(web2)
	c.Reconcile(ctx)
	n.send(3)
	file2 := filepath.Join(dir, "demo", "web", "web-2_calit3.pcap")
	poll.Until(t, 10*time.Second, "web-2's packets in its file", func() bool { return packets(t, file2) >= 4 })
	c.Reconcile(ctx)
	if st := state(); st.State != v3.PacketCaptureStateCapturing || !slices.Equal(st.FileNames, []string{"web-1_calit1.pcap", "web-2_calit3.pcap"}) {
		t.Errorf("while capturing: %+v; want Capturing with web-1's and web-2's files only", st)
	}
	// Only TCP on 8080: 2 attempts, each a SYN and a RST.
	if got := packets(t, file1); got != 4 {
		t.Errorf("web-1's file holds %d packets, want 4 (the UDP to 5353 filtered out)", got)
	}

	// The end moved to the past: capture stops, the files stay.
	past := metav1.NewTime(time.Now().Add(-time.Second))
	pc = pc.DeepCopy()
	pc.Spec.EndTime = &past
	c.SetCapture(pc)
	if next := c.Reconcile(ctx); !next.IsZero() {
		t.Errorf("a finished capture wakes at %v", next)
	}
	n.send(1)
	if st := state(); st.State != v3.PacketCaptureStateFinished || len(st.FileNames) != 2 {
		t.Errorf("after the end: %+v", st)
	}
	if got := packets(t, file1); got != 4 {
		t.Errorf("web-1's file grew to %d packets after the capture finished", got)
	}

	// Deleted: its files go.
	c.DeleteCapture("demo", "web")
	c.Reconcile(ctx)
	if _, err := os.Stat(filepath.Join(dir, "demo", "web")); !os.IsNotExist(err) {
		t.Errorf("the deleted capture's directory is still there (%v)", err)
	}
}
