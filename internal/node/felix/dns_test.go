package felix

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestTrustedDNS(t *testing.T) {
	svcs, addrs, ports, err := TrustedDNS([]string{"k8s-service:kube-dns", "k8s-service:infra/resolver:5353", "10.0.0.53", "10.0.0.54:1053", "[fd00::53]:53"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(svcs, []string{"kube-system/kube-dns", "infra/resolver"}) {
		t.Errorf("services %v", svcs)
	}
	want := []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("10.0.0.54"), netip.MustParseAddr("fd00::53")}
	if !slices.Equal(addrs, want) {
		t.Errorf("addresses %v", addrs)
	}
	if !slices.Equal(ports, []uint16{53, 5353, 53, 1053, 53}) {
		t.Errorf("ports %v", ports)
	}
	for _, bad := range []string{"dns.example.com", "k8s-service:kube-dns:0", "10.0.0.1:99999"} {
		if _, _, _, err := TrustedDNS([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: error %v, want one naming it", bad, err)
		}
	}
}
