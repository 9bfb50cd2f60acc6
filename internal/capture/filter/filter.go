// Package filter compiles a PacketCapture's filters to a classic BPF
// program for an AF_PACKET socket on an Ethernet interface, so that the
// kernel drops what the capture does not want before it is copied to
// userspace.
//
// A packet is kept when any rule matches it; a rule matches when its
// protocol (if any) and one of its ports (if any, as the source or the
// destination port) match. Without rules every packet is kept. Ports are
// matched in IPv4 packets that are not later fragments, and in IPv6
// packets whose next header is the protocol itself (extension headers
// are not walked).
package filter

import (
	"fmt"

	"golang.org/x/net/bpf"

	v3 "github.com/calicong/calico/api/v3"
)

// SnapLen is how much of a kept packet is captured (all of it: veth
// MTUs are far below).
const SnapLen = 262144

const (
	etherTypeOffset = 12
	etherIPv4       = 0x0800
	etherIPv6       = 0x86dd
	ipv4Start       = 14
	ipv4Proto       = ipv4Start + 9
	ipv4Frag        = ipv4Start + 6
	ipv6Start       = 14
	ipv6Next        = ipv6Start + 6
	ipv6Payload     = ipv6Start + 40
)

// Compile turns the rules into a BPF program.
func Compile(rules []v3.PacketCaptureRule) ([]bpf.Instruction, error) {
	keep := bpf.RetConstant{Val: SnapLen}
	if len(rules) == 0 {
		return []bpf.Instruction{keep}, nil
	}
	var prog []bpf.Instruction
	for i, r := range rules {
		var proto uint8
		hasProto := r.Protocol != nil
		if hasProto {
			n, ok := r.Protocol.Number()
			if !ok || n == 0 {
				return nil, fmt.Errorf("filters[%d].protocol %q: not a protocol", i, r.Protocol.String())
			}
			proto = n
		}
		if len(r.Ports) > 0 && (!hasProto || !hasPorts(proto)) {
			return nil, fmt.Errorf("filters[%d].ports: ports need a protocol with ports (TCP, UDP, SCTP, UDPLite)", i)
		}
		for _, p := range r.Ports {
			if p.IsNamed() || p.MinPort > p.MaxPort {
				return nil, fmt.Errorf("filters[%d].ports: %q: a port number or a range \"min:max\"", i, p.String())
			}
		}
		if !hasProto || proto != 58 { // not ICMPv6: IPv4 too
			prog = append(prog, block(etherIPv4, hasProto, proto, r.Ports)...)
		}
		if !hasProto || proto != 1 { // not ICMP: IPv6 too
			prog = append(prog, block(etherIPv6, hasProto, proto, r.Ports)...)
		}
	}
	prog = append(prog, bpf.RetConstant{Val: 0})
	if _, err := bpf.Assemble(prog); err != nil {
		return nil, err
	}
	return prog, nil
}

// hasPorts: TCP, UDP, SCTP and UDPLite carry ports first in their header.
func hasPorts(proto uint8) bool { return proto == 6 || proto == 17 || proto == 132 || proto == 136 }

// block is one rule for one IP version: it returns keep on a match and
// falls through to the next block otherwise. A test that fails jumps to
// the block's end with an unconditional jump, which reaches any
// distance (a conditional jump reaches 255 instructions).
func block(etherType uint32, hasProto bool, proto uint8, ports []v3.Port) []bpf.Instruction {
	var b []bpf.Instruction
	var exits []int // indexes of the jumps to the block's end
	fail := func() {
		exits = append(exits, len(b))
		b = append(b, bpf.Jump{})
	}
	// unless: the test's true case skips the jump to the end.
	unless := func(cond bpf.JumpTest, val uint32) {
		b = append(b, bpf.JumpIf{Cond: cond, Val: val, SkipTrue: 1})
		fail()
	}
	keep := bpf.RetConstant{Val: SnapLen}
	b = append(b, bpf.LoadAbsolute{Off: etherTypeOffset, Size: 2})
	unless(bpf.JumpEqual, etherType)
	if hasProto {
		off := uint32(ipv4Proto)
		if etherType == etherIPv6 {
			off = ipv6Next
		}
		b = append(b, bpf.LoadAbsolute{Off: off, Size: 1})
		unless(bpf.JumpEqual, uint32(proto))
	}
	if len(ports) == 0 {
		b = append(b, keep)
	} else {
		var src, dst bpf.Instruction
		if etherType == etherIPv4 {
			// Later fragments have no ports.
			b = append(b, bpf.LoadAbsolute{Off: ipv4Frag, Size: 2})
			b = append(b, bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipFalse: 1})
			fail()
			b = append(b, bpf.LoadMemShift{Off: ipv4Start})
			src, dst = bpf.LoadIndirect{Off: ipv4Start, Size: 2}, bpf.LoadIndirect{Off: ipv4Start + 2, Size: 2}
		} else {
			src, dst = bpf.LoadAbsolute{Off: ipv6Payload, Size: 2}, bpf.LoadAbsolute{Off: ipv6Payload + 2, Size: 2}
		}
		for _, load := range []bpf.Instruction{src, dst} {
			b = append(b, load)
			for _, p := range ports {
				if p.MinPort == p.MaxPort {
					b = append(b, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p.MinPort), SkipFalse: 1}, keep)
					continue
				}
				b = append(b,
					bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: uint32(p.MinPort), SkipFalse: 2},
					bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(p.MaxPort), SkipTrue: 1},
					keep)
			}
		}
	}
	for _, i := range exits {
		b[i] = bpf.Jump{Skip: uint32(len(b) - i - 1)}
	}
	return b
}
