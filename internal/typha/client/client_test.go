package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/pki"
	"github.com/calicong/calico/internal/typha/server"
	"github.com/calicong/calico/internal/typha/snapcache"
	"github.com/calicong/calico/internal/typha/tlsauth"
	"github.com/calicong/calico/internal/typha/typhatest"
	"github.com/calicong/calico/internal/typha/wire"
)

type typha struct {
	cache *snapcache.Cache
	srv   *server.Server
	addr  string
	stop  func()
}

func startTypha(t *testing.T, mod func(*server.Config)) *typha {
	t.Helper()
	cache := snapcache.New(snapcache.Config{SyncerType: "felix"})
	cfg := server.Config{Caches: map[string]*snapcache.Cache{"felix": cache}, Name: "test"}
	if mod != nil {
		mod(&cfg)
	}
	srv := server.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln)
	}()
	var once sync.Once
	ty := &typha{cache: cache, srv: srv, addr: ln.Addr().String(), stop: func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}}
	t.Cleanup(ty.stop)
	return ty
}

func startClient(t *testing.T, cfg Config) (*Client, *typhatest.Recorder) {
	t.Helper()
	rec := typhatest.NewRecorder()
	cfg.SyncerType = "felix"
	cfg.Hostname = "node-test"
	c := New(cfg, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c, rec
}

func static(addrs ...string) func(context.Context) ([]string, error) {
	return func(context.Context) ([]string, error) { return addrs, nil }
}

var eventually = typhatest.Eventually

// source feeds the same updates to every cache and keeps the truth.
type source struct {
	caches []*snapcache.Cache
	truth  typhatest.State
	rev    int
}

func (s *source) feed(us ...model.Update) {
	s.truth.Apply(us)
	for _, c := range s.caches {
		c.OnUpdates(us)
	}
}

func (s *source) status(st model.SyncStatus) {
	for _, c := range s.caches {
		c.OnStatusUpdated(st)
	}
}

func (s *source) next() int { s.rev++; return s.rev }

func matches(rec *typhatest.Recorder, truth typhatest.State) func() string {
	return func() string {
		if d := rec.State().Diff(truth); d != "" {
			return "client state differs from the source: " + d
		}
		return ""
	}
}

func TestClientEndsWithTheSourcesState(t *testing.T) {
	ty := startTypha(t, nil)
	src := &source{caches: []*snapcache.Cache{ty.cache}, truth: typhatest.State{}}
	src.status(model.ResyncInProgress)
	for i := range 500 {
		src.feed(typhatest.WEP(i, 10, 5, "a", src.next()))
	}
	src.status(model.InSync)
	_, rec := startClient(t, Config{Addresses: static(ty.addr)})
	eventually(t, 5*time.Second, matches(rec, src.truth))

	// Churn: changes, deletes, no-ops, a value that failed validation.
	noop := typhatest.WEP(7, 10, 5, "a", src.next())
	before := rec.UpdatesOf(noop.Key)
	for round := range 20 {
		var us []model.Update
		for i := round; i < 500; i += 20 {
			switch i % 4 {
			case 0:
				us = append(us, typhatest.WEP(i, 10, 5, fmt.Sprint("g", round), src.next()))
			case 1:
				us = append(us, typhatest.Delete(typhatest.WEP(i, 10, 5, "", 0).Key, src.next()))
			case 2:
				us = append(us, typhatest.WEP(1000+i, 10, 5, "new", src.next()))
			}
		}
		us = append(us, model.Update{KVPair: model.KVPair{Key: model.Key{Kind: "GlobalNetworkPolicy", Name: "invalid"}, Revision: fmt.Sprint(src.next())}, UpdateType: model.UpdateTypeUpdated})
		src.feed(us...)
	}
	src.feed(noop)
	eventually(t, 5*time.Second, matches(rec, src.truth))
	if got := rec.UpdatesOf(noop.Key); got != before {
		t.Errorf("a no-op update reached the client (%d updates of %s, was %d)", got, noop.Key, before)
	}
	if st := rec.Statuses(); !slices.Equal(st, []model.SyncStatus{model.WaitForDatastore, model.InSync}) {
		t.Errorf("statuses %v", st)
	}
}

func TestFailoverResyncsWithoutDisturbingTheConsumer(t *testing.T) {
	a := startTypha(t, func(c *server.Config) { c.ShutdownTimeout = time.Millisecond })
	b := startTypha(t, nil)
	src := &source{caches: []*snapcache.Cache{a.cache, b.cache}, truth: typhatest.State{}}
	for i := range 300 {
		src.feed(typhatest.WEP(i, 10, 5, "a", src.next()))
	}
	src.status(model.InSync)
	c, rec := startClient(t, Config{Addresses: static(a.addr, b.addr)})
	eventually(t, 5*time.Second, matches(rec, src.truth))
	if c.Connected() != a.addr {
		t.Fatalf("connected to %q, want the first address %s", c.Connected(), a.addr)
	}
	updates, _ := rec.Counts()

	a.stop()
	// Changes made while the client moves reach it from the other replica.
	gone := typhatest.WEP(5, 10, 5, "", 0).Key
	src.feed(typhatest.WEP(3, 10, 5, "b", src.next()), typhatest.Delete(gone, src.next()))
	eventually(t, 5*time.Second, func() string {
		if c.Connected() != b.addr {
			return "client has not moved to the second replica"
		}
		return matches(rec, src.truth)()
	})
	after, deletes := rec.Counts()
	if after-updates != 2 || deletes != 1 {
		t.Errorf("resync passed on %d updates (%d deletes); want just the 2 real changes", after-updates, deletes)
	}
	if st := rec.Statuses(); !slices.Equal(st, []model.SyncStatus{model.WaitForDatastore, model.InSync}) {
		t.Errorf("the consumer saw statuses %v across the move", st)
	}
}

// A key the new replica's snapshot lacks, and no delete was seen for, is
// deleted at the new replica's InSync, not before.
func TestResyncDeletesWhatTheNewReplicaLacks(t *testing.T) {
	a := startTypha(t, nil)
	b := startTypha(t, nil)
	for i := range 10 {
		a.cache.OnUpdates([]model.Update{typhatest.WEP(i, 1, 1, "a", i+1)})
		if i != 4 {
			b.cache.OnUpdates([]model.Update{typhatest.WEP(i, 1, 1, "a", i+1)})
		}
	}
	a.cache.OnStatusUpdated(model.InSync)
	b.cache.OnStatusUpdated(model.ResyncInProgress)
	c, rec := startClient(t, Config{Addresses: static(a.addr, b.addr)})
	eventually(t, 5*time.Second, func() string {
		if rec.Len() != 10 {
			return fmt.Sprintf("%d keys", rec.Len())
		}
		return ""
	})
	a.stop()
	eventually(t, 5*time.Second, func() string {
		if c.Connected() != b.addr {
			return "not moved"
		}
		return ""
	})
	if _, d := rec.Counts(); d != 0 || rec.Len() != 10 {
		t.Fatalf("before the new replica is in sync: %d deletes, %d keys", d, rec.Len())
	}
	b.cache.OnStatusUpdated(model.InSync)
	eventually(t, 5*time.Second, func() string {
		if _, d := rec.Counts(); d != 1 || rec.Len() != 9 {
			return fmt.Sprintf("%d deletes, %d keys; want 1 and 9", d, rec.Len())
		}
		return ""
	})
}

// rawHello connects and says hello, returning the connection and the
// server's first frame.
func rawHello(t *testing.T, addr string) (net.Conn, wire.MsgType, []byte) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	h, _ := json.Marshal(wire.Hello{Version: wire.ProtocolVersion, SyncerType: "felix", Hostname: "raw"})
	if _, err := nc.Write(wire.AppendFrame(nil, wire.MsgHello, h)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, p, err := wire.NewReader(bufio.NewReader(nc)).Next()
	if err != nil {
		t.Fatal(err)
	}
	return nc, typ, append([]byte(nil), p...)
}

func TestStalledClientDoesNotDelayOthers(t *testing.T) {
	ty := startTypha(t, func(c *server.Config) {
		c.MaxFallBehind = 2 * time.Second
		c.WriteTimeout = 3 * time.Second
	})
	src := &source{caches: []*snapcache.Cache{ty.cache}, truth: typhatest.State{}}
	src.status(model.InSync)
	// The stalled client says hello and then never reads.
	stalled, typ, _ := rawHello(t, ty.addr)
	if typ != wire.MsgServerHello {
		t.Fatalf("stalled client got a %s frame", typ)
	}
	// A small receive buffer, so that the server's writes back up soon
	// whatever the host's TCP buffer sizes.
	_ = stalled.(*net.TCPConn).SetReadBuffer(4096)
	_, rec := startClient(t, Config{Addresses: static(ty.addr)})
	eventually(t, 5*time.Second, func() string {
		if ty.srv.NumConnections() != 2 {
			return "both clients not connected"
		}
		return ""
	})
	// Enough updates to fill the stalled connection's socket buffers many
	// times over; each must reach the live client promptly.
	var worst time.Duration
	for round := range 40 {
		var us []model.Update
		for i := range 200 {
			us = append(us, typhatest.WEP(round*200+i, 10, 5, strings.Repeat("x", 60), src.next()))
		}
		start := time.Now()
		src.feed(us...)
		last := us[len(us)-1].Key
		eventually(t, 5*time.Second, func() string {
			if _, ok := rec.State()[last]; !ok {
				return "live client did not get the batch"
			}
			return ""
		})
		worst = max(worst, time.Since(start))
	}
	if worst > time.Second {
		t.Errorf("with a stalled client connected, the slowest batch took %s to reach the live client", worst)
	}
	t.Logf("slowest batch with a stalled client connected: %s", worst)
	// Updates keep coming, as in a live cluster, until the stalled client
	// is cut off: how much fits in the kernel's buffers before it falls
	// behind depends on the host.
	round := 40
	eventually(t, 10*time.Second, func() string {
		var us []model.Update
		for i := range 200 {
			us = append(us, typhatest.WEP(round*200+i, 10, 5, strings.Repeat("x", 60), src.next()))
		}
		round++
		src.feed(us...)
		if n := ty.srv.NumConnections(); n != 1 {
			return fmt.Sprintf("%d connections: the stalled client was not disconnected", n)
		}
		return ""
	})
	eventually(t, 5*time.Second, matches(rec, src.truth))
}

func TestConnectionLimitAndShedding(t *testing.T) {
	var limit atomic.Int64
	limit.Store(1)
	ty := startTypha(t, func(c *server.Config) {
		c.MaxConns = func() int { return int(limit.Load()) }
		c.DropInterval = 50 * time.Millisecond
	})
	ty.cache.OnStatusUpdated(model.InSync)
	_, rec := startClient(t, Config{Addresses: static(ty.addr)})
	eventually(t, 5*time.Second, func() string {
		if ty.srv.NumConnections() != 1 {
			return "first client not connected"
		}
		return ""
	})
	_, typ, p := rawHello(t, ty.addr)
	if typ != wire.MsgError || !strings.Contains(string(p), "too many connections") {
		t.Fatalf("over the limit: got %s %q", typ, p)
	}
	limit.Store(3)
	rawHello(t, ty.addr)
	rawHello(t, ty.addr)
	eventually(t, 5*time.Second, func() string {
		if n := ty.srv.NumConnections(); n != 3 {
			return fmt.Sprintf("%d connections, want 3", n)
		}
		return ""
	})
	limit.Store(1)
	eventually(t, 5*time.Second, func() string {
		if n := ty.srv.NumConnections(); n != 1 {
			return fmt.Sprintf("%d connections after lowering the limit to 1", n)
		}
		return ""
	})
	if st := rec.Statuses(); st[len(st)-1] != model.InSync {
		t.Errorf("consumer statuses %v", st)
	}
}

func TestCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, _, err := pki.NewAuthority("typha-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := pki.NewAuthority("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	srvFiles := typhatest.Certs(t, dir, ca, "typha", pki.Request{CommonName: "typha-server", Server: true})
	// Each client's certificate from its issuer, with the CA both trust.
	write := func(name string, a *pki.Authority, req pki.Request) tlsauth.Files {
		f := typhatest.Certs(t, filepath.Join(dir, name), a, name, req)
		f.CAFile = srvFiles.CAFile
		return f
	}
	srvTLS, err := tlsauth.Server(srvFiles, tlsauth.Identity{CN: "typha-client"})
	if err != nil {
		t.Fatal(err)
	}
	ty := startTypha(t, func(c *server.Config) { c.TLS = srvTLS })
	ty.cache.OnUpdates([]model.Update{typhatest.WEP(1, 1, 1, "a", 1)})
	ty.cache.OnStatusUpdated(model.InSync)

	for _, tc := range []struct {
		name   string
		issuer *pki.Authority
		req    pki.Request
		server tlsauth.Identity
		want   string // "" = accepted
	}{
		{"good", ca, pki.Request{CommonName: "typha-client", Client: true}, tlsauth.Identity{CN: "typha-server"}, ""},
		{"wrong common name", ca, pki.Request{CommonName: "intruder", Client: true}, tlsauth.Identity{CN: "typha-server"}, "refused this client's certificate: remote error: tls: bad certificate"},
		{"other CA", other, pki.Request{CommonName: "typha-client", Client: true}, tlsauth.Identity{CN: "typha-server"}, "refused this client's certificate: remote error: tls: unknown certificate authority"},
		{"server not who we expect", ca, pki.Request{CommonName: "typha-client", Client: true}, tlsauth.Identity{CN: "someone-else"}, "does not have common name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cliTLS, err := tlsauth.Client(write(strings.ReplaceAll(tc.name, " ", "-"), tc.issuer, tc.req), tc.server)
			if err != nil {
				t.Fatal(err)
			}
			c := New(Config{SyncerType: "felix", Hostname: "n", TLS: cliTLS, Addresses: static(ty.addr)}, typhatest.NewRecorder())
			nc, _, err := c.connect(context.Background(), ty.addr)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				nc.Close()
				return
			}
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestOversizedControlFramesAreRefused: a client (authenticated or not,
// as TLS is optional) that announces a huge hello is refused at once with
// an error saying why, without the server reading or allocating it; a huge
// pong after the handshake drops the connection the same way.
func TestOversizedControlFramesAreRefused(t *testing.T) {
	ty := startTypha(t, nil)
	ty.cache.OnStatusUpdated(model.InSync)
	nc, err := net.Dial("tcp", ty.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Only the header of a 512 MiB hello: the server must not wait for it.
	header := binary.AppendUvarint([]byte{byte(wire.MsgHello)}, 512<<20)
	if _, err := nc.Write(header); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	typ, p, err := wire.NewReader(bufio.NewReader(nc)).Next()
	if err != nil || typ != wire.MsgError || !strings.Contains(string(p), "hello frame of 536870912 bytes, at most 16384 allowed") {
		t.Fatalf("answer to an oversized hello: %s %q %v", typ, p, err)
	}

	conn, typ, _ := rawHello(t, ty.addr)
	if typ != wire.MsgServerHello {
		t.Fatalf("a good hello got a %s frame", typ)
	}
	if _, err := conn.Write(binary.AppendUvarint([]byte{byte(wire.MsgPong)}, 1<<30)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() string {
		if n := ty.srv.NumConnections(); n != 0 {
			return fmt.Sprintf("%d connections: an oversized pong did not drop its client", n)
		}
		return ""
	})
}
