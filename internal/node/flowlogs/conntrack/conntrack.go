// Package conntrack reads the kernel's connection tracking table of one
// network namespace and translates it into flow-log observations
// (event.Conn): ConnStarted when conntrack confirms a connection,
// ConnEnded with the final counters when it forgets one, and, on request,
// ConnCounters readings of every live connection (Dump), which the
// collector takes once per flush interval.
//
// Counters need accounting (net.netfilter.nf_conntrack_acct=1, see
// EnableAccounting); calico-node sets it in the host's namespace before it
// opens a Reader. The kernel decides when it creates an entry whether the
// entry has counters and whether it will report its end (with the default
// net.netfilter.nf_conntrack_events=2, only if someone listens then), so
// connections older than the Reader may show zero counters and end
// silently: they simply disappear from the next Dump.
//
// Events are multicast netlink messages: when the consumer falls behind
// and the socket's buffer fills, the kernel drops them and says so once
// (ENOBUFS). The Reader logs that, counts it (Stats.Overflows) and goes
// on; the next Dump gives the live connections' counters again, so what
// is lost is only the Started/Ended timing of the dropped events.
package conntrack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/calicong/calico/internal/node/flowlogs/event"
	"github.com/calicong/calico/internal/node/netnsname"
)

// DefaultReadBuffer is the event socket's receive buffer unless
// Config.ReadBuffer says otherwise: room for tens of thousands of events
// while the consumer is busy.
const DefaultReadBuffer = 8 << 20

// Config says where and how to read conntrack.
type Config struct {
	// NetNS is the network namespace: a name under /var/run/netns, a path
	// (/proc/<pid>/ns/net), or "" for the process's own (calico-node: the
	// host's).
	NetNS string
	// ReadBuffer is the event socket's receive buffer in bytes
	// (DefaultReadBuffer if 0). As root the system's limit
	// (net.core.rmem_max) does not apply.
	ReadBuffer int
	// Log receives overflow and decoding warnings (discarded if nil).
	Log *slog.Logger
	// Now gives the observation time (time.Now if nil).
	Now func() time.Time
}

// Stats counts what a Reader has seen.
type Stats struct {
	// Started and Ended count the events received.
	Started, Ended uint64
	// Overflows counts the times the kernel reported (ENOBUFS) that it
	// dropped events because the socket's buffer was full. Each overflow
	// lost at least one event; how many is not known to userspace.
	Overflows uint64
	// DecodeErrors counts messages that could not be decoded (skipped).
	DecodeErrors uint64
}

// Reader reads one namespace's conntrack. It subscribes to events when it
// is created, so nothing that happens after New returns is missed (the
// events wait in the socket until Run reads them).
type Reader struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	// ns is the namespace's handle; -1 for the process's own.
	ns     netns.NsHandle
	events *netfilter.Conn

	started, ended, overflows, decodeErrors atomic.Uint64

	// mu guards ns against Close while Dump dials with it.
	mu      sync.RWMutex
	closed  bool
	running atomic.Bool
	// unsubscribe closes events, once.
	unsubscribe func() error
}

// New opens the namespace and subscribes to its conntrack NEW and DESTROY
// events. Close releases both.
func New(cfg Config) (*Reader, error) {
	r := &Reader{cfg: cfg, log: cfg.Log, now: cfg.Now, ns: -1}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if cfg.NetNS != "" {
		h, err := netnsname.Open(cfg.NetNS)
		if err != nil {
			return nil, err
		}
		r.ns = h
	}
	c, err := netfilter.Dial(r.netlinkConfig())
	if err != nil {
		r.closeNS()
		return nil, fmt.Errorf("open conntrack event socket: %w", err)
	}
	size := cfg.ReadBuffer
	if size <= 0 {
		size = DefaultReadBuffer
	}
	if err := c.SetReadBuffer(size); err != nil {
		c.Close()
		r.closeNS()
		return nil, fmt.Errorf("set conntrack event buffer to %d bytes: %w", size, err)
	}
	if err := c.JoinGroups([]netfilter.NetlinkGroup{netfilter.GroupCTNew, netfilter.GroupCTDestroy}); err != nil {
		c.Close()
		r.closeNS()
		return nil, fmt.Errorf("subscribe to conntrack events: %w", err)
	}
	r.events = c
	r.unsubscribe = sync.OnceValue(c.Close)
	return r, nil
}

func (r *Reader) netlinkConfig() *netlink.Config {
	if r.ns < 0 {
		return nil
	}
	return &netlink.Config{NetNS: int(r.ns)}
}

func (r *Reader) closeNS() {
	if r.ns >= 0 {
		r.ns.Close()
		r.ns = -1
	}
}

// Close unsubscribes (a running Run returns) and releases the
// namespace; Dump fails afterwards.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.unsubscribe()
	r.closeNS()
	if err != nil {
		return fmt.Errorf("close conntrack event socket: %w", err)
	}
	return nil
}

// Stats reports the Reader's counters (safe to call at any time).
func (r *Reader) Stats() Stats {
	return Stats{
		Started:      r.started.Load(),
		Ended:        r.ended.Load(),
		Overflows:    r.overflows.Load(),
		DecodeErrors: r.decodeErrors.Load(),
	}
}

// Run delivers ConnStarted and ConnEnded observations to out, in the
// kernel's order, until ctx ends (it then unsubscribes and returns nil;
// Dump still works until Close) or the socket fails. A full out holds the Reader back; events then
// queue in the socket, and beyond its buffer are dropped and counted. Run
// may be called once.
func (r *Reader) Run(ctx context.Context, out chan<- event.Conn) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("conntrack reader is already running")
	}
	stop := context.AfterFunc(ctx, func() { r.unsubscribe() })
	defer stop()
	for {
		msgs, err := r.events.Receive()
		if err != nil {
			if ctx.Err() != nil || closedSocket(err) {
				return nil
			}
			if errors.Is(err, unix.ENOBUFS) {
				r.overflows.Add(1)
				r.log.Warn("conntrack events lost: socket buffer overflowed (the next dump corrects counters)",
					"overflows", r.overflows.Load())
				continue
			}
			return fmt.Errorf("receive conntrack events: %w", err)
		}
		for _, m := range msgs {
			var ev ct.Event
			if err := ev.Unmarshal(m); err != nil {
				r.decodeErrors.Add(1)
				r.log.Warn("undecodable conntrack event skipped", "err", err)
				continue
			}
			var kind event.ConnKind
			switch ev.Type {
			case ct.EventNew:
				kind = event.ConnStarted
				r.started.Add(1)
			case ct.EventDestroy:
				kind = event.ConnEnded
				r.ended.Add(1)
			default:
				continue
			}
			if ev.Flow == nil {
				continue
			}
			select {
			case out <- convert(kind, ev.Flow, r.now()):
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// closedSocket reports whether err says the socket was closed under a
// blocked read (Close, or Run's context ending).
func closedSocket(err error) bool {
	if errors.Is(err, unix.EBADF) {
		return true
	}
	var op *netlink.OpError
	return errors.As(err, &op) && op.Err != nil && op.Err.Error() == "use of closed file"
}

// Dump reads every live entry of the table as a ConnCounters observation,
// IPv4 and IPv6. Reading the table also makes the kernel evict entries
// that have expired but not yet been collected, so their ConnEnded
// events follow promptly. ctx bounds the read.
func (r *Reader) Dump(ctx context.Context) ([]event.Conn, error) {
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return nil, errors.New("dump conntrack: reader is closed")
	}
	c, err := ct.Dial(r.netlinkConfig())
	r.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("open conntrack socket: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer func() {
		if stop() {
			c.Close()
		}
	}()
	flows, err := c.Dump(nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dump conntrack: %w", ctx.Err())
		}
		return nil, fmt.Errorf("dump conntrack: %w", err)
	}
	at := r.now()
	out := make([]event.Conn, 0, len(flows))
	for i := range flows {
		out = append(out, convert(event.ConnCounters, &flows[i], at))
	}
	return out, nil
}

// convert maps a conntrack flow to an observation.
func convert(kind event.ConnKind, f *ct.Flow, at time.Time) event.Conn {
	return event.Conn{
		Kind:         kind,
		ID:           f.ID,
		Orig:         tuple(f.TupleOrig),
		Reply:        tuple(f.TupleReply),
		OrigPackets:  f.CountersOrig.Packets,
		OrigBytes:    f.CountersOrig.Bytes,
		ReplyPackets: f.CountersReply.Packets,
		ReplyBytes:   f.CountersReply.Bytes,
		At:           at,
	}
}

// tuple maps one direction; ICMP's identifier, type and code are not
// kept (ports 0).
func tuple(t ct.Tuple) event.Tuple {
	out := event.Tuple{
		Proto: t.Proto.Protocol,
		Src:   unmap(t.IP.SourceAddress),
		Dst:   unmap(t.IP.DestinationAddress),
	}
	switch out.Proto {
	case event.ProtoICMP, event.ProtoICMPv6:
	default:
		out.SrcPort, out.DstPort = t.Proto.SourcePort, t.Proto.DestinationPort
	}
	return out
}

// unmap gives IPv4 addresses in their 4-byte form.
func unmap(a netip.Addr) netip.Addr {
	if a.Is4In6() {
		return a.Unmap()
	}
	return a
}
