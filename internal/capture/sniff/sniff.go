// Package sniff reads one interface's packets through an AF_PACKET
// socket whose kernel BPF filter drops what a capture does not want
// before it reaches userspace. The socket only copies packets: it never
// holds up the interface's traffic, and when its reader falls behind the
// kernel drops packets from the socket's buffer, not from the
// interface (Stats counts them).
package sniff

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/google/gopacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Socket is an interface's packet socket.
type Socket struct {
	fd    int
	iface int
}

// pollEvery is how often a blocked Read looks whether the socket was
// closed.
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
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
		return nil, fmt.Errorf("attaching the filter: %w", err)
	}
	tv := unix.NsecToTimeval(pollEvery.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, err
	}
	// A bigger buffer rides out bursts while the writer is busy.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return nil, fmt.Errorf("binding to %s: %w", iface, err)
	}
	ok = true
	return &Socket{fd: fd, iface: ifi.Index}, nil
}

// ErrClosed is Read's error once done is closed.
var ErrClosed = errors.New("the capture socket is closed")

// ErrIdle is Read's error when no packet came for a while (200 ms): a
// moment to flush what was written.
var ErrIdle = errors.New("no packet for a while")

// Read reads the next packet into buf: ErrClosed once done is closed,
// ErrIdle when none came for a while. ci's lengths tell whether the
// packet was cut short.
func (s *Socket) Read(buf []byte, done <-chan struct{}) (int, gopacket.CaptureInfo, error) {
	for {
		select {
		case <-done:
			return 0, gopacket.CaptureInfo{}, ErrClosed
		default:
		}
		// MSG_TRUNC: n is the packet's length even when buf is smaller.
		n, _, err := unix.Recvfrom(s.fd, buf, unix.MSG_TRUNC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return 0, gopacket.CaptureInfo{}, ErrIdle
		}
		if err != nil {
			return 0, gopacket.CaptureInfo{}, err
		}
		captured := min(n, len(buf))
		return captured, gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: captured, Length: n, InterfaceIndex: s.iface}, nil
	}
}

// Stats are the kernel's counts since the last call: packets the filter
// kept, and of those the ones dropped because the reader was behind.
func (s *Socket) Stats() (received, dropped uint32, err error) {
	st, err := unix.GetsockoptTpacketStats(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, 0, err
	}
	return st.Packets, st.Drops, nil
}

// Close closes the socket.
func (s *Socket) Close() error { return unix.Close(s.fd) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }
