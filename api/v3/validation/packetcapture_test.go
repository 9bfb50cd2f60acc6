package validation_test

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
)

// capture reads a PacketCapture's spec as a user writes it (JSON).
func capture(t *testing.T, spec string) *v3.PacketCapture {
	t.Helper()
	c := &v3.PacketCapture{ObjectMeta: meta("web-capture")}
	c.Namespace = "demo"
	if err := json.Unmarshal([]byte(spec), &c.Spec); err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	return c
}

// TestPacketCaptures: filters by protocol and ports, a time window, and
// each way one can be wrong.
func TestPacketCaptures(t *testing.T) {
	checkValid(t, "everything of every pod", capture(t, `{}`))
	checkValid(t, "TCP to 8080, UDP ports 5000 to 5010, and ICMP, for a window", capture(t, `{"selector": "app == 'web'",
		"filters": [{"protocol": "TCP", "ports": [8080]}, {"protocol": "UDP", "ports": ["5000:5010", 53]}, {"protocol": "ICMP"}, {"protocol": 132, "ports": [9]}],
		"startTime": "2026-12-06T10:00:00Z", "endTime": "2026-12-06T10:05:00Z"}`))
	sp := "spec"
	checkInvalid(t, []invalidCase{
		{"an unknown protocol", capture(t, `{"filters": [{"protocol": "QUIC"}]}`), sp + ".filters[0].protocol", field.ErrorTypeInvalid, "QUIC"},
		{"a range upside down", capture(t, `{"filters": [{"protocol": "TCP", "ports": ["9:1"]}]}`), sp + ".filters[0].ports[0]", field.ErrorTypeInvalid, "minimum above its maximum"},
		{"a named port", capture(t, `{"filters": [{"protocol": "TCP", "ports": ["http"]}]}`), sp + ".filters[0].ports[0]", field.ErrorTypeInvalid, "named ports are not supported"},
		{"ports without a protocol", capture(t, `{"filters": [{"ports": [80]}]}`), sp + ".filters[0].ports", field.ErrorTypeInvalid, "this filter has no protocol"},
		{"ports with ICMP", capture(t, `{"filters": [{"protocol": "ICMP", "ports": [80]}]}`), sp + ".filters[0].ports", field.ErrorTypeInvalid, "protocol ICMP"},
		{"an end before the start", capture(t, `{"startTime": "2026-12-06T10:00:00Z", "endTime": "2026-12-06T09:00:00Z"}`),
			sp + ".endTime", field.ErrorTypeInvalid, "is before startTime (2026-12-06T10:00:00Z)"},
		{"a bad selector", capture(t, `{"selector": "app =="}`), sp + ".selector", field.ErrorTypeInvalid, ""},
	})
}
