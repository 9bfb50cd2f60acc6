package capturelab

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/poll"
)

// TestPacketCaptureInTheLab: a PacketCapture of the demo's frontend
// pods with a TCP/8080 filter, while the backend sends them TCP to 8080
// and UDP to 5353: each frontend's node reports its files as Capturing,
// the files (on that node) hold TCP to and from 8080 and no UDP; moving
// the end to the past finishes it on every node; deleting it deletes
// the files.
func TestPacketCaptureInTheLab(t *testing.T) {
	cfg := labtest.DemoLab(t, 2)
	ctx := context.Background()
	run := labtest.Runner(t, cfg)
	run(`apiVersion: projectcalico.org/v3
kind: PacketCapture
metadata: {name: frontend, namespace: demo}
spec:
  selector: app == "frontend"
  filters: [{protocol: TCP, ports: [8080]}]
`, "calicoctl", "apply", "-f", "-")

	type file struct {
		Node, Directory, State string
		FileNames              []string
	}
	status := func() []file {
		o := run("", "kubectl", "get", "packetcaptures.projectcalico.org", "-n", "demo", "frontend", "-o", "jsonpath={.status.files}")
		var fs []file
		_ = json.Unmarshal([]byte(o), &fs)
		return fs
	}
	pods := strings.Fields(run("", "kubectl", "get", "pods", "-n", "demo", "-l", "app=frontend", "-o", "jsonpath={.items[*].status.podIP}"))
	backend := "demo/" + strings.Fields(run("", "kubectl", "get", "pods", "-n", "demo", "-l", "app=backend", "-o", "jsonpath={.items[*].metadata.name}"))[0]
	send := func() {
		for _, ip := range pods {
			for range 2 {
				_, _ = lab.Probe(ctx, cfg, backend, ip, 8080, "tcp", 2*time.Second)
				_, _ = lab.Probe(ctx, cfg, backend, ip, 5353, "udp", time.Second)
			}
		}
	}
	var files []file
	poll.Until(t, 60*time.Second, "every frontend's node to capture its traffic", func() bool {
		send()
		files = status()
		capturing := 0
		for _, f := range files {
			if f.State == "Capturing" && len(f.FileNames) > 0 {
				capturing++
			}
		}
		return capturing > 0 && capturing == len(files)
	})
	tcp, udp := 0, 0
	for _, f := range files {
		for _, name := range f.FileNames {
			fh, err := os.Open(filepath.Join(f.Directory, name))
			if err != nil {
				t.Fatalf("%s's file %s: %v", f.Node, name, err)
			}
			r, err := pcapgo.NewReader(fh)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for {
				data, _, err := r.ReadPacketData()
				if err != nil {
					break
				}
				p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
				if l, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && (l.DstPort == 8080 || l.SrcPort == 8080) {
					tcp++
				} else {
					udp++
				}
			}
			fh.Close()
		}
	}
	if tcp == 0 || udp != 0 {
		t.Errorf("the capture's files hold %d TCP/8080 packets and %d others; want TCP only", tcp, udp)
	}
	t.Logf("captured on %d nodes: %d TCP/8080 packets", len(files), tcp)

	// The end moved to the past: every node finishes.
	run("", "kubectl", "patch", "packetcaptures.projectcalico.org", "-n", "demo", "frontend", "--type=merge",
		"-p", `{"spec":{"endTime":"`+time.Now().Add(-time.Second).UTC().Format(time.RFC3339)+`"}}`)
	poll.Until(t, 30*time.Second, "the capture to finish on every node", func() bool {
		fs := status()
		for _, f := range fs {
			if f.State != "Finished" {
				return false
			}
		}
		return len(fs) > 0
	})
	// Deleted: its files go from every node.
	run("", "calicoctl", "delete", "packetcapture", "frontend", "-n", "demo")
	poll.Until(t, 30*time.Second, "the capture's files to be deleted", func() bool {
		for _, f := range files {
			if _, err := os.Stat(f.Directory); !os.IsNotExist(err) {
				return false
			}
		}
		return true
	})
}
