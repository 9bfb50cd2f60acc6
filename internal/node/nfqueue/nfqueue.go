// Package nfqueue holds packets that nftables queues to userspace
// (`queue num N`, nfnetlink_queue) until their reader gives each a
// verdict: accept, drop, or repeat (run the hook again). calico-node uses
// it to hold a DNS answer on its way to a workload until the addresses
// it carries are in the domain sets, so that the workload's first
// connection to them is allowed.
//
// A queue is bound with fail-open: when its kernel queue is full the
// kernel accepts packets instead of dropping them. Rules should use the
// `bypass` flag too, so that packets pass when no reader is bound (the
// dataplane's rules are there before calico-node reads the queue, and
// after it exits).
package nfqueue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/calicong/calico/internal/node/netnsname"
)

// nfnetlink_queue's protocol (include/uapi/linux/netfilter/nfnetlink_queue.h).
const (
	subsysQueue = 3 // NFNL_SUBSYS_QUEUE
	msgPacket   = 0 // NFQNL_MSG_PACKET
	msgVerdict  = 1 // NFQNL_MSG_VERDICT
	msgConfig   = 2 // NFQNL_MSG_CONFIG

	attrPacketHdr  = 1  // NFQA_PACKET_HDR: be32 id, be16 hw_protocol, u8 hook
	attrVerdictHdr = 2  // NFQA_VERDICT_HDR: be32 verdict, be32 id
	attrMark       = 3  // NFQA_MARK
	attrPayload    = 10 // NFQA_PAYLOAD
	attrCT         = 11 // NFQA_CT: the packet's conntrack entry (nested CTA_*)

	ctaTupleReply = 2 // CTA_TUPLE_REPLY
	ctaTupleIP    = 1 // CTA_TUPLE_IP
	ctaIPv4Src    = 1 // CTA_IP_V4_SRC
	ctaIPv6Src    = 3 // CTA_IP_V6_SRC

	cfgCmd        = 1 // NFQA_CFG_CMD: u8 command, u8 pad, be16 pf
	cfgParams     = 2 // NFQA_CFG_PARAMS: be32 copy_range, u8 copy_mode
	cfgMaxLen     = 3 // NFQA_CFG_QUEUE_MAXLEN
	cfgMask       = 4 // NFQA_CFG_MASK
	cfgFlags      = 5 // NFQA_CFG_FLAGS
	cmdBind       = 1 // NFQNL_CFG_CMD_BIND
	copyPacket    = 2 // NFQNL_COPY_PACKET
	flagFailOpen  = 1 // NFQA_CFG_F_FAIL_OPEN
	flagConntrack = 2 // NFQA_CFG_F_CONNTRACK

	nfgenHdrLen = 4
)

// Verdict is what happens to a held packet.
type Verdict uint32

// The verdicts (NF_DROP, NF_ACCEPT, NF_REPEAT).
const (
	Drop   Verdict = 0
	Accept Verdict = 1
	Repeat Verdict = 4
)

// Packet is one held packet.
type Packet struct {
	ID uint32
	// Payload is the packet from its network header (up to the copy
	// range).
	Payload []byte
	// Mark is the packet's mark when it was queued.
	Mark uint32
	// ReplySrc is the source of its connection's reply direction, from
	// conntrack: for a reply, the address that really sent it, before
	// NAT rewrote it (a Service's pod rather than its ClusterIP). Invalid
	// when the kernel gave no conntrack entry.
	ReplySrc netip.Addr
	// At is when the reader received it.
	At time.Time
}

// Config says which queue to read where.
type Config struct {
	// Num is the queue number (the rules' `queue num N`).
	Num uint16
	// NetNS is a network namespace name under /var/run/netns, a path, or
	// "" for the process's own.
	NetNS string
	// CopyRange is how many bytes of each packet are copied (default
	// 65535: a whole DNS answer).
	CopyRange uint32
	// MaxLen is how many packets the kernel holds for the reader (default
	// 1024); beyond it, fail-open accepts them unread.
	MaxLen uint32
}

// Queue is one bound queue.
type Queue struct {
	cfg  Config
	conn *netlink.Conn
	mu   sync.Mutex // serialises verdicts
	once sync.Once
	// pending were read while bind waited for the kernel's answer.
	pending []Packet
}

// Open binds the queue. It fails if another socket has bound it.
func Open(cfg Config) (*Queue, error) {
	if cfg.CopyRange == 0 {
		cfg.CopyRange = 0xffff
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = 1024
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
		return nil, fmt.Errorf("open nfqueue socket: %w", err)
	}
	q := &Queue{cfg: cfg, conn: c}
	if err := q.bind(); err != nil {
		c.Close()
		return nil, fmt.Errorf("nfqueue %d: %w", cfg.Num, err)
	}
	return q, nil
}

func (q *Queue) bind() error {
	_ = q.conn.SetReadBuffer(4 << 20)
	// Any error is reported by the acknowledgement.
	_ = q.conn.SetOption(netlink.NoENOBUFS, true)
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, q.cfg.CopyRange)
	params[4] = copyPacket
	err := q.configure(func(ae *netlink.AttributeEncoder) {
		ae.Bytes(cfgCmd, []byte{cmdBind, 0, 0, 0})
		ae.Bytes(cfgParams, params)
		ae.Uint32(cfgMaxLen, q.cfg.MaxLen)
		ae.Uint32(cfgMask, flagFailOpen)
		ae.Uint32(cfgFlags, flagFailOpen)
	})
	if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EPERM) {
		return fmt.Errorf("bind: the queue is taken by another socket: %w", err)
	}
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	// Conntrack entries with the packets, where the kernel can give them
	// (CONFIG_NETFILTER_NETLINK_GLUE_CT); without, ReplySrc stays unset.
	err = q.configure(func(ae *netlink.AttributeEncoder) {
		ae.Uint32(cfgMask, flagConntrack)
		ae.Uint32(cfgFlags, flagConntrack)
	})
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("asking for conntrack entries: %w", err)
	}
	return nil
}

// configure sends one configuration message and waits for its
// acknowledgement. Packets queued meanwhile are kept for Run.
func (q *Queue) configure(attrs func(*netlink.AttributeEncoder)) error {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	attrs(ae)
	data, err := ae.Encode()
	if err != nil {
		return err
	}
	req, err := q.conn.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysQueue<<8 | msgConfig), Flags: netlink.Request | netlink.Acknowledge},
		Data:   append(q.nfgen(), data...),
	})
	if err != nil {
		return err
	}
	if err := q.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	defer q.conn.SetReadDeadline(time.Time{})
	for {
		msgs, err := q.conn.Receive()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type == netlink.Error && m.Header.Sequence == req.Header.Sequence {
				return nil // an error would have come back from Receive
			}
			if p, ok := packetOf(m); ok {
				q.pending = append(q.pending, p)
			}
		}
	}
}

// packetOf decodes a queued packet's message.
func packetOf(m netlink.Message) (Packet, bool) {
	if m.Header.Type != netlink.HeaderType(subsysQueue<<8|msgPacket) || len(m.Data) < nfgenHdrLen {
		return Packet{}, false
	}
	p, ok := parse(m.Data[nfgenHdrLen:])
	p.At = time.Now()
	return p, ok
}

func (q *Queue) nfgen() []byte {
	h := make([]byte, nfgenHdrLen)
	h[0] = unix.AF_UNSPEC
	binary.BigEndian.PutUint16(h[2:], q.cfg.Num)
	return h
}

// Close unbinds the queue (the kernel accepts what it still held, as
// with no reader) and ends Run.
func (q *Queue) Close() error {
	var err error
	q.once.Do(func() { err = q.conn.Close() })
	return err
}

// Run hands each queued packet to handle until ctx ends (it then closes
// the queue and returns nil) or the socket fails. handle must not block:
// it gives its verdict with SetVerdict, now or later, from any goroutine.
func (q *Queue) Run(ctx context.Context, handle func(Packet)) error {
	stop := context.AfterFunc(ctx, func() { q.Close() })
	defer stop()
	for _, p := range q.pending {
		handle(p)
	}
	q.pending = nil
	for {
		msgs, err := q.conn.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, unix.ENOBUFS) {
				continue // fail-open let the overflow through
			}
			return fmt.Errorf("nfqueue %d: %w", q.cfg.Num, err)
		}
		for _, m := range msgs {
			if p, ok := packetOf(m); ok {
				handle(p)
			}
		}
	}
}

func parse(b []byte) (Packet, bool) {
	var p Packet
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return p, false
	}
	ad.ByteOrder = binary.BigEndian
	var hdr bool
	for ad.Next() {
		switch ad.Type() {
		case attrPacketHdr:
			if d := ad.Bytes(); len(d) >= 4 {
				p.ID = binary.BigEndian.Uint32(d)
				hdr = true
			}
		case attrMark:
			p.Mark = ad.Uint32()
		case attrPayload:
			p.Payload = ad.Bytes()
		case attrCT:
			p.ReplySrc = replySource(ad.Bytes())
		}
	}
	return p, ad.Err() == nil && hdr
}

// replySource finds CTA_TUPLE_REPLY / CTA_TUPLE_IP / CTA_IP_V*_SRC in a
// conntrack entry's attributes.
func replySource(b []byte) netip.Addr {
	var out netip.Addr
	walk := func(b []byte, want uint16, f func([]byte)) {
		ad, err := netlink.NewAttributeDecoder(b)
		if err != nil {
			return
		}
		for ad.Next() {
			if ad.Type() == want {
				f(ad.Bytes())
			}
		}
	}
	walk(b, ctaTupleReply, func(t []byte) {
		walk(t, ctaTupleIP, func(ip []byte) {
			ad, err := netlink.NewAttributeDecoder(ip)
			if err != nil {
				return
			}
			for ad.Next() {
				if ad.Type() == ctaIPv4Src || ad.Type() == ctaIPv6Src {
					if a, ok := netip.AddrFromSlice(ad.Bytes()); ok {
						out = a.Unmap()
					}
				}
			}
		})
	})
	return out
}

// SetVerdict releases one held packet.
func (q *Queue) SetVerdict(id uint32, v Verdict) error {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	vh := make([]byte, 8)
	binary.BigEndian.PutUint32(vh, uint32(v))
	binary.BigEndian.PutUint32(vh[4:], id)
	ae.Bytes(attrVerdictHdr, vh)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	_, err = q.conn.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysQueue<<8 | msgVerdict), Flags: netlink.Request},
		Data:   append(q.nfgen(), attrs...),
	})
	return err
}
