package nflog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/calicong/calico/internal/node/flowlogs/event"
)

// maxPrefixes bounds the interned prefixes (rule IDs are a bounded set;
// beyond this, prefixes are copied per report).
const maxPrefixes = 1 << 14

// parseBatch walks one datagram's netlink messages, delivering each
// report (until deliver returns false). With ack non-zero, it reports
// whether the kernel's answer to that request was among them, and the
// error the kernel answered with.
func (r *Reader) parseBatch(b []byte, at time.Time, ack uint32, deliver func(event.Verdict) bool) (acked bool, err error) {
	r.batches.Add(1)
	for len(b) >= nlmsgHdrLen {
		size := int(binary.NativeEndian.Uint32(b))
		if size < nlmsgHdrLen || size > len(b) {
			return acked, fmt.Errorf("malformed netlink message: length %d of %d bytes", size, len(b))
		}
		typ := binary.NativeEndian.Uint16(b[4:])
		seq := binary.NativeEndian.Uint32(b[8:])
		data := b[nlmsgHdrLen:size]
		b = b[min(align4(size), len(b)):]
		switch typ {
		case syscall.NLMSG_ERROR:
			if len(data) < 4 {
				return acked, errors.New("malformed netlink error message")
			}
			errno := -int32(binary.NativeEndian.Uint32(data))
			if ack != 0 && seq == ack {
				if errno != 0 {
					return false, syscall.Errno(errno)
				}
				acked = true
			} else if errno != 0 {
				r.log.Warn("nflog: kernel reported an error", "group", r.cfg.Group, "err", syscall.Errno(errno))
			}
		case subsysULOG<<8 | msgPacket:
			v, ok := r.parseReport(data, at)
			if !ok {
				continue
			}
			r.verdicts.Add(1)
			if !deliver(v) {
				return acked, nil
			}
		}
	}
	return acked, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// parseReport decodes one NFULNL_MSG_PACKET (after the netlink header).
func (r *Reader) parseReport(data []byte, at time.Time) (event.Verdict, bool) {
	if len(data) < nfgenHdrLen {
		r.parseError("short message", nil)
		return event.Verdict{}, false
	}
	var prefix, payload []byte
	var seq, mark uint32
	var hook uint8
	hasSeq := false
	for a := data[nfgenHdrLen:]; len(a) >= 4; {
		l := int(binary.NativeEndian.Uint16(a))
		t := binary.NativeEndian.Uint16(a[2:]) & 0x3fff // without NLA_F_NESTED, NLA_F_NET_BYTEORDER
		if l < 4 || l > len(a) {
			r.parseError("malformed attribute", nil)
			return event.Verdict{}, false
		}
		v := a[4:l]
		a = a[min(align4(l), len(a)):]
		switch t {
		case attrPrefix:
			for i, c := range v {
				if c == 0 {
					v = v[:i]
					break
				}
			}
			prefix = v
		case attrPayload:
			payload = v
		case attrPacketHdr:
			if len(v) >= 3 {
				hook = v[2]
			}
		case attrMark:
			if len(v) >= 4 {
				mark = binary.BigEndian.Uint32(v)
			}
		case attrSeq:
			if len(v) >= 4 {
				seq, hasSeq = binary.BigEndian.Uint32(v), true
			}
		}
	}
	if hasSeq {
		if gap := seq - r.nextSeq; gap != 0 && gap < 1<<31 {
			r.lost.Add(uint64(gap))
		}
		r.nextSeq = seq + 1
	}
	tuple, size, err := ParsePacket(payload)
	if err != nil {
		r.parseError("unparsable packet", err)
		return event.Verdict{}, false
	}
	return event.Verdict{Prefix: r.intern(prefix), Tuple: tuple, Bytes: size, Hook: hook, Mark: mark, At: at}, true
}

func (r *Reader) parseError(what string, err error) {
	r.parseErrors.Add(1)
	r.log.Warn("nflog: report skipped: "+what, "group", r.cfg.Group, "err", err)
}

// intern returns the prefix as a string, shared between reports.
func (r *Reader) intern(b []byte) string {
	if s, ok := r.prefixes[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.prefixes) < maxPrefixes {
		r.prefixes[s] = s
	}
	return s
}

// ParsePacket reads a packet's tuple and length from the start of its
// IPv4 or IPv6 header. The length is the header's (IPv4 total length,
// IPv6 payload length plus 40), so a truncated copy still gives the
// whole packet's. Ports are those of TCP, UDP, UDP-Lite and SCTP; they are
// 0 for other protocols, for fragments after the first, and when the copy
// ends before them. IPv6 extension headers are skipped to reach the
// transport protocol.
func ParsePacket(p []byte) (event.Tuple, int, error) {
	if len(p) < 1 {
		return event.Tuple{}, 0, errors.New("empty packet")
	}
	var (
		t       event.Tuple
		size    int
		l4      []byte
		noPorts bool
	)
	switch p[0] >> 4 {
	case 4:
		if len(p) < 20 {
			return event.Tuple{}, 0, fmt.Errorf("ipv4 header truncated to %d bytes", len(p))
		}
		ihl := int(p[0]&0x0f) * 4
		if ihl < 20 {
			return event.Tuple{}, 0, fmt.Errorf("ipv4 header length %d", ihl)
		}
		size = int(binary.BigEndian.Uint16(p[2:]))
		noPorts = binary.BigEndian.Uint16(p[6:])&0x1fff != 0
		t.Proto = p[9]
		t.Src = netip.AddrFrom4([4]byte(p[12:16]))
		t.Dst = netip.AddrFrom4([4]byte(p[16:20]))
		if ihl <= len(p) {
			l4 = p[ihl:]
		}
	case 6:
		if len(p) < 40 {
			return event.Tuple{}, 0, fmt.Errorf("ipv6 header truncated to %d bytes", len(p))
		}
		size = int(binary.BigEndian.Uint16(p[4:])) + 40
		t.Src = netip.AddrFrom16([16]byte(p[8:24]))
		t.Dst = netip.AddrFrom16([16]byte(p[24:40]))
		next, rest := p[6], p[40:]
	ext:
		for {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(rest) < 8 {
					rest = nil
					break ext
				}
				n := (int(rest[1]) + 1) * 8
				next, rest = rest[0], rest[min(n, len(rest)):]
			case 44: // fragment
				if len(rest) < 8 {
					rest = nil
					break ext
				}
				noPorts = noPorts || binary.BigEndian.Uint16(rest[2:])&^7 != 0
				next, rest = rest[0], rest[8:]
			case 51: // authentication header
				if len(rest) < 8 {
					rest = nil
					break ext
				}
				n := (int(rest[1]) + 2) * 4
				next, rest = rest[0], rest[min(n, len(rest)):]
			default:
				break ext
			}
		}
		t.Proto, l4 = next, rest
	default:
		return event.Tuple{}, 0, fmt.Errorf("ip version %d", p[0]>>4)
	}
	switch t.Proto {
	case event.ProtoTCP, event.ProtoUDP, event.ProtoSCTP, 136: // 136: UDP-Lite
		if !noPorts && len(l4) >= 4 {
			t.SrcPort = binary.BigEndian.Uint16(l4)
			t.DstPort = binary.BigEndian.Uint16(l4[2:])
		}
	}
	return t, size, nil
}
