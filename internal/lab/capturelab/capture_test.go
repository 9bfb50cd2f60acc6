package capturelab

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/lab/netnstest"
	"github.com/calicong/calico/internal/poll"
)

type file struct {
	Node, Directory, State string
	FileNames              []string
}

// TestPacketCaptureInTheLab: a PacketCapture of the demo's web tier
// (its frontends) with a TCP/8080 filter, starting 20 s ahead, while the
// backend sends them TCP to 8080 and UDP to 5353:
//   - each node with a frontend reports Scheduled, then Capturing with
//     files; a pod created during the capture gets its file;
//   - its files can't be deleted while it captures (409);
//   - moving the end to the past finishes it on every node;
//   - the zip from MANAGER_URL/packet-capture/ holds every node's files,
//     which tcpdump reads: TCP to and from 8080, no UDP;
//   - a user with only the viewer role downloads but can't delete, and a
//     user without it gets 403;
//   - `calicoctl captured-packets copy` writes the same files, and
//     `clean` deletes them from every node.
func TestPacketCaptureInTheLab(t *testing.T) {
	cfg := labtest.DemoLab(t, 2)
	if os.Getenv("CALICO_BIN") != "" {
		netnstest.RequireBinaries(t, "tcpdump")
	}
	_, noTcpdump := exec.LookPath("tcpdump")
	ctx := context.Background()
	env := labtest.Env(t, cfg, "MANAGER_URL", "MANAGER_TOKEN", "CALICO_LAB_CA", "CALICO_PACKETCAPTURE_URL")
	t.Setenv("CALICO_PACKETCAPTURE_URL", env["CALICO_PACKETCAPTURE_URL"])
	console := labtest.NewConsole(t, env)
	admin := env["MANAGER_TOKEN"]
	run := labtest.Runner(t, cfg)

	start := time.Now().Add(20 * time.Second).UTC().Truncate(time.Second)
	run(`apiVersion: projectcalico.org/v3
kind: PacketCapture
metadata: {name: web, namespace: demo}
spec:
  selector: tier == "web"
  filters: [{protocol: TCP, ports: [8080]}]
  startTime: "`+start.Format(time.RFC3339)+`"
`, "calicoctl", "apply", "-f", "-")
	status := func() []file {
		o := run("", "kubectl", "get", "packetcaptures.projectcalico.org", "-n", "demo", "web", "-o", "jsonpath={.status.files}")
		var fs []file
		_ = json.Unmarshal([]byte(o), &fs)
		return fs
	}
	frontendNodes := map[string]bool{}
	for _, n := range strings.Fields(run("", "kubectl", "get", "pods", "-n", "demo", "-l", "app=frontend", "-o", "jsonpath={.items[*].spec.nodeName}")) {
		frontendNodes[n] = true
	}
	// Before the start: Scheduled, on exactly the nodes with a frontend.
	poll.Until(t, 15*time.Second, "the nodes with a frontend to report the capture Scheduled", func() bool {
		fs := status()
		for _, f := range fs {
			if f.State != "Scheduled" || !frontendNodes[f.Node] {
				return false
			}
		}
		return len(fs) == len(frontendNodes)
	})
	if time.Now().After(start) {
		t.Fatalf("Scheduled was seen only after the start")
	}

	pods := strings.Fields(run("", "kubectl", "get", "pods", "-n", "demo", "-l", "app=frontend", "-o", "jsonpath={.items[*].status.podIP}"))
	backend := "demo/" + strings.Fields(run("", "kubectl", "get", "pods", "-n", "demo", "-l", "app=backend", "-o", "jsonpath={.items[*].metadata.name}"))[0]
	send := func(from string) {
		for _, ip := range pods {
			_, _ = lab.Probe(ctx, cfg, from, ip, 8080, "tcp", 2*time.Second)
			_, _ = lab.Probe(ctx, cfg, from, ip, 5353, "udp", time.Second)
		}
	}
	poll.Until(t, 60*time.Second, "every frontend's node to capture its traffic", func() bool {
		send(backend)
		fs := status()
		for _, f := range fs {
			if f.State != "Capturing" || len(f.FileNames) == 0 {
				return false
			}
		}
		return len(fs) == len(frontendNodes)
	})

	// A pod of the web tier created during the capture is captured too
	// (its own traffic out, TCP to 8080 and UDP to 5353).
	run(`apiVersion: v1
kind: Pod
metadata: {name: late, namespace: demo, labels: {tier: web, app: late}}
spec:
  containers: [{name: late, image: demo/late:1}]
`, "kubectl", "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "the pod created during the capture to have its file", func() bool {
		if run("", "kubectl", "get", "pod", "-n", "demo", "late", "-o", "jsonpath={.status.podIP}") == "" {
			return false
		}
		send("demo/late")
		for _, f := range status() {
			if slices.ContainsFunc(f.FileNames, func(n string) bool { return strings.HasPrefix(n, "late_") }) {
				return true
			}
		}
		return false
	})

	// Running: its files stay.
	if code, body := console.Raw("DELETE", admin, "/packet-capture/files/demo/web", ""); code != 409 || !strings.Contains(string(body), "still capturing") {
		t.Errorf("deleting a running capture's files: %d %s", code, body)
	}
	// The end moved to the past: every node finishes.
	run("", "kubectl", "patch", "packetcaptures.projectcalico.org", "-n", "demo", "web", "--type=merge",
		"-p", `{"spec":{"endTime":"`+time.Now().Add(-time.Second).UTC().Format(time.RFC3339)+`"}}`)
	var files []file
	poll.Until(t, 30*time.Second, "the capture to finish on every node", func() bool {
		files = status()
		for _, f := range files {
			if f.State != "Finished" {
				return false
			}
		}
		return len(files) > 0
	})
	nodeOf := map[string]string{}
	for _, f := range files {
		for _, n := range f.FileNames {
			nodeOf[n] = f.Node
		}
	}

	// The zip, through the console: every node's files.
	code, zipped := console.Raw("GET", admin, "/packet-capture/download/demo/web/files.zip", "")
	if code != 200 {
		t.Fatalf("download: %d %s", code, zipped)
	}
	entries := unzip(t, zipped)
	nodes := map[string]bool{}
	for name := range entries {
		if nodeOf[name] == "" {
			t.Errorf("the zip holds %s, which no node reports", name)
		}
		nodes[nodeOf[name]] = true
	}
	if len(entries) != len(nodeOf) || len(nodes) != len(frontendNodes) {
		t.Errorf("the zip holds %d files from nodes %v; the status names %d files, and frontends run on %v", len(entries), nodes, len(nodeOf), frontendNodes)
	}
	// tcpdump reads every file: TCP to or from 8080, nothing else.
	dir := t.TempDir()
	tcp := 0
	for name, data := range entries {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if noTcpdump != nil {
			continue // outside CI, without make deps
		}
		out, err := exec.Command("tcpdump", "-nn", "-r", p).CombinedOutput()
		if err != nil || strings.Contains(string(out), "truncated") {
			t.Fatalf("tcpdump -r %s: %v\n%s", name, err, out)
		}
		for l := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
			if l == "" || strings.HasPrefix(l, "reading from file") {
				continue
			}
			if strings.Contains(l, "UDP") || !strings.Contains(l, ".8080") {
				t.Errorf("%s holds a packet other than TCP/8080: %s", name, l)
			}
			tcp++
		}
	}
	if (tcp == 0 && noTcpdump == nil) || !slices.ContainsFunc(slices.Collect(maps.Keys(entries)), func(n string) bool { return strings.HasPrefix(n, "late_") }) {
		t.Errorf("tcpdump read %d TCP/8080 packets in %d files; want some, and the late pod's file", tcp, len(entries))
	}
	t.Logf("captured on %d nodes: %d files, %d TCP/8080 packets, zip %d bytes", len(nodes), len(entries), tcp, len(zipped))

	// RBAC on packetcaptures/files: a viewer downloads but can't
	// delete; a user without the role gets 403.
	viewer := labtest.ServiceAccountToken(t, cfg, "capture-viewer", "calico-packetcapture-viewer")
	nobody := labtest.ServiceAccountToken(t, cfg, "capture-nobody", "view")
	if code, _ := console.Raw("GET", viewer, "/packet-capture/download/demo/web/files.zip", ""); code != 200 {
		t.Errorf("a viewer's download: %d", code)
	}
	if code, body := console.Raw("DELETE", viewer, "/packet-capture/files/demo/web", ""); code != 403 {
		t.Errorf("a viewer's delete: %d %s", code, body)
	}
	if code, body := console.Raw("GET", nobody, "/packet-capture/download/demo/web/files.zip", ""); code != 403 || !strings.Contains(string(body), "cannot get packetcaptures/files") {
		t.Errorf("a user without the role: %d %s", code, body)
	}
	if code, _ := console.Raw("GET", "", "/packet-capture/download/demo/web/files.zip", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}

	// calicoctl, as the kubeconfig's user (a client certificate), writes
	// the same files.
	copied := t.TempDir()
	run("", "calicoctl", "captured-packets", "copy", "web", "-n", "demo", "-d", copied)
	for name, data := range entries {
		got, err := os.ReadFile(filepath.Join(copied, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("calicoctl's copy of %s: %d bytes (%v), the zip's %d", name, len(got), err, len(data))
		}
	}
	if got, _ := os.ReadDir(copied); len(got) != len(entries) {
		t.Errorf("calicoctl copied %d files, the zip holds %d", len(got), len(entries))
	}

	// clean deletes them from every node; the status follows.
	out := run("", "calicoctl", "captured-packets", "clean", "web", "-n", "demo")
	if !strings.Contains(out, "Deleted ") {
		t.Errorf("clean said %q", out)
	}
	for _, f := range files {
		if _, err := os.Stat(f.Directory); !os.IsNotExist(err) {
			t.Errorf("%s's files are still there after clean: %v", f.Node, err)
		}
	}
	poll.Until(t, 30*time.Second, "the status to name no files", func() bool {
		for _, f := range status() {
			if len(f.FileNames) > 0 {
				return false
			}
		}
		return true
	})
	if code, body := console.Raw("GET", admin, "/packet-capture/download/demo/web/files.zip", ""); code != 404 || !strings.Contains(string(body), "has no files") {
		t.Errorf("download after clean: %d %s", code, body)
	}
	run("", "calicoctl", "delete", "packetcapture", "web", "-n", "demo")
}

func unzip(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("the download is not a zip: %v", err)
	}
	out := map[string][]byte{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil {
			t.Fatalf("%s: %v", zf.Name, err)
		}
		rc.Close()
		out[zf.Name] = b.Bytes()
	}
	return out
}
