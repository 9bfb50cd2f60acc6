package confd

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/node/bgp"
	"github.com/calicong/calico/internal/poll"
)

type fakeBIRD struct {
	mu      sync.Mutex
	applied []*bgp.Config
	fail    error
}

func (f *fakeBIRD) Apply(_ context.Context, c *bgp.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.applied = append(f.applied, c)
	return nil
}

func (f *fakeBIRD) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.applied)
}

func (f *fakeBIRD) last() *bgp.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied[len(f.applied)-1]
}

func upd(kind, name string, v any) model.Update {
	return model.Update{KVPair: model.KVPair{Key: model.Key{Kind: kind, Name: name}, Value: v}}
}

func node(name, ip string) model.Update {
	return upd(model.KindNode, name, &v3.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.NodeSpec{BGP: &v3.NodeBGPSpec{IPv4Address: ip}}})
}

func block(cidr, affinity string) model.Update {
	b := &v3.IPAMBlock{ObjectMeta: metav1.ObjectMeta{Name: strings.NewReplacer(".", "-", "/", "-").Replace(cidr)}, Spec: v3.IPAMBlockSpec{CIDR: cidr, Affinity: &affinity}}
	return upd("IPAMBlock", b.Name, b)
}

// confd renders nothing before the stream is in sync, then once per
// change (not for one that leaves the configuration alone), follows
// this node's blocks, reads passwords through its SecretReader and
// retries when BIRD refuses.
func TestLoop(t *testing.T) {
	bird := &fakeBIRD{}
	var reads []string
	var rmu sync.Mutex
	c := New(Config{Node: "a", BIRD: bird, Debounce: 20 * time.Millisecond, Secrets: func(_ context.Context, name, key string) (string, error) {
		rmu.Lock()
		reads = append(reads, name+"/"+key)
		rmu.Unlock()
		return "pw", nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	c.OnStatusUpdated(model.ResyncInProgress)
	c.OnUpdates([]model.Update{node("a", "10.0.0.1/24"), node("b", "10.0.0.2/24"),
		upd("IPPool", "p", &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v3.IPPoolSpec{CIDR: "10.65.0.0/16"}})})
	time.Sleep(100 * time.Millisecond) // a partial view must not be rendered
	if bird.count() != 0 {
		t.Fatalf("rendered before in sync")
	}
	c.OnStatusUpdated(model.InSync)
	poll.Until(t, 5*time.Second, "first render", func() bool { return bird.count() == 1 })
	if got := bird.last(); len(got.PeersV4) != 1 || got.PeersV4[0].Node != "b" {
		t.Errorf("peers %+v", got.PeersV4)
	}

	// An update that changes nothing rendered (another node's block) is
	// not applied; this node's block is.
	c.OnUpdates([]model.Update{block("10.65.9.0/26", "host:b")})
	c.OnUpdates([]model.Update{block("10.65.1.0/26", "host:a")})
	poll.Until(t, 5*time.Second, "the block rendered", func() bool { return bird.count() == 2 })
	if !strings.Contains(bird.last().Main, "route 10.65.1.0/26 blackhole;") || strings.Contains(bird.last().Main, "10.65.9.0/26") {
		t.Errorf("blocks in the configuration:\n%s", bird.last().Main)
	}
	time.Sleep(100 * time.Millisecond)
	if n := bird.count(); n != 2 {
		t.Errorf("%d applies, want 2 (the other node's block changes nothing)", n)
	}

	// A password from a Secret.
	c.OnUpdates([]model.Update{upd("BGPPeer", "tor", &v3.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor"}, Spec: v3.BGPPeerSpec{PeerIP: "10.0.0.254", ASNumber: 65001,
		Password: &v3.BGPPassword{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}})})
	poll.Until(t, 5*time.Second, "the peer rendered", func() bool { return bird.count() == 3 })
	if !strings.Contains(bird.last().Main, `password "pw";`) {
		t.Errorf("no password in:\n%s", bird.last().Main)
	}
	rmu.Lock()
	if len(reads) == 0 || reads[0] != "s/k" {
		t.Errorf("secret reads %v", reads)
	}
	rmu.Unlock()

	// BIRD refuses: reported, and retried.
	bird.mu.Lock()
	bird.fail = errors.New("refused")
	bird.mu.Unlock()
	c.OnUpdates([]model.Update{block("10.65.2.0/26", "host:a")})
	poll.Until(t, 5*time.Second, "the failure reported", func() bool { return c.Status().Err != nil })
	bird.mu.Lock()
	bird.fail = nil
	bird.mu.Unlock()
	poll.Until(t, 5*time.Second, "the retry", func() bool { return bird.count() == 4 && c.Status().Err == nil })
}
