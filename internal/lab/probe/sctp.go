package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"syscall"
	"time"
)

// SCTP probes work without an SCTP stack (this kernel has none): the
// client sends an INIT chunk through a raw socket, and a server that
// "listens" on the port answers with an INIT-ACK through its own raw
// socket. That is the first exchange of an SCTP association, so policy and
// connection tracking on the path see real SCTP.

const (
	sctpProto    = 132
	chunkInit    = 1
	chunkInitAck = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sctpPacket builds a common header and one INIT or INIT-ACK chunk.
func sctpPacket(srcPort, dstPort uint16, vtag uint32, chunk byte, initTag uint32) []byte {
	b := make([]byte, 12+20)
	binary.BigEndian.PutUint16(b[0:], srcPort)
	binary.BigEndian.PutUint16(b[2:], dstPort)
	binary.BigEndian.PutUint32(b[4:], vtag)
	c := b[12:]
	c[0] = chunk
	binary.BigEndian.PutUint16(c[2:], 20)
	binary.BigEndian.PutUint32(c[4:], initTag)
	binary.BigEndian.PutUint32(c[8:], 65535) // receiver window
	binary.BigEndian.PutUint16(c[12:], 1)    // outbound streams
	binary.BigEndian.PutUint16(c[14:], 1)    // inbound streams
	binary.BigEndian.PutUint32(c[16:], rand.Uint32())
	// The checksum is CRC32c over the packet with the field zeroed, in
	// little-endian order.
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b, castagnoli))
	return b
}

type sctpHeader struct {
	srcPort, dstPort uint16
	vtag             uint32
	chunk            byte
	initTag          uint32
}

func parseSCTP(ipPacket []byte) (net.IP, sctpHeader, bool) {
	if len(ipPacket) < 20 || ipPacket[0]>>4 != 4 {
		return nil, sctpHeader{}, false
	}
	ihl := int(ipPacket[0]&0x0f) * 4
	if ipPacket[9] != sctpProto || len(ipPacket) < ihl+12+8 {
		return nil, sctpHeader{}, false
	}
	s := ipPacket[ihl:]
	h := sctpHeader{
		srcPort: binary.BigEndian.Uint16(s[0:]), dstPort: binary.BigEndian.Uint16(s[2:]),
		vtag: binary.BigEndian.Uint32(s[4:]), chunk: s[12],
	}
	if len(s) >= 20 {
		h.initTag = binary.BigEndian.Uint32(s[16:])
	}
	return net.IP(ipPacket[12:16]), h, true
}

func rawSCTPSocket() (int, error) {
	return syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, sctpProto)
}

// serveSCTP answers INITs to the given ports until stop is closed. Reads
// time out regularly: closing a raw socket does not wake a blocked read.
func serveSCTP(fd int, ports map[uint16]bool, stop <-chan struct{}) {
	tv := syscall.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	buf := make([]byte, 2048)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		src, h, ok := parseSCTP(buf[:n])
		if !ok || h.chunk != chunkInit || !ports[h.dstPort] {
			continue
		}
		reply := sctpPacket(h.dstPort, h.srcPort, h.initTag, chunkInitAck, rand.Uint32())
		var to syscall.SockaddrInet4
		copy(to.Addr[:], src.To4())
		_ = syscall.Sendto(fd, reply, 0, &to)
	}
}

// connectSCTP sends INITs to addr:port until an INIT-ACK comes back or the
// timeout passes.
func connectSCTP(addr string, port int, timeout time.Duration) (bool, error) {
	ip := net.ParseIP(addr).To4()
	if ip == nil {
		return false, errors.New("SCTP probes are IPv4 only")
	}
	fd, err := rawSCTPSocket()
	if err != nil {
		return false, fmt.Errorf("raw SCTP socket: %w", err)
	}
	defer syscall.Close(fd)
	srcPort := uint16(32768 + rand.IntN(28000))
	initTag := rand.Uint32() | 1
	var to syscall.SockaddrInet4
	copy(to.Addr[:], ip)
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 2048)
	for time.Now().Before(deadline) {
		if err := syscall.Sendto(fd, sctpPacket(srcPort, uint16(port), 0, chunkInit, initTag), 0, &to); err != nil {
			return false, nil
		}
		wait := min(time.Until(deadline), 200*time.Millisecond)
		tv := syscall.NsecToTimeval(wait.Nanoseconds())
		_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
		for {
			n, _, err := syscall.Recvfrom(fd, buf, 0)
			if err != nil {
				break
			}
			src, h, ok := parseSCTP(buf[:n])
			if ok && src.Equal(ip) && h.chunk == chunkInitAck && h.dstPort == srcPort && h.vtag == initTag {
				return true, nil
			}
		}
	}
	return false, nil
}
