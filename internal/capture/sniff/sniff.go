// Package sniff reads one interface's packets through an AF_PACKET
// socket whose kernel BPF filter drops what a capture does not want
// before it reaches userspace. The socket only copies packets: it never
// holds up the interface's traffic, and when its reader falls behind the
// kernel drops packets from the socket's ring, not from the interface
// (Stats counts them).
//
// Packets arrive in a TPACKET_V3 ring shared with the kernel: it fills a
// block with packets and hands the block over when it is full or has
// waited retireAfter, so a busy capture costs its reader one wake-up
// per block rather than a system call and a wake-up per packet.
package sniff

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Socket is an interface's packet socket and its ring.
type Socket struct {
	fd    int
	iface int
	ring  []byte

	// cur is the block read now or next; while held, left of its
	// packets remain, the next at offset next.
	cur, left, next int
	held            bool
}

// The ring: blocks of 128 KiB (a packet, offloads included, fits in
// one), 16 of them: 2 MiB per captured interface, which rides out the
// bursts of a busy pod (make bench: BenchmarkCaptureOverhead). The
// kernel hands over a block that is not full after retireAfter.
const (
	blockSize   = 128 << 10
	blockCount  = 16
	frameSize   = 2048
	retireAfter = 50 // ms
)

// pollEvery is how often a waiting Read looks whether the socket was
// closed, and says ErrIdle.
const pollEvery = 200 * time.Millisecond

// Open opens a socket on the named interface (in the calling thread's
// network namespace) with the filter attached before any packet is
// received.
func Open(iface string, filter []bpf.Instruction) (*Socket, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(filter)
	if err != nil {
		return nil, fmt.Errorf("the filter: %w", err)
	}
	// Protocol 0: nothing is received until bind names a protocol, by
	// when the filter is attached.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("an AF_PACKET socket: %w", err)
	}
	s := &Socket{fd: fd, iface: ifi.Index}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
		return nil, fmt.Errorf("attaching the filter: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("TPACKET_V3: %w", err)
	}
	req := unix.TpacketReq3{Block_size: blockSize, Block_nr: blockCount, Frame_size: frameSize,
		Frame_nr: blockSize / frameSize * blockCount, Retire_blk_tov: retireAfter}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("the packet ring: %w", err)
	}
	s.ring, err = unix.Mmap(fd, 0, blockSize*blockCount, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping the packet ring: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return nil, fmt.Errorf("binding to %s: %w", iface, err)
	}
	ok = true
	return s, nil
}

// ErrClosed is Read's error once done is closed.
var ErrClosed = errors.New("the capture socket is closed")

// ErrIdle is Read's error when no packet came for a while (200 ms): a
// moment to flush what was written.
var ErrIdle = errors.New("no packet for a while")

// Offsets in the kernel's structures (linux/if_packet.h): a block's
// descriptor (tpacket_block_desc with tpacket_hdr_v1) and a packet's
// header (tpacket3_hdr).
const (
	blockStatus    = 8
	blockNumPkts   = 12
	blockFirstPkt  = 16
	pktNextOffset  = 0
	pktSec         = 4
	pktNsec        = 8
	pktSnapLen     = 12
	pktLen         = 16
	pktMac         = 24
	statusKernel   = 0
	statusUserMask = unix.TP_STATUS_USER
)

func (s *Socket) u32(off int) uint32 {
	return *(*uint32)(unsafe.Pointer(&s.ring[off]))
}

// blockReady reports whether the kernel handed block b over, with an
// acquire load, so its packets are seen whole.
func (s *Socket) blockReady(b int) bool {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&s.ring[b*blockSize+blockStatus])))&statusUserMask != 0
}

// release gives block b back to the kernel.
func (s *Socket) release(b int) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&s.ring[b*blockSize+blockStatus])), statusKernel)
}

// Next returns the next packet: ErrClosed once done is closed, ErrIdle
// when none came for a while. The packet is the ring's memory, not a
// copy: it is valid until the next call. ci's lengths tell whether the
// packet was cut short.
func (s *Socket) Next(done <-chan struct{}) ([]byte, gopacket.CaptureInfo, error) {
	for {
		if s.held && s.left > 0 {
			p := s.cur*blockSize + s.next
			snap, length := int(s.u32(p+pktSnapLen)), int(s.u32(p+pktLen))
			mac := int(*(*uint16)(unsafe.Pointer(&s.ring[p+pktMac])))
			ts := time.Unix(int64(s.u32(p+pktSec)), int64(s.u32(p+pktNsec)))
			s.left--
			s.next += int(s.u32(p + pktNextOffset))
			return s.ring[p+mac : p+mac+snap : p+mac+snap], gopacket.CaptureInfo{Timestamp: ts, CaptureLength: snap, Length: length, InterfaceIndex: s.iface}, nil
		}
		if s.held {
			// The block is read: back to the kernel, on to the next.
			s.release(s.cur)
			s.cur, s.held = (s.cur+1)%blockCount, false
		}
		select {
		case <-done:
			return nil, gopacket.CaptureInfo{}, ErrClosed
		default:
		}
		if !s.blockReady(s.cur) {
			fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR}}
			if _, err := unix.Poll(fds, int(pollEvery.Milliseconds())); err != nil && !errors.Is(err, unix.EINTR) {
				return nil, gopacket.CaptureInfo{}, err
			}
			if !s.blockReady(s.cur) {
				return nil, gopacket.CaptureInfo{}, ErrIdle
			}
		}
		b := s.cur * blockSize
		s.held, s.left, s.next = true, int(s.u32(b+blockNumPkts)), int(s.u32(b+blockFirstPkt))
	}
}

// Stats are the kernel's counts since the last call: packets the filter
// kept, and of those the ones dropped because the reader was behind.
func (s *Socket) Stats() (received, dropped uint32, err error) {
	st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, 0, err
	}
	return st.Packets, st.Drops, nil
}

// Close closes the socket and unmaps its ring.
func (s *Socket) Close() error {
	if s.ring != nil {
		_ = unix.Munmap(s.ring)
		s.ring = nil
	}
	return unix.Close(s.fd)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
