package discovery

import (
	"reflect"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestParseStatic(t *testing.T) {
	got, err := ParseStatic("10.0.0.1:5473, 10.0.0.2,[fd00::1]:6000")
	if err != nil {
		t.Fatal(err)
	}
	want := []Endpoint{{Addr: "10.0.0.1:5473"}, {Addr: "10.0.0.2:5473"}, {Addr: "[fd00::1]:6000"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	for _, bad := range []string{"", " , ", "10.0.0.1:x", "10.0.0.1:70000"} {
		if _, err := ParseStatic(bad); err == nil || !strings.Contains(err.Error(), "typha address") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestFromSlicesAndOrder(t *testing.T) {
	p := func(i int32) *int32 { return &i }
	s := func(v string) *string { return &v }
	f := false
	slices := []discoveryv1.EndpointSlice{{
		Ports: []discoveryv1.EndpointPort{{Name: s("metrics"), Port: p(9093)}, {Name: s(PortName), Port: p(5473)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, NodeName: s("node-1")},
			{Addresses: []string{"10.0.0.2"}, NodeName: s("node-2")},
			{Addresses: []string{"10.0.0.3"}, NodeName: s("node-3"), Conditions: discoveryv1.EndpointConditions{Ready: &f}},
		},
	}, {
		// Another service's port only: ignored.
		Ports:     []discoveryv1.EndpointPort{{Name: s("other"), Port: p(1)}, {Name: s("x"), Port: p(2)}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.9"}}},
	}}
	eps := FromSlices(slices)
	if len(eps) != 2 || eps[0].Addr != "10.0.0.1:5473" || eps[1].Node != "node-2" {
		t.Fatalf("endpoints %v", eps)
	}
	reverse := func(n int, swap func(i, j int)) {
		for i := 0; i < n/2; i++ {
			swap(i, n-1-i)
		}
	}
	got := Order(eps, "node-2", reverse)
	if got[0].Node != "node-2" || got[1].Node != "node-1" {
		t.Fatalf("local endpoint not first: %v", got)
	}
}
