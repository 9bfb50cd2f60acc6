package cni

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/calicong/calico/internal/ipam"
)

// TestConcurrentAdds: 200 concurrent ADDs over three nodes give 200
// distinct addresses inside the pool, and the IPAM check finds nothing
// wrong.
func TestConcurrentAdds(t *testing.T) {
	skipShort(t)
	makePool(t, "cni-load", "10.75.0.0/22", 26)
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, newNode(t, fmt.Sprintf("cni-load-%d", i)))
	}
	const pods = 200
	sbs := make([]sandbox, pods)
	for i := range pods {
		n := nodes[i%3]
		name := fmt.Sprintf("p-%03d", i)
		makePod(t, "cni-load", name, n.name, nil)
		sbs[i] = n.sandbox("cni-load", name)
	}
	confs := []*libcni.NetworkConfigList{}
	for _, n := range nodes {
		confs = append(confs, n.conf(nil, map[string]any{"ipv4_pools": []string{"cni-load"}}))
	}
	var mu sync.Mutex
	seen := map[netip.Addr]string{}
	var wg sync.WaitGroup
	var retries atomic.Int32
	start := time.Now()
	for i := range pods {
		wg.Go(func() {
			n := nodes[i%3]
			res, err := n.cni.AddNetworkList(ctx(), confs[i%3], sbs[i].rt())
			// An ADD the plugin asks to try again later (CNI code 11: the
			// API server did not answer in time, which 200 simultaneous
			// TLS handshakes on a loaded machine can cause) is retried, as
			// the runtime does; the pool check below proves the failed
			// attempt left nothing behind.
			for try := 0; try < 3 && cniCode(err) == types.ErrTryAgainLater; try++ {
				retries.Add(1)
				res, err = n.cni.AddNetworkList(ctx(), confs[i%3], sbs[i].rt())
			}
			if err != nil {
				t.Errorf("ADD %s: %v", sbs[i].pod, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, ip := range addrsOf(t, res) {
				if other, ok := seen[ip]; ok {
					t.Errorf("%s given to %s and %s", ip, other, sbs[i].pod)
				}
				if !netip.MustParsePrefix("10.75.0.0/22").Contains(ip) {
					t.Errorf("%s is outside the pool", ip)
				}
				seen[ip] = sbs[i].pod
			}
		})
	}
	wg.Wait()
	t.Logf("%d concurrent ADDs over 3 nodes in %v (%d retried at the plugin's request)", pods, time.Since(start), retries.Load())
	if len(seen) != pods {
		t.Errorf("%d distinct addresses, want %d", len(seen), pods)
	}
	if allocs, problems := checkPool(t, "10.75.0.0/22"); len(problems) != 0 || allocs != pods {
		t.Errorf("check: %d allocations, problems %+v", allocs, problems)
	}
	for i := range pods {
		wg.Go(func() {
			if err := nodes[i%3].cni.DelNetworkList(ctx(), confs[i%3], sbs[i].rt()); err != nil {
				t.Errorf("DEL %s: %v", sbs[i].pod, err)
			}
		})
	}
	wg.Wait()
	if allocs, problems := checkPool(t, "10.75.0.0/22"); len(problems) != 0 || allocs != 0 {
		t.Errorf("after DEL: %d allocations, problems %+v", allocs, problems)
	}
}

// TestKilledAdds kills plugins in the middle of ADDs (the runtime's
// timeout): whatever they left, GC with the runtime's valid attachments
// reclaims, and the IPAM check then finds nothing wrong.
func TestKilledAdds(t *testing.T) {
	skipShort(t)
	makePool(t, "cni-kill", "10.76.0.0/22", 26)
	n := newNode(t, "cni-kill")
	conf := n.conf(nil, map[string]any{"ipv4_pools": []string{"cni-kill"}})
	const pods = 40
	sbs := make([]sandbox, pods)
	ids := map[string]bool{}
	for i := range pods {
		name := fmt.Sprintf("k-%02d", i)
		makePod(t, "cni-kill", name, n.name, nil)
		sbs[i] = n.sandbox("cni-kill", name)
		ids[sbs[i].containerID] = true
	}
	var mu sync.Mutex
	var valid []types.GCAttachment
	var wg sync.WaitGroup
	killed := 0
	for i := range pods {
		wg.Go(func() {
			c := context.Background()
			if i%2 == 1 {
				var cancel context.CancelFunc
				c, cancel = context.WithTimeout(c, time.Duration(20+rand.IntN(400))*time.Millisecond)
				defer cancel()
			}
			_, err := n.cni.AddNetworkList(c, conf, sbs[i].rt())
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				valid = append(valid, types.GCAttachment{ContainerID: sbs[i].containerID, IfName: "eth0"})
			} else if i%2 == 1 {
				killed++
			} else {
				t.Errorf("ADD %s: %v", sbs[i].pod, err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d ADDs killed, %d completed", killed, len(valid))
	// IPAM children of killed plugins may still be running: wait for them.
	deadline := time.Now().Add(time.Minute)
	for pluginsRunning(ids) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) //nolint:forbidigo // polling /proc with a deadline
	}
	if err := n.cni.GCNetworkList(ctx(), conf, &libcni.GCArgs{ValidAttachments: valid}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	allocs, problems := checkPool(t, "10.76.0.0/22")
	if allocs != len(valid) {
		t.Errorf("after GC: %d allocations, want the %d completed ADDs'", allocs, len(valid))
	}
	for _, p := range problems {
		t.Errorf("after GC: %+v", p)
	}
	for _, v := range valid {
		for i := range sbs {
			if sbs[i].containerID == v.ContainerID {
				if err := n.cni.DelNetworkList(ctx(), conf, sbs[i].rt()); err != nil {
					t.Errorf("DEL: %v", err)
				}
			}
		}
	}
}

// checkPool runs the IPAM check and keeps what concerns one pool (other
// tests' pools come and go meanwhile).
func checkPool(t *testing.T, cidr string) (allocations int, problems []ipam.Problem) {
	t.Helper()
	m := testLab.Client.IPAM()
	pool := netip.MustParsePrefix(cidr)
	all, err := m.Allocations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if pool.Contains(a.Addr) {
			allocations++
		}
	}
	r, err := m.Check(context.Background(), ipam.Owners{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Problems {
		if strings.Contains(p.Detail, strings.TrimSuffix(pool.Addr().String(), ".0")) || (p.IP != "" && pool.Contains(netip.MustParseAddr(p.IP))) {
			problems = append(problems, p)
		}
	}
	return allocations, problems
}

// pluginsRunning tells whether any process works for one of these
// containers.
func pluginsRunning(ids map[string]bool) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(b), "\x00") {
			if v, ok := strings.CutPrefix(kv, "CNI_CONTAINERID="); ok && ids[v] {
				return true
			}
		}
	}
	return false
}
