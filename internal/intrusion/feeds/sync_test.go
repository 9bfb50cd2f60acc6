package feeds

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/linseed/linseedtest"
	"github.com/calicong/calico/internal/poll"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// feedServer serves a feed that the test changes, with an ETag, and
// counts the pulls that got content.
type feedServer struct {
	mu      sync.Mutex
	body    string
	status  int
	auth    string
	full    atomic.Int32
	lastHdr http.Header
}

func (f *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastHdr = r.Header.Clone()
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	if f.auth != "" && r.Header.Get("Authorization") != f.auth {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	etag := fmt.Sprintf(`"%x"`, len(f.body)*31+strings.Count(f.body, "."))
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	f.full.Add(1)
	w.Header().Set("ETag", etag)
	fmt.Fprint(w, f.body)
}

func (f *feedServer) set(body string, status int) {
	f.mu.Lock()
	f.body, f.status = body, status
	f.mu.Unlock()
}

// TestSyncKeepsTheSet: a pulled IPSet feed is kept in its
// GlobalNetworkSet with its labels, its header's value read from a
// Secret; an unchanged feed is not downloaded again; malformed content
// and an unreachable URL are status errors naming the line or the
// failure, while the last good set stays in place.
func TestSyncKeepsTheSet(t *testing.T) {
	ctx := context.Background()
	c := testLab.Client
	ns := fmt.Sprintf("calico-intrusion-detection-%d", time.Now().UnixNano()%1e6)
	if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "globalthreatfeed-bad-ips-auth"},
		Data: map[string][]byte{"token": []byte("Bearer s3cret")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := &feedServer{body: "# bad hosts\n192.0.2.7\n198.51.100.0/24\n", auth: "Bearer s3cret"}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	feed := &v3.GlobalThreatFeed{ObjectMeta: metav1.ObjectMeta{Name: "bad-ips"}, Spec: v3.GlobalThreatFeedSpec{
		GlobalNetworkSet: &v3.GlobalNetworkSetSync{Labels: map[string]string{"threat": "bad-ips"}},
		Pull: &v3.Pull{HTTP: &v3.HTTPPull{URL: hs.URL + "/ips.txt", Headers: []v3.HTTPHeader{{Name: "Authorization",
			ValueFrom: &v3.HTTPHeaderSource{SecretKeyRef: &v3.KeyRef{Name: "globalthreatfeed-bad-ips-auth", Key: "token"}}}}}}}}
	v3.Default(feed)
	obj, err := c.Create(ctx, feed)
	if err != nil {
		t.Fatal(err)
	}
	feed = obj.(*v3.GlobalThreatFeed)
	t.Cleanup(func() {
		_ = c.Delete(ctx, feedKind, "", "bad-ips", nil)
		_ = c.Delete(ctx, gnsKind, "", "threatfeed.bad-ips", nil)
		_ = c.Kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
	s := &Syncer{Client: c, Namespace: ns, Log: slog.New(slog.DiscardHandler)}
	st := &State{}

	set := func() *v3.GlobalNetworkSet {
		t.Helper()
		o, err := c.Get(ctx, gnsKind, "", "threatfeed.bad-ips")
		if err != nil {
			t.Fatalf("the feed's GlobalNetworkSet: %v", err)
		}
		return o.(*v3.GlobalNetworkSet)
	}
	status := func() v3.GlobalThreatFeedStatus {
		t.Helper()
		o, err := c.Get(ctx, feedKind, "", "bad-ips")
		if err != nil {
			t.Fatal(err)
		}
		return o.(*v3.GlobalThreatFeed).Status
	}

	if err := s.Sync(ctx, feed, st); err != nil {
		t.Fatal(err)
	}
	g := set()
	if want := []string{"192.0.2.7/32", "198.51.100.0/24"}; !slices.Equal(g.Spec.Nets, want) || g.Labels["threat"] != "bad-ips" {
		t.Errorf("the set holds %v, labels %v; want %v and threat=bad-ips", g.Spec.Nets, g.Labels, want)
	}
	if len(g.OwnerReferences) != 1 || g.OwnerReferences[0].UID != feed.UID {
		t.Errorf("the set is not owned by the feed: %v", g.OwnerReferences)
	}
	if st := status(); st.LastSuccessfulSync == nil || len(st.ErrorConditions) != 0 {
		t.Errorf("status after a good pull: %+v", st)
	}

	// Unchanged: asked conditionally, not downloaded again.
	if err := s.Sync(ctx, feed, st); err != nil {
		t.Fatal(err)
	}
	if n := srv.full.Load(); n != 1 {
		t.Errorf("the unchanged feed was downloaded %d times", n)
	}

	// Malformed content: a status error naming the line; the set stays.
	srv.set("192.0.2.7\n192.0.2.300\n", 0)
	err = s.Sync(ctx, feed, st)
	if err == nil || !strings.Contains(err.Error(), `line 2: "192.0.2.300" is not an IP address`) {
		t.Errorf("malformed content: %v", err)
	}
	if st := status(); len(st.ErrorConditions) != 1 || !strings.Contains(st.ErrorConditions[0].Message, "line 2") {
		t.Errorf("status after malformed content: %+v", st)
	}
	if g := set(); len(g.Spec.Nets) != 2 {
		t.Errorf("the last good set was not kept: %v", g.Spec.Nets)
	}

	// Unreachable, then an HTTP error: status errors; the set stays.
	good := feed.Spec.Pull.HTTP.URL
	feed.Spec.Pull.HTTP.URL = "http://127.0.0.1:1/ips.txt"
	if err := s.Sync(ctx, feed, st); err == nil || !strings.Contains(status().ErrorConditions[0].Message, "127.0.0.1:1") {
		t.Errorf("an unreachable feed: %v, status %+v", err, status())
	}
	feed.Spec.Pull.HTTP.URL = good
	srv.set("", http.StatusInternalServerError)
	if err := s.Sync(ctx, feed, st); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("a failing server: %v", err)
	}
	if g := set(); len(g.Spec.Nets) != 2 {
		t.Errorf("the last good set was not kept: %v", g.Spec.Nets)
	}

	// Fixed: the new content replaces the set, and the error clears.
	srv.set("203.0.113.9\n", 0)
	if err := s.Sync(ctx, feed, st); err != nil {
		t.Fatal(err)
	}
	if g := set(); !slices.Equal(g.Spec.Nets, []string{"203.0.113.9/32"}) {
		t.Errorf("after the fix: %v", g.Spec.Nets)
	}
	if st := status(); len(st.ErrorConditions) != 0 {
		t.Errorf("the error did not clear: %+v", st)
	}
}

// TestController: a new feed is pulled at once into its set; a changed
// feed is pulled again; a disabled one is left alone; a deleted one's
// set goes with it (owner reference, Kubernetes' garbage collector).
func TestController(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := testLab.Client
	srv := &feedServer{body: "192.0.2.1\n"}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	ctl := &Controller{Syncer: &Syncer{Client: c, Namespace: "default", Log: slog.New(slog.DiscardHandler)}}
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	feed := &v3.GlobalThreatFeed{ObjectMeta: metav1.ObjectMeta{Name: "ctl-feed"}, Spec: v3.GlobalThreatFeedSpec{
		GlobalNetworkSet: &v3.GlobalNetworkSetSync{Labels: map[string]string{"threat": "ctl"}},
		Pull:             &v3.Pull{HTTP: &v3.HTTPPull{URL: hs.URL + "/a.txt"}}}}
	v3.Default(feed)
	if _, err := c.Create(ctx, feed); err != nil {
		t.Fatal(err)
	}
	nets := func() []string {
		o, err := c.Get(ctx, gnsKind, "", "threatfeed.ctl-feed")
		if err != nil {
			return nil
		}
		return o.(*v3.GlobalNetworkSet).Spec.Nets
	}
	poll.Until(t, 20*time.Second, "the new feed's set", func() bool { return slices.Equal(nets(), []string{"192.0.2.1/32"}) })

	srv.set("192.0.2.2\n", 0)
	o, _ := c.Get(ctx, feedKind, "", "ctl-feed")
	f := o.(*v3.GlobalThreatFeed)
	f.Spec.Pull.HTTP.URL = hs.URL + "/b.txt"
	if _, err := c.Update(ctx, f); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the changed feed pulled again", func() bool { return slices.Equal(nets(), []string{"192.0.2.2/32"}) })

	if err := c.Delete(ctx, feedKind, "", "ctl-feed", nil); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 60*time.Second, "the deleted feed's set to go", func() bool {
		_, err := c.Get(ctx, gnsKind, "", "threatfeed.ctl-feed")
		return datastore.IsNotFound(err)
	})
}

// feedOf serves n addresses, one per line.
func feedOf(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "10.%d.%d.%d\n", i>>16&255, i>>8&255, i&255)
	}
	return b.String()
}

// TestLargeFeedsAreSharded: a feed past MaxSetEntries is kept in several
// sets with its labels; when it shrinks, the extra ones go.
func TestLargeFeedsAreSharded(t *testing.T) {
	ctx := context.Background()
	c := testLab.Client
	srv := &feedServer{body: feedOf(MaxSetEntries + 10)}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	feed := &v3.GlobalThreatFeed{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Spec: v3.GlobalThreatFeedSpec{
		GlobalNetworkSet: &v3.GlobalNetworkSetSync{Labels: map[string]string{"threat": "big"}},
		Pull:             &v3.Pull{HTTP: &v3.HTTPPull{URL: hs.URL + "/big.txt"}}}}
	v3.Default(feed)
	obj, err := c.Create(ctx, feed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Delete(ctx, feedKind, "", "big", nil)
		for _, n := range []string{"threatfeed.big", "threatfeed.big-2"} {
			_ = c.Delete(ctx, gnsKind, "", n, nil)
		}
	})
	s := &Syncer{Client: c, Namespace: "default", Log: slog.New(slog.DiscardHandler)}
	if err := s.Sync(ctx, obj.(*v3.GlobalThreatFeed), &State{}); err != nil {
		t.Fatal(err)
	}
	count := func(name string) int {
		o, err := c.Get(ctx, gnsKind, "", name)
		if err != nil {
			return -1
		}
		if o.(*v3.GlobalNetworkSet).Labels["threat"] != "big" {
			t.Errorf("%s has labels %v", name, o.(*v3.GlobalNetworkSet).Labels)
		}
		return len(o.(*v3.GlobalNetworkSet).Spec.Nets)
	}
	if a, b := count("threatfeed.big"), count("threatfeed.big-2"); a != MaxSetEntries || b != 10 {
		t.Errorf("shards hold %d and %d, want %d and 10", a, b, MaxSetEntries)
	}
	srv.set(feedOf(5), 0)
	if err := s.Sync(ctx, obj.(*v3.GlobalThreatFeed), &State{}); err != nil {
		t.Fatal(err)
	}
	if a, b := count("threatfeed.big"), count("threatfeed.big-2"); a != 5 || b != -1 {
		t.Errorf("after shrinking: %d and %d (-1: gone), want 5 and gone", a, b)
	}
}

// BenchmarkSync100k: the time to pull a 100,000-entry feed from a local
// HTTP server, parse it and write it into its GlobalNetworkSets through
// the real API server (and its admission webhook).
func BenchmarkSync100k(b *testing.B) {
	ctx := context.Background()
	c := testLab.Client
	body := feedOf(100_000)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		name := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano()%1e6, i)
		srv := &feedServer{body: body}
		hs := httptest.NewServer(srv)
		feed := &v3.GlobalThreatFeed{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.GlobalThreatFeedSpec{
			GlobalNetworkSet: &v3.GlobalNetworkSetSync{Labels: map[string]string{"threat": "bench"}},
			Pull:             &v3.Pull{HTTP: &v3.HTTPPull{URL: hs.URL + "/f.txt"}}}}
		v3.Default(feed)
		obj, err := c.Create(ctx, feed)
		if err != nil {
			b.Fatal(err)
		}
		s := &Syncer{Client: c, Namespace: "default", Log: slog.New(slog.DiscardHandler)}
		b.StartTimer()
		start := time.Now()
		if err := s.Sync(ctx, obj.(*v3.GlobalThreatFeed), &State{}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "sync-100k-s")
		b.StopTimer()
		hs.Close()
		_ = c.Delete(ctx, feedKind, "", name, nil)
		for _, n := range setNames(name, 100_000) {
			_ = c.Delete(ctx, gnsKind, "", n, nil)
		}
		b.StartTimer()
	}
}

// contentsRecorder keeps what the controller gives the search.
type contentsRecorder struct {
	mu sync.Mutex
	m  map[string][]string
}

func (c *contentsRecorder) Put(feed, _ string, entries []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[feed] = entries
}

func (c *contentsRecorder) Remove(feed string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, feed)
}

func (c *contentsRecorder) get(feed string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[feed]
}

// TestPushedFeed: a feed without pull holds what was last pushed to
// Linseed under its name; a new push replaces it, and is its last sync.
func TestPushedFeed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := testLab.Client
	ls := linseedtest.New(t)
	rec := &contentsRecorder{m: map[string][]string{}}
	ctl := &Controller{Syncer: &Syncer{Client: c, Namespace: "default", Log: slog.New(slog.DiscardHandler)},
		Contents: rec, Linseed: ls, PushPoll: 100 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	push := func(domains ...string) {
		t.Helper()
		doc := map[string]any{"id": "pushed-domains", "data": map[string]any{"created_at": time.Now().UTC().Format(time.RFC3339Nano), "domains": domains}}
		if _, err := ls.Bulk(ctx, "POST", "/threatfeeds/domainnameset/bulk", []any{doc}); err != nil {
			t.Fatal(err)
		}
	}
	push("Bad.Example", "worse.example")
	feed := &v3.GlobalThreatFeed{ObjectMeta: metav1.ObjectMeta{Name: "pushed-domains"}, Spec: v3.GlobalThreatFeedSpec{Content: v3.ThreatFeedContentDomainNameSet}}
	v3.Default(feed)
	if _, err := c.Create(ctx, feed); err != nil {
		t.Fatal(err)
	}
	defer c.Delete(context.Background(), feedKind, "", "pushed-domains", nil)
	poll.Until(t, 20*time.Second, "the pushed content", func() bool {
		return slices.Equal(rec.get("pushed-domains"), []string{"bad.example", "worse.example"})
	})
	poll.Until(t, 20*time.Second, "the feed's last sync", func() bool {
		o, err := c.Get(ctx, feedKind, "", "pushed-domains")
		return err == nil && o.(*v3.GlobalThreatFeed).Status.LastSuccessfulSync != nil
	})
	push("new.example")
	poll.Until(t, 20*time.Second, "the second push", func() bool {
		return slices.Equal(rec.get("pushed-domains"), []string{"new.example"})
	})
}
