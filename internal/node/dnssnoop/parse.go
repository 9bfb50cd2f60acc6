// Package dnssnoop reads the DNS answers calico-node sees on their way
// to its workloads: a packet as NFLOG or NFQUEUE hands it over (the IP
// header, UDP, the DNS message), parsed with github.com/miekg/dns into
// what domain-based policy (internal/dnscache) and DNS logs need.
//
// Parsing is pure; reading the packets from the kernel is the caller's.
package dnssnoop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/calicong/calico/internal/dnscache"
)

// Response is one DNS answer on its way to a client.
type Response struct {
	Server, Client         netip.Addr
	ServerPort, ClientPort uint16
	ID                     uint16
	// Name, Type and Class are the question's (Name without its
	// trailing dot, Type as "A", "AAAA", ...).
	Name, Type, Class string
	// Rcode is the result ("NOERROR", "NXDOMAIN", ...).
	Rcode string
	// Records are the answer section's A, AAAA and CNAME records, for
	// the cache; RRSets every answer record, for DNS logs.
	Records []dnscache.Record
	RRSets  []RRSet
	// Latency is how long the server took, when the query was seen
	// (0 if not).
	Latency time.Duration
}

// RRSet is the answer records of one name, type and class, as DNS logs
// list them.
type RRSet struct {
	Name, Type, Class string
	RData             []string
}

// ErrNotDNS is a packet that is not a UDP DNS response.
var ErrNotDNS = errors.New("not a UDP DNS response")

// ParsePacket parses an IPv4 or IPv6 packet carrying a UDP DNS response.
func ParsePacket(pkt []byte) (Response, error) {
	var r Response
	src, dst, sport, dport, payload, err := udpOf(pkt)
	if err != nil {
		return r, err
	}
	r.Server, r.Client, r.ServerPort, r.ClientPort = src, dst, sport, dport
	return r, r.parseMessage(payload)
}

// Query is a DNS query on its way to a server: what is needed to match
// its answer (and time it).
type Query struct {
	Client, Server         netip.Addr
	ClientPort, ServerPort uint16
	ID                     uint16
}

// ErrNotQuery is a packet that is not a UDP DNS query.
var ErrNotQuery = errors.New("not a UDP DNS query")

// ParseQuery reads the ends and the ID of an IPv4 or IPv6 packet carrying
// a UDP DNS query; the question is not parsed.
func ParseQuery(pkt []byte) (Query, error) {
	src, dst, sport, dport, payload, err := udpOf(pkt)
	if err != nil {
		return Query{}, fmt.Errorf("%w: %v", ErrNotQuery, err)
	}
	if len(payload) < 12 || payload[2]&0x80 != 0 {
		return Query{}, fmt.Errorf("%w: no DNS query header", ErrNotQuery)
	}
	return Query{Client: src, Server: dst, ClientPort: sport, ServerPort: dport, ID: binary.BigEndian.Uint16(payload)}, nil
}

// udpOf reads an IPv4 or IPv6 packet's UDP header.
func udpOf(pkt []byte) (src, dst netip.Addr, sport, dport uint16, payload []byte, err error) {
	var udp []byte
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4:
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 || len(pkt) < ihl+8 {
			return src, dst, 0, 0, nil, fmt.Errorf("%w: a truncated IPv4 header", ErrNotDNS)
		}
		if pkt[9] != 17 {
			return src, dst, 0, 0, nil, fmt.Errorf("%w: IP protocol %d", ErrNotDNS, pkt[9])
		}
		if binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 {
			return src, dst, 0, 0, nil, fmt.Errorf("%w: an IPv4 fragment", ErrNotDNS)
		}
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		udp = pkt[ihl:]
	case len(pkt) >= 40 && pkt[0]>>4 == 6:
		// Extension headers are not followed: a DNS packet has none.
		if pkt[6] != 17 {
			return src, dst, 0, 0, nil, fmt.Errorf("%w: next header %d", ErrNotDNS, pkt[6])
		}
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
		udp = pkt[40:]
	default:
		return src, dst, 0, 0, nil, fmt.Errorf("%w: not an IP packet", ErrNotDNS)
	}
	if len(udp) < 8 {
		return src, dst, 0, 0, nil, fmt.Errorf("%w: a truncated UDP header", ErrNotDNS)
	}
	sport, dport = binary.BigEndian.Uint16(udp[0:2]), binary.BigEndian.Uint16(udp[2:4])
	n := int(binary.BigEndian.Uint16(udp[4:6]))
	if n < 8 || n > len(udp) {
		return src, dst, 0, 0, nil, fmt.Errorf("%w: UDP length %d of %d bytes", ErrNotDNS, n, len(udp))
	}
	return src, dst, sport, dport, udp[8:n], nil
}

// ParseMessage parses a DNS message (a UDP payload, or a TCP one without
// its length prefix).
func ParseMessage(b []byte) (Response, error) {
	var r Response
	return r, r.parseMessage(b)
}

func (r *Response) parseMessage(b []byte) error {
	var m dns.Msg
	if err := m.Unpack(b); err != nil {
		return fmt.Errorf("%w: %v", ErrNotDNS, err)
	}
	if !m.Response {
		return fmt.Errorf("%w: a query", ErrNotDNS)
	}
	r.ID = m.Id
	r.Rcode = dns.RcodeToString[m.Rcode]
	if len(m.Question) > 0 {
		q := m.Question[0]
		r.Name, r.Type, r.Class = trimDot(q.Name), dns.TypeToString[q.Qtype], dns.ClassToString[q.Qclass]
	}
	sets := map[[3]string]int{}
	for _, rr := range m.Answer {
		h := rr.Header()
		ttl := time.Duration(h.Ttl) * time.Second
		var rdata string
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				r.Records = append(r.Records, dnscache.Record{Name: h.Name, Addr: a, TTL: ttl})
				rdata = a.String()
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
				r.Records = append(r.Records, dnscache.Record{Name: h.Name, Addr: a, TTL: ttl})
				rdata = a.String()
			}
		case *dns.CNAME:
			r.Records = append(r.Records, dnscache.Record{Name: h.Name, Target: v.Target, TTL: ttl})
			rdata = trimDot(v.Target)
		default:
			// Everything else is logged as its presentation form's
			// data: the record's text after its header.
			full, head := rr.String(), h.String()
			if len(full) > len(head) {
				rdata = full[len(head):]
			}
		}
		k := [3]string{trimDot(h.Name), dns.TypeToString[h.Rrtype], dns.ClassToString[h.Class]}
		i, ok := sets[k]
		if !ok {
			i = len(r.RRSets)
			sets[k] = i
			r.RRSets = append(r.RRSets, RRSet{Name: k[0], Type: k[1], Class: k[2]})
		}
		r.RRSets[i].RData = append(r.RRSets[i].RData, rdata)
	}
	return nil
}

func trimDot(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}
