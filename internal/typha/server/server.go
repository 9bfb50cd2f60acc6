// Package server is calico-typha's sync server: it accepts clients (over
// TLS when configured), checks their hello, sends each the shared snapshot
// of its syncer type and then follows the cache's breadcrumbs for it on the
// client's own goroutine. Clients that stall or fall too far behind are
// disconnected; above the connection limit, connections are shed one at a
// time so clients rebalance across replicas.
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/calicong/calico/internal/typha/snapcache"
	"github.com/calicong/calico/internal/typha/wire"
)

// Config configures a Server. Zero durations take the defaults shown.
type Config struct {
	// Caches holds one cache per syncer type ("felix", "bgp").
	Caches map[string]*snapcache.Cache
	// TLS, when set, is the server side of mutual TLS.
	TLS *tls.Config
	// MaxConns is the current connection limit; nil means none.
	MaxConns func() int
	// Name identifies this Typha in the server hello.
	Name string

	HandshakeTimeout time.Duration // 10 s
	WriteTimeout     time.Duration // 120 s
	PingInterval     time.Duration // 10 s
	PongTimeout      time.Duration // 60 s
	// MaxFallBehind: a client whose next undelivered update is older is
	// disconnected to resync. 300 s.
	MaxFallBehind time.Duration
	// DropInterval paces shedding above the limit. 1 s.
	DropInterval time.Duration
	// ShutdownTimeout spreads the shedding of all connections at shutdown.
	// 0 closes them at once.
	ShutdownTimeout time.Duration

	Metrics *Metrics
	Log     *slog.Logger
}

// Server serves clients from the caches.
type Server struct {
	cfg Config

	mu    sync.Mutex
	conns map[*conn]struct{}
	wg    sync.WaitGroup
}

// New creates a server.
func New(cfg Config) *Server {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.HandshakeTimeout, 10*time.Second)
	def(&cfg.WriteTimeout, 120*time.Second)
	def(&cfg.PingInterval, 10*time.Second)
	def(&cfg.PongTimeout, 60*time.Second)
	def(&cfg.MaxFallBehind, 300*time.Second)
	def(&cfg.DropInterval, time.Second)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = newUnregisteredMetrics()
	}
	return &Server{cfg: cfg, conns: map[*conn]struct{}{}}
}

// NumConnections is the number of clients past the handshake.
func (s *Server) NumConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Serve accepts on ln until ctx ends, then sheds every connection (spread
// over ShutdownTimeout) and returns once all are closed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	connCtx, stopConns := context.WithCancel(context.Background())
	defer stopConns()
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	go s.rebalance(ctx)

	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			break
		}
		s.cfg.Metrics.accepted.Inc()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(connCtx, c)
		}()
	}
	if ctx.Err() != nil {
		err = nil
	}
	s.shedAll()
	stopConns()
	s.wg.Wait()
	return err
}

// rebalance drops one connection per DropInterval while above the limit.
func (s *Server) rebalance(ctx context.Context) {
	if s.cfg.MaxConns == nil {
		return
	}
	t := time.NewTicker(s.cfg.DropInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		limit := s.cfg.MaxConns()
		s.mu.Lock()
		n := len(s.conns)
		var victim *conn
		if n > limit {
			// A random one: the oldest are no more deserving.
			i := rand.IntN(n)
			for c := range s.conns {
				if i == 0 {
					victim = c
					break
				}
				i--
			}
		}
		s.mu.Unlock()
		if victim != nil {
			s.cfg.Log.Info("too many connections; dropping one so clients rebalance",
				"current", n, "max", limit, "client", victim.name())
			victim.drop("rebalance", fmt.Sprintf("this Typha has %d connections, above its limit of %d; reconnect to another", n, limit))
		}
	}
}

func (s *Server) shedAll() {
	s.mu.Lock()
	all := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	if len(all) == 0 {
		return
	}
	var gap time.Duration
	if s.cfg.ShutdownTimeout > 0 {
		gap = min(s.cfg.DropInterval, s.cfg.ShutdownTimeout/time.Duration(len(all)))
	}
	s.cfg.Log.Info("shutting down: shedding connections", "connections", len(all), "interval", gap)
	for i, c := range all {
		if i > 0 && gap > 0 {
			time.Sleep(gap) // pacing, not synchronisation
		}
		c.drop("shutdown", "this Typha is shutting down; reconnect to another")
	}
}

// conn is one client connection.
type conn struct {
	s        *Server
	nc       net.Conn
	hello    wire.Hello
	lastPong atomic.Int64 // unix nanos
	dropped  chan struct{}
	dropOnce sync.Once
	dropMsg  atomic.Pointer[string]
}

func (c *conn) name() string {
	return fmt.Sprintf("%s(%s/%s)", c.hello.Hostname, c.hello.SyncerType, c.nc.RemoteAddr())
}

// drop asks the connection's writer to send msg as an error and close.
func (c *conn) drop(reason, msg string) {
	c.dropOnce.Do(func() {
		c.s.cfg.Metrics.dropped.WithLabelValues(reason).Inc()
		c.dropMsg.Store(&msg)
		close(c.dropped)
	})
}

func (s *Server) handle(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	log := s.cfg.Log.With("remote", nc.RemoteAddr().String())
	_ = nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if s.cfg.TLS != nil {
		tc := tls.Server(nc, s.cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			s.cfg.Metrics.dropped.WithLabelValues("tls").Inc()
			log.Warn("client refused: TLS handshake failed", "err", err)
			return
		}
		nc = tc
	}
	r := wire.NewReader(bufio.NewReaderSize(nc, 16<<10))
	w := bufio.NewWriterSize(nc, 64<<10)
	refuse := func(reason, msg string) {
		s.cfg.Metrics.dropped.WithLabelValues(reason).Inc()
		log.Warn("client refused", "reason", msg)
		_, _ = w.Write(wire.AppendFrame(nil, wire.MsgError, []byte(msg)))
		_ = w.Flush()
	}
	// Nothing is known of the client yet: its hello may be small only.
	t, p, err := r.NextMax(wire.MaxControlFrame)
	if errors.Is(err, wire.ErrFrameTooLarge) {
		refuse("handshake", err.Error())
		return
	}
	if err != nil {
		s.cfg.Metrics.dropped.WithLabelValues("handshake").Inc()
		log.Warn("client refused: no hello", "err", err)
		return
	}
	c := &conn{s: s, nc: nc, dropped: make(chan struct{})}
	if t != wire.MsgHello {
		refuse("handshake", fmt.Sprintf("expected a hello, got a %s frame", t))
		return
	}
	if err := json.Unmarshal(p, &c.hello); err != nil {
		refuse("handshake", fmt.Sprintf("malformed hello: %v", err))
		return
	}
	log = log.With("client", c.hello.Hostname, "syncer", c.hello.SyncerType)
	if c.hello.Version != wire.ProtocolVersion {
		refuse("handshake", fmt.Sprintf("protocol version %d is not supported; this Typha speaks %d", c.hello.Version, wire.ProtocolVersion))
		return
	}
	cache, ok := s.cfg.Caches[c.hello.SyncerType]
	if !ok {
		refuse("handshake", fmt.Sprintf("unknown syncer type %q", c.hello.SyncerType))
		return
	}
	s.mu.Lock()
	n := len(s.conns)
	if s.cfg.MaxConns != nil && n >= s.cfg.MaxConns() {
		s.mu.Unlock()
		refuse("limit", fmt.Sprintf("too many connections: this Typha has %d, its limit; connect to another", n))
		return
	}
	s.conns[c] = struct{}{}
	s.cfg.Metrics.active.Set(float64(n + 1))
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.cfg.Metrics.active.Set(float64(len(s.conns)))
		s.mu.Unlock()
	}()
	sh, _ := json.Marshal(wire.ServerHello{Version: wire.ProtocolVersion, SyncerType: c.hello.SyncerType, Server: s.cfg.Name})
	if _, err := w.Write(wire.AppendFrame(nil, wire.MsgServerHello, sh)); err != nil {
		return
	}
	_ = nc.SetDeadline(time.Time{})
	log.Info("client connected", "info", c.hello.Info)

	c.lastPong.Store(time.Now().UnixNano())
	readDone := make(chan error, 1)
	go func() { readDone <- c.read(r) }()
	err = c.write(ctx, w, cache)
	_ = nc.Close()
	rerr := <-readDone
	switch {
	case err != nil:
		log.Info("client disconnected", "err", err)
	case rerr != nil && !errors.Is(rerr, net.ErrClosed):
		log.Info("client disconnected", "err", rerr)
	default:
		log.Info("client disconnected")
	}
}

// read handles the client's pongs until the connection closes.
func (c *conn) read(r *wire.Reader) error {
	for {
		t, p, err := r.NextMax(wire.MaxControlFrame)
		if errors.Is(err, wire.ErrFrameTooLarge) {
			c.drop("protocol", err.Error())
			return err
		}
		if err != nil {
			c.drop("read", "")
			if err == io.EOF {
				return errors.New("client closed the connection")
			}
			return err
		}
		if t != wire.MsgPong || len(p) != 8 {
			c.drop("protocol", fmt.Sprintf("unexpected %s frame", t))
			return fmt.Errorf("unexpected %s frame from client", t)
		}
		now := time.Now()
		c.lastPong.Store(now.UnixNano())
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(p)))
		c.s.cfg.Metrics.pingLatency.Observe(now.Sub(sent).Seconds())
	}
}

// write sends the snapshot, then every crumb after it, until the
// connection is dropped or fails.
func (c *conn) write(ctx context.Context, w *bufio.Writer, cache *snapcache.Cache) error {
	cfg := &c.s.cfg
	flush := func() error {
		_ = c.nc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		return w.Flush()
	}
	start := time.Now()
	snap, err := cache.Snapshot()
	if err != nil {
		return fmt.Errorf("building snapshot: %w", err)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
	if _, err := w.Write(snap.Frame); err != nil {
		return fmt.Errorf("sending snapshot: %w", err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("sending snapshot: %w", err)
	}
	cfg.Metrics.snapshotSend.Observe(time.Since(start).Seconds())
	crumb := snap.Crumb
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	for {
		next := crumb.TryNext()
		if next == nil {
			if w.Buffered() > 0 {
				if err := flush(); err != nil {
					return err
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-c.dropped:
				return c.sayDropped(w, flush)
			case <-ping.C:
				if time.Since(time.Unix(0, c.lastPong.Load())) > cfg.PongTimeout {
					c.drop("pong-timeout", "")
					return fmt.Errorf("no pong for %s", cfg.PongTimeout)
				}
				var b [8]byte
				binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
				if _, err := w.Write(wire.AppendFrame(nil, wire.MsgPing, b[:])); err != nil {
					return err
				}
			case <-crumb.Ready():
			}
			continue
		}
		select {
		case <-c.dropped:
			return c.sayDropped(w, flush)
		default:
		}
		if lag := time.Since(next.Time); lag > cfg.MaxFallBehind {
			c.drop("fell-behind", fmt.Sprintf("the client fell %s behind; reconnect and resync", lag.Round(time.Second)))
			return c.sayDropped(w, flush)
		}
		if next.KVs > 0 {
			cfg.Metrics.clientLatency.Observe(time.Since(next.Time).Seconds())
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		if _, err := w.Write(next.Frames); err != nil {
			return err
		}
		crumb = next
	}
}

// sayDropped sends the drop's message, if it has one, and returns it as
// the connection's end.
func (c *conn) sayDropped(w *bufio.Writer, flush func() error) error {
	m := c.dropMsg.Load()
	if m == nil || *m == "" {
		return nil
	}
	_, _ = w.Write(wire.AppendFrame(nil, wire.MsgError, []byte(*m)))
	_ = flush()
	return errors.New(*m)
}
