package probe

import (
	"math/rand/v2"
	"net"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ping sends ICMP echo requests to addr until one is answered or the
// timeout passes. It needs a raw socket (root).
func ping(addr string, timeout time.Duration) (bool, error) {
	ip := net.ParseIP(addr)
	network, listen, proto := "ip4:icmp", "0.0.0.0", 1
	var typ icmp.Type = ipv4.ICMPTypeEcho
	var reply icmp.Type = ipv4.ICMPTypeEchoReply
	if ip.To4() == nil {
		network, listen, proto = "ip6:ipv6-icmp", "::", 58
		typ, reply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	c, err := icmp.ListenPacket(network, listen)
	if err != nil {
		return false, err
	}
	defer c.Close()
	// Raw sockets see every echo reply in the namespace: a random ID tells
	// ours from those of probes running alongside.
	id := rand.IntN(0xffff) + 1
	deadline := time.Now().Add(timeout)
	for seq := 1; time.Now().Before(deadline); seq++ {
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("calico-probe")}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return false, err
		}
		if _, err := c.WriteTo(b, &net.IPAddr{IP: ip}); err != nil {
			return false, nil
		}
		_ = c.SetReadDeadline(time.Now().Add(min(time.Until(deadline), 200*time.Millisecond)))
		for {
			buf := make([]byte, 1500)
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			m, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil || m.Type != reply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && from.String() == ip.String() {
				return true, nil
			}
		}
	}
	return false, nil
}
