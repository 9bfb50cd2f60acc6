// Package client is the Typha client used by Felix and confd in
// calico-node: it connects to one Typha replica, feeds the snapshot and the
// deltas that follow it to syncer callbacks exactly as a direct syncer
// would, and when the connection fails it moves to another replica and
// resyncs without disturbing its consumer. After a reconnect only what
// changed is passed on (keys whose revision or value differ, and deletes
// for keys the new snapshot no longer has), and once the consumer has been
// told InSync it is never told otherwise: its dataplane is not flushed.
package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/typha/wire"
)

// Config configures a Client.
type Config struct {
	// SyncerType is "felix" or "bgp".
	SyncerType string
	// Hostname is this node's name, sent in the hello.
	Hostname string
	// Info is free text for Typha's logs, e.g. the build.
	Info string
	// Addresses lists Typha's host:port addresses, most preferred first.
	// It is called before every connection attempt.
	Addresses func(ctx context.Context) ([]string, error)
	// TLS, when set, is the client side of mutual TLS.
	TLS *tls.Config

	// ReadTimeout: with no frame for this long the connection is treated
	// as dead. Typha pings every 10 s. Default 30 s.
	ReadTimeout time.Duration
	// DialTimeout bounds the connect plus handshake. Default 10 s.
	DialTimeout time.Duration
	// MaxBackoff bounds the wait between rounds of failed attempts.
	// Default 5 s.
	MaxBackoff time.Duration
	Log        *slog.Logger
}

// Client is a syncer whose upstream is Typha.
type Client struct {
	cfg Config
	cb  model.SyncerCallbacks

	// Consumer-side state, owned by Run's goroutine.
	known      map[model.Key]uint64
	status     model.SyncStatus // last status told to the consumer
	everSynced bool

	mu        sync.Mutex
	connected string
}

// New creates a client feeding cb. It starts nothing; call Run.
func New(cfg Config, cb model.SyncerCallbacks) *Client {
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, cb: cb, known: map[model.Key]uint64{}}
}

// Connected is the address of the Typha currently streaming to the client,
// or "" between connections.
func (c *Client) Connected() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

var hashSeed = maphash.MakeSeed()

func valueHash(e wire.Entry) uint64 {
	if !e.HasValue {
		return 0
	}
	return maphash.Bytes(hashSeed, e.Value) | 1
}

// Run streams from Typha until ctx ends, moving between replicas as they
// fail. It returns nil when ctx ends.
func (c *Client) Run(ctx context.Context) error {
	c.status = model.WaitForDatastore
	c.cb.OnStatusUpdated(model.WaitForDatastore)
	var last string // the replica that failed last: tried last next time
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		addrs, err := c.cfg.Addresses(ctx)
		if err != nil || len(addrs) == 0 {
			if err == nil {
				err = errors.New("no Typha endpoints are ready")
			}
			c.cfg.Log.Warn("cannot find Typha", "err", err)
		}
		if i := slices.Index(addrs, last); i >= 0 && len(addrs) > 1 {
			addrs = append(slices.Delete(slices.Clone(addrs), i, i+1), last)
		}
		streamed := false
		for _, addr := range addrs {
			if ctx.Err() != nil {
				return nil
			}
			nc, r, err := c.connect(ctx, addr)
			if err != nil {
				c.cfg.Log.Warn("cannot connect to Typha", "addr", addr, "err", err)
				last = addr
				continue
			}
			c.mu.Lock()
			c.connected = addr
			c.mu.Unlock()
			c.cfg.Log.Info("streaming from Typha", "addr", addr, "syncer", c.cfg.SyncerType)
			err = c.stream(ctx, nc, r)
			nc.Close()
			c.mu.Lock()
			c.connected = ""
			c.mu.Unlock()
			if ctx.Err() != nil {
				return nil
			}
			c.cfg.Log.Warn("lost Typha; reconnecting to another replica", "addr", addr, "err", err)
			last = addr
			streamed = true
			backoff = 100 * time.Millisecond
			break
		}
		if streamed {
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
	return nil
}

// Check connects to one replica, completes the handshake and disconnects:
// it reports whether this client would be accepted there.
func (c *Client) Check(ctx context.Context, addr string) error {
	nc, _, err := c.connect(ctx, addr)
	if err != nil {
		return err
	}
	return nc.Close()
}

// connect dials, says hello and reads the server's answer.
func (c *Client) connect(ctx context.Context, addr string) (net.Conn, *wire.Reader, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	deadline, _ := dctx.Deadline()
	_ = nc.SetDeadline(deadline)
	if c.cfg.TLS != nil {
		tc := tls.Client(nc, c.cfg.TLS)
		if err := tc.HandshakeContext(dctx); err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		nc = tc
	}
	hello, _ := json.Marshal(wire.Hello{Version: wire.ProtocolVersion, SyncerType: c.cfg.SyncerType, Hostname: c.cfg.Hostname, Info: c.cfg.Info})
	if _, err := nc.Write(wire.AppendFrame(nil, wire.MsgHello, hello)); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("sending hello: %w", err)
	}
	r := wire.NewReader(bufio.NewReaderSize(nc, 256<<10))
	t, p, err := r.Next()
	if err != nil {
		nc.Close()
		// A TLS alert from the server: it did not accept the certificate.
		if oe := (*net.OpError)(nil); errors.As(err, &oe) && oe.Op == "remote error" {
			return nil, nil, fmt.Errorf("Typha refused this client's certificate: %w", err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, errors.New("Typha closed the connection during the handshake")
		}
		return nil, nil, fmt.Errorf("reading server hello: %w", err)
	}
	switch t {
	case wire.MsgServerHello:
	case wire.MsgError:
		nc.Close()
		return nil, nil, fmt.Errorf("refused by Typha: %s", p)
	default:
		nc.Close()
		return nil, nil, fmt.Errorf("expected a server hello, got a %s frame", t)
	}
	var sh wire.ServerHello
	if err := json.Unmarshal(p, &sh); err != nil || sh.SyncerType != c.cfg.SyncerType {
		nc.Close()
		return nil, nil, fmt.Errorf("bad server hello %q", p)
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, r, nil
}

// resync tracks one connection's reconciliation with what the consumer
// already has.
type resync struct {
	seen map[model.Key]struct{} // keys the server has sent on this connection
	done bool                   // the server was InSync: unseen keys are gone
}

// stream consumes one connection until it fails.
func (c *Client) stream(ctx context.Context, nc net.Conn, r *wire.Reader) error {
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	rs := &resync{seen: map[model.Key]struct{}{}}
	for {
		_ = nc.SetReadDeadline(time.Now().Add(c.cfg.ReadTimeout))
		t, p, body, err := r.NextStreaming(wire.MsgSnapshot)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		switch t {
		case wire.MsgPing:
			_ = nc.SetWriteDeadline(time.Now().Add(c.cfg.ReadTimeout))
			if _, err := nc.Write(wire.AppendFrame(nil, wire.MsgPong, p)); err != nil {
				return fmt.Errorf("answering ping: %w", err)
			}
		case wire.MsgSnapshot:
			// However long the snapshot takes, each read has ReadTimeout.
			body = &deadlineReader{nc: nc, r: body, timeout: c.cfg.ReadTimeout}
			if err := c.snapshot(body, rs); err != nil {
				return err
			}
		case wire.MsgKVs:
			if err := c.kvs(p, rs); err != nil {
				return err
			}
		case wire.MsgStatus:
			if err := c.statusFrame(p, rs); err != nil {
				return err
			}
		case wire.MsgError:
			return fmt.Errorf("Typha: %s", p)
		default:
			return fmt.Errorf("unexpected %s frame", t)
		}
	}
}

func (c *Client) snapshot(body io.Reader, rs *resync) error {
	sr := wire.NewReader(s2.NewReader(body))
	for {
		t, q, err := sr.Next()
		if err == io.EOF {
			// Whatever follows the compressed stream in the frame.
			if _, err := io.Copy(io.Discard, body); err != nil {
				return fmt.Errorf("snapshot: %w", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: snapshot: %v", wire.ErrMalformed, err)
		}
		switch t {
		case wire.MsgKVs:
			err = c.kvs(q, rs)
		case wire.MsgStatus:
			err = c.statusFrame(q, rs)
		default:
			err = fmt.Errorf("%w: %s frame inside a snapshot", wire.ErrMalformed, t)
		}
		if err != nil {
			return err
		}
	}
}

// deadlineReader extends the connection's read deadline before each read.
type deadlineReader struct {
	nc      net.Conn
	r       io.Reader
	timeout time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.nc.SetReadDeadline(time.Now().Add(d.timeout))
	return d.r.Read(p)
}

// kvs passes on a batch of entries, minus what the consumer already has.
func (c *Client) kvs(p []byte, rs *resync) error {
	// The consumer owns what it is given (Felix queues it): a new slice
	// every time.
	var out []model.Update
	err := wire.Entries(p, func(e wire.Entry) error {
		if !rs.done {
			rs.seen[e.Key] = struct{}{}
		}
		if e.Type == model.UpdateTypeDeleted {
			if _, ok := c.known[e.Key]; !ok {
				return nil
			}
			delete(c.known, e.Key)
			out = append(out, model.Update{KVPair: model.KVPair{Key: e.Key, Revision: e.Revision}, UpdateType: model.UpdateTypeDeleted})
			return nil
		}
		// The value alone: replicas that saw the same content under
		// different revisions (one dropped a no-op the other never saw)
		// agree, so a move between them passes nothing on.
		h := valueHash(e)
		prev, ok := c.known[e.Key]
		if ok && prev == h {
			return nil
		}
		u, err := wire.DecodeUpdate(e)
		if errors.Is(err, wire.ErrUnknownKind) {
			c.cfg.Log.Debug("skipping an update of a kind this build does not know", "key", e.Key.String())
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", e.Key, err)
		}
		u.UpdateType = model.UpdateTypeNew
		if ok {
			u.UpdateType = model.UpdateTypeUpdated
		}
		c.known[e.Key] = h
		out = append(out, u)
		return nil
	})
	if err != nil {
		return err
	}
	if len(out) > 0 {
		c.cb.OnUpdates(out)
	}
	return nil
}

func (c *Client) statusFrame(p []byte, rs *resync) error {
	if len(p) != 1 {
		return fmt.Errorf("%w: status frame of %d bytes", wire.ErrMalformed, len(p))
	}
	s := model.SyncStatus(p[0])
	if s == model.InSync && !rs.done {
		// The server's state is complete: what this connection has not
		// mentioned is gone.
		rs.done = true
		var dels []model.Update
		for k := range c.known {
			if _, ok := rs.seen[k]; !ok {
				delete(c.known, k)
				dels = append(dels, model.Update{KVPair: model.KVPair{Key: k}, UpdateType: model.UpdateTypeDeleted})
			}
		}
		if len(dels) > 0 {
			c.cb.OnUpdates(dels)
		}
		rs.seen = nil
	}
	if c.everSynced && s != model.InSync {
		return nil // the consumer keeps its InSync view across replicas
	}
	if s == model.InSync {
		c.everSynced = true
	}
	if s != c.status {
		c.status = s
		c.cb.OnStatusUpdated(s)
	}
	return nil
}
