// Package nflog reads the NFLOG reports (nfnetlink_log) of one group in a
// network namespace and translates them into flow-log verdicts
// (event.Verdict): the log statement's prefix, which is the rule ID the
// dataplane rendered (`log prefix "<rule ID>" group N`), the packet's
// tuple parsed from its IPv4/IPv6 and TCP/UDP/SCTP/ICMP headers, and its
// length.
//
// The kernel copies only the start of each packet (Config.CopyRange) and
// sends reports in batches (Config.QueueThreshold reports, or after
// Config.FlushTimeout; a verdict's At is when its batch was read, so at
// most that much after the packet). Netlink never holds the kernel back:
// when the reader falls behind and the socket's buffer is full, the
// kernel drops reports. The reader has them numbered (NFULNL_CFG_F_SEQ),
// so Stats.Lost is exactly how many never arrived.
package nflog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/calicong/calico/internal/node/flowlogs/event"
	"github.com/calicong/calico/internal/node/netnsname"
)

// Defaults for Config's zero values.
const (
	// DefaultCopyRange covers an IPv6 header with a few extension headers
	// and any L4 header's ports.
	DefaultCopyRange = 128
	// DefaultFlushTimeout bounds how long a report waits in the kernel
	// for its batch to fill.
	DefaultFlushTimeout = 10 * time.Millisecond
	// DefaultQueueThreshold is the batch size.
	DefaultQueueThreshold = 64
	// DefaultKernelBuffer is the kernel's batch buffer (nlbufsiz).
	DefaultKernelBuffer = 64 << 10
	// DefaultReadBuffer is the socket's receive buffer.
	DefaultReadBuffer = 8 << 20
	// maxKernelBuffer is the kernel's limit on nlbufsiz.
	maxKernelBuffer = 128 << 10
)

// nfnetlink_log's protocol (include/uapi/linux/netfilter/nfnetlink_log.h).
const (
	subsysULOG = 4 // NFNL_SUBSYS_ULOG
	msgPacket  = 0 // NFULNL_MSG_PACKET
	msgConfig  = 1 // NFULNL_MSG_CONFIG

	attrPacketHdr = 1  // NFULA_PACKET_HDR: hw_protocol, hook, pad
	attrMark      = 2  // NFULA_MARK
	attrPayload   = 9  // NFULA_PAYLOAD
	attrPrefix    = 10 // NFULA_PREFIX
	attrSeq       = 12 // NFULA_SEQ

	cfgCmd     = 1 // NFULA_CFG_CMD
	cfgMode    = 2 // NFULA_CFG_MODE
	cfgBufSize = 3 // NFULA_CFG_NLBUFSIZ
	cfgTimeout = 4 // NFULA_CFG_TIMEOUT (1/100 s)
	cfgQThresh = 5 // NFULA_CFG_QTHRESH
	cfgFlags   = 6 // NFULA_CFG_FLAGS

	cmdBind    = 1 // NFULNL_CFG_CMD_BIND
	copyPacket = 2 // NFULNL_COPY_PACKET
	flagSeq    = 1 // NFULNL_CFG_F_SEQ

	nlmsgHdrLen = 16
	nfgenHdrLen = 4
)

// Config says which group to read where, and how.
type Config struct {
	// Group is the NFLOG group (the log statements' `group N`).
	Group uint16
	// NetNS is the network namespace: a name under /var/run/netns, a path
	// (/proc/<pid>/ns/net), or "" for the process's own (calico-node: the
	// host's).
	NetNS string
	// CopyRange is how many bytes of each packet the kernel copies
	// (DefaultCopyRange if 0).
	CopyRange int
	// FlushTimeout is how long the kernel holds a partial batch
	// (DefaultFlushTimeout if 0; rounded up to its 10 ms unit).
	FlushTimeout time.Duration
	// QueueThreshold is how many reports the kernel batches into one
	// message (DefaultQueueThreshold if 0).
	QueueThreshold int
	// KernelBuffer is the kernel's batch buffer in bytes
	// (DefaultKernelBuffer if 0, at most 128 KiB).
	KernelBuffer int
	// ReadBuffer is the socket's receive buffer in bytes
	// (DefaultReadBuffer if 0; as root, net.core.rmem_max does not apply).
	ReadBuffer int
	// Log receives loss and parsing warnings (discarded if nil).
	Log *slog.Logger
	// Now gives the observation time (time.Now if nil).
	Now func() time.Time
}

// Stats counts what a Reader has seen.
type Stats struct {
	// Verdicts counts the reports delivered (or being delivered).
	Verdicts uint64
	// Batches counts the kernel's messages read (each holds up to
	// QueueThreshold reports).
	Batches uint64
	// Lost counts reports the kernel dropped (gaps in their sequence
	// numbers), Overflows the times it said so (ENOBUFS).
	Lost, Overflows uint64
	// ParseErrors counts reports that could not be parsed (skipped).
	ParseErrors uint64
}

// Reader reads one NFLOG group. It binds the group when it is opened, so
// no report made after Open returns is missed (reports wait in the socket
// until Run reads them).
type Reader struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	conn  *netlink.Conn
	raw   syscall.RawConn
	buf   []byte
	close func() error

	// pending holds reports read while Open waited for the kernel's
	// acknowledgement; Run delivers them first.
	pending []event.Verdict
	// nextSeq is the sequence number the next report should carry.
	nextSeq uint32
	// prefixes interns prefix strings (a node has a bounded set of rule
	// IDs), so a report costs no allocation for its prefix.
	prefixes map[string]string

	verdicts, batches, lost, overflows, parseErrors atomic.Uint64
	running, closed                                 atomic.Bool
}

// Open binds the group in the namespace, copying packets. It fails if
// another socket has the group (the kernel gives a group to one reader
// per namespace).
func Open(cfg Config) (*Reader, error) {
	if cfg.CopyRange <= 0 {
		cfg.CopyRange = DefaultCopyRange
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = DefaultFlushTimeout
	}
	if cfg.QueueThreshold <= 0 {
		cfg.QueueThreshold = DefaultQueueThreshold
	}
	if cfg.KernelBuffer <= 0 {
		cfg.KernelBuffer = DefaultKernelBuffer
	}
	cfg.KernelBuffer = min(cfg.KernelBuffer, maxKernelBuffer)
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	r := &Reader{cfg: cfg, log: cfg.Log, now: cfg.Now, prefixes: map[string]string{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	var nlcfg *netlink.Config
	if cfg.NetNS != "" {
		h, err := netnsname.Open(cfg.NetNS)
		if err != nil {
			return nil, err
		}
		defer h.Close()
		nlcfg = &netlink.Config{NetNS: int(h)}
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nlcfg)
	if err != nil {
		return nil, fmt.Errorf("open nflog socket: %w", err)
	}
	r.conn = c
	r.close = sync.OnceValue(func() error {
		r.closed.Store(true)
		return c.Close()
	})
	if err := r.setup(); err != nil {
		r.close()
		return nil, fmt.Errorf("nflog group %d: %w", cfg.Group, err)
	}
	return r, nil
}

// setup binds the group with its parameters in one request and waits
// for the kernel's answer; reports that arrive first are kept.
func (r *Reader) setup() error {
	if err := r.conn.SetReadBuffer(r.cfg.ReadBuffer); err != nil {
		return fmt.Errorf("set socket buffer to %d bytes: %w", r.cfg.ReadBuffer, err)
	}
	raw, err := r.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	r.raw = raw
	// A batch fits the kernel's buffer, except a single oversized
	// report; the copy range bounds those.
	r.buf = make([]byte, max(2*r.cfg.KernelBuffer, r.cfg.CopyRange+4096))

	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Uint8(cfgCmd, cmdBind)
	mode := make([]byte, 6) // struct nfulnl_msg_config_mode
	binary.BigEndian.PutUint32(mode, uint32(r.cfg.CopyRange))
	mode[4] = copyPacket
	ae.Bytes(cfgMode, mode)
	ae.Uint32(cfgBufSize, uint32(r.cfg.KernelBuffer))
	ae.Uint32(cfgTimeout, uint32((r.cfg.FlushTimeout+10*time.Millisecond-1)/(10*time.Millisecond)))
	ae.Uint32(cfgQThresh, uint32(r.cfg.QueueThreshold))
	ae.Uint16(cfgFlags, flagSeq)
	attrs, err := ae.Encode()
	if err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	data := make([]byte, nfgenHdrLen, nfgenHdrLen+len(attrs))
	data[0] = unix.AF_UNSPEC
	binary.BigEndian.PutUint16(data[2:], r.cfg.Group)
	req, err := r.conn.Send(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(subsysULOG<<8 | msgConfig),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: append(data, attrs...),
	})
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if err := r.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return fmt.Errorf("set read deadline: %w", err)
	}
	defer r.conn.SetReadDeadline(time.Time{})
	at := r.now()
	for {
		n, err := r.read()
		if err != nil {
			return fmt.Errorf("bind: %w", err)
		}
		acked, err := r.parseBatch(r.buf[:n], at, req.Header.Sequence, func(v event.Verdict) bool {
			r.pending = append(r.pending, v)
			return true
		})
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("bind: the group is taken by another socket: %w", err)
		}
		if err != nil {
			return fmt.Errorf("bind: %w", err)
		}
		if acked {
			return nil
		}
	}
}

// read receives one datagram (one batch) into r.buf.
func (r *Reader) read() (int, error) {
	var (
		n   int
		err error
	)
	rerr := r.raw.Read(func(fd uintptr) bool {
		for {
			n, _, err = unix.Recvfrom(int(fd), r.buf, unix.MSG_TRUNC)
			if err != unix.EINTR {
				return err != unix.EAGAIN
			}
		}
	})
	if rerr != nil {
		return 0, rerr
	}
	if err != nil {
		return 0, err
	}
	if n > len(r.buf) {
		return 0, fmt.Errorf("%w: %d bytes, buffer %d", errTruncated, n, len(r.buf))
	}
	return n, nil
}

// errTruncated says a batch did not fit the read buffer (it is lost).
var errTruncated = errors.New("message truncated")

// Close releases the group. A running Run returns.
func (r *Reader) Close() error {
	if err := r.close(); err != nil {
		return fmt.Errorf("close nflog socket: %w", err)
	}
	return nil
}

// Stats reports the Reader's counters (safe to call at any time).
func (r *Reader) Stats() Stats {
	return Stats{
		Verdicts:    r.verdicts.Load(),
		Batches:     r.batches.Load(),
		Lost:        r.lost.Load(),
		Overflows:   r.overflows.Load(),
		ParseErrors: r.parseErrors.Load(),
	}
}

// Run delivers the group's reports to out until ctx ends (it then closes
// the Reader and returns nil) or the socket fails. A full out holds the
// Reader back; reports then queue in the socket, and beyond its buffer
// are dropped by the kernel and counted. Run may be called once.
func (r *Reader) Run(ctx context.Context, out chan<- event.Verdict) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("nflog reader is already running")
	}
	stop := context.AfterFunc(ctx, func() { r.close() })
	defer stop()
	send := func(v event.Verdict) bool {
		select {
		case out <- v:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, v := range r.pending {
		if !send(v) {
			return nil
		}
	}
	r.pending = nil
	for {
		n, err := r.read()
		if err != nil {
			if ctx.Err() != nil || r.closed.Load() {
				return nil
			}
			if errors.Is(err, errTruncated) {
				r.parseError("batch", err)
				continue
			}
			if errors.Is(err, unix.ENOBUFS) {
				r.overflows.Add(1)
				r.log.Warn("nflog reports lost: socket buffer overflowed", "group", r.cfg.Group,
					"overflows", r.overflows.Load(), "lost", r.lost.Load())
				continue
			}
			return fmt.Errorf("nflog group %d: receive: %w", r.cfg.Group, err)
		}
		if _, err := r.parseBatch(r.buf[:n], r.now(), 0, send); err != nil {
			return fmt.Errorf("nflog group %d: %w", r.cfg.Group, err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}
