package lbipam

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFamilies(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.250.0.1"), netip.MustParseAddr("fd00:250::1")
	svc := func(f ...corev1.IPFamily) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{IPFamilies: f}}
	}
	for _, tc := range []struct {
		svc          *corev1.Service
		held         []netip.Addr
		need4, need6 bool
	}{
		{svc(), nil, true, false}, // unset: IPv4
		{svc(corev1.IPv6Protocol), nil, false, true},
		{svc(corev1.IPv4Protocol, corev1.IPv6Protocol), nil, true, true},
		{svc(corev1.IPv6Protocol, corev1.IPv4Protocol), []netip.Addr{v4}, false, true},
		{svc(corev1.IPv4Protocol, corev1.IPv6Protocol), []netip.Addr{v4, v6}, false, false},
		{svc(corev1.IPv4Protocol), []netip.Addr{v6}, true, false},
	} {
		n4, n6 := families(tc.svc, tc.held)
		if n4 != tc.need4 || n6 != tc.need6 {
			t.Errorf("families %v holding %v: need4=%v need6=%v, want %v %v", tc.svc.Spec.IPFamilies, tc.held, n4, n6, tc.need4, tc.need6)
		}
	}
}

func TestRequestedPools(t *testing.T) {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		AnnotationPools: `["lb4"]`, AnnotationPools6: `["lb6"]`}}}
	r, err := requested(s)
	if err != nil || len(r.pools) != 1 || r.pools[0] != "lb4" || len(r.pools6) != 1 || r.pools6[0] != "lb6" {
		t.Fatalf("%+v %v", r, err)
	}
	s.Annotations[AnnotationPools6] = "lb6"
	if _, err := requested(s); err == nil {
		t.Error("a malformed ipv6pools annotation was accepted")
	}
}
