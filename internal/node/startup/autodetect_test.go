package startup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestDetect(t *testing.T) {
	ifaces := []Interface{
		{Name: "lo", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		{Name: "docker0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("172.17.0.1/16")}},
		{Name: "eth0", Up: false, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24")}},
		{Name: "eth1", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("fe80::1/64"), netip.MustParsePrefix("192.168.1.5/24"), netip.MustParsePrefix("fd00::5/64")}},
		{Name: "ens4", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.0.7/16")}},
	}
	route := func(dst netip.Addr) (netip.Addr, error) {
		if dst.Is4() && netip.MustParsePrefix("10.1.0.0/16").Contains(dst) {
			return netip.MustParseAddr("10.1.0.7"), nil
		}
		return netip.Addr{}, errors.New("network unreachable")
	}
	cases := []struct {
		method Method
		family int
		want   string
		err    string
	}{
		{"", 4, "192.168.1.5/24", ""},
		{"first-found", 6, "fd00::5/64", ""},
		{"interface=ens.*", 4, "10.1.0.7/16", ""},
		{"interface=eth0", 4, "", "no matching interface"},
		{"skip-interface=eth1", 4, "10.1.0.7/16", ""},
		{"can-reach=10.1.200.1", 4, "10.1.0.7/16", ""},
		{"can-reach=8.8.8.8", 4, "", "no route"},
		{"can-reach=fd00::1", 4, "", "not an IPv4 address"},
		{"cidr=10.0.0.0/8", 4, "10.1.0.7/16", ""},
		{"cidr=10.200.0.0/16", 4, "", "no interface has"},
		{"interface=(", 4, "", "bad regular expression"},
		{"magic", 4, "", "unknown autodetection method"},
	}
	for _, c := range cases {
		got, err := Detect(c.method, c.family, ifaces, route)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s/v%d: error %v, want one containing %q", c.method, c.family, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s/v%d: %v", c.method, c.family, err)
		case c.err == "" && got.String() != c.want:
			t.Errorf("%s/v%d: got %s, want %s", c.method, c.family, got, c.want)
		}
	}
}

var testIfaces = []Interface{
	{Name: "lo", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}},
	{Name: "eth1", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.1.5/24"), netip.MustParsePrefix("fd00::5/64")}},
	{Name: "ens4", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.0.7/16")}},
}

// testRoute routes 10.1/16 via ens4, fd00::/64 via eth1 and loopback via
// lo.
func testRoute(dst netip.Addr) (netip.Addr, error) {
	switch {
	case netip.MustParsePrefix("10.1.0.0/16").Contains(dst):
		return netip.MustParseAddr("10.1.0.7"), nil
	case netip.MustParsePrefix("fd00::/64").Contains(dst):
		return netip.MustParseAddr("fd00::5"), nil
	case dst.IsLoopback():
		return dst, nil
	}
	return netip.Addr{}, errors.New("network unreachable")
}

// TestCanReachHostName: can-reach takes a host name (the example in
// Calico's documentation), resolves it and picks the source address of
// the route to its first routed address of the family.
func TestCanReachHostName(t *testing.T) {
	hosts := map[string][]netip.Addr{
		"api.cluster.example": {netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("10.1.200.1"), netip.MustParseAddr("fd00::99")},
		"v6only.example":      {netip.MustParseAddr("fd00::99")},
		"far.example":         {netip.MustParseAddr("8.8.8.8")},
	}
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		if a, ok := hosts[host]; ok {
			return a, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	src := Sources{Route: testRoute, Resolve: resolve}
	cases := []struct {
		method Method
		family int
		want   string
		err    string
	}{
		{"can-reach=api.cluster.example", 4, "10.1.0.7/16", ""},
		{"can-reach=api.cluster.example", 6, "fd00::5/64", ""},
		{"can-reach=v6only.example", 4, "", `host name "v6only.example" has no IPv4 address`},
		{"can-reach=far.example", 4, "", "no route"},
		{"can-reach=nowhere.example", 4, "", `cannot resolve host name "nowhere.example"`},
		{"can-reach=", 4, "", "no destination"},
	}
	for _, c := range cases {
		got, err := DetectWith(context.Background(), c.method, c.family, testIfaces, src)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s/v%d: error %v, want one containing %q", c.method, c.family, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s/v%d: %v", c.method, c.family, err)
		case c.err == "" && got.String() != c.want:
			t.Errorf("%s/v%d: got %s, want %s", c.method, c.family, got, c.want)
		}
	}
	// The system's resolver, offline: localhost is in every hosts file.
	if _, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", "localhost"); err != nil {
		t.Skipf("the system cannot resolve localhost: %v", err)
	}
	got, err := Detect("can-reach=localhost", 4, testIfaces, testRoute)
	if err != nil || got.String() != "127.0.0.1/8" {
		t.Errorf("can-reach=localhost with the system's resolver: %s, %v", got, err)
	}
}

// TestKubernetesInternalIP: kubernetes-internal-ip picks the Node's
// InternalIP of the family from status.addresses, with the prefix length
// of the interface that holds it.
func TestKubernetesInternalIP(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: "node-1"},
		{Type: corev1.NodeExternalIP, Address: "192.168.1.5"},
		{Type: corev1.NodeInternalIP, Address: "10.1.0.7"},
		{Type: corev1.NodeInternalIP, Address: "fd00::5"},
	}}}
	bare := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-2"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeExternalIP, Address: "192.168.1.5"},
		{Type: corev1.NodeInternalIP, Address: "fd00::77"},
	}}}
	kube := fake.NewClientset(node, bare)
	cases := []struct {
		node   string
		family int
		want   string
		err    string
	}{
		{"node-1", 4, "10.1.0.7/16", ""},
		{"node-1", 6, "fd00::5/64", ""},
		{"node-2", 6, "fd00::77/128", ""}, // on no interface: the address alone
		{"node-2", 4, "", "node node-2 has no IPv4 InternalIP in status.addresses (addresses: ExternalIP=192.168.1.5, InternalIP=fd00::77)"},
		{"node-3", 4, "", `kubernetes-internal-ip: reading the Kubernetes Node: nodes "node-3" not found`},
	}
	for _, c := range cases {
		src := Sources{Route: testRoute, Node: KubernetesNode(kube, c.node)}
		got, err := DetectWith(context.Background(), "kubernetes-internal-ip", c.family, testIfaces, src)
		what := fmt.Sprintf("%s/v%d", c.node, c.family)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one containing %q", what, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", what, err)
		case c.err == "" && got.String() != c.want:
			t.Errorf("%s: got %s, want %s", what, got, c.want)
		}
	}
	if _, err := Detect("kubernetes-internal-ip", 4, testIfaces, testRoute); err == nil || !strings.Contains(err.Error(), "no Kubernetes Node") {
		t.Errorf("kubernetes-internal-ip without a Node: %v", err)
	}
}
