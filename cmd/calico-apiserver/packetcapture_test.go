package main

import (
	"strings"
	"testing"
)

// TestPacketCaptureKind: through kubectl and calicoctl against the real
// API server, a PacketCapture with an unknown protocol, a range upside
// down or an end before its start is refused with the reason, and
// nothing is stored; a good one is.
func TestPacketCaptureKind(t *testing.T) {
	run := toolRunner(t)
	capture := func(name, spec string) string {
		return "apiVersion: projectcalico.org/v3\nkind: PacketCapture\nmetadata: {name: " + name + ", namespace: default}\nspec:\n" + spec
	}
	for _, tool := range []string{"kubectl", "calicoctl"} {
		for _, bad := range []struct{ name, spec, want string }{
			{"quic-" + tool, "  filters: [{protocol: QUIC}]\n", `protocol "QUIC" is not valid`},
			{"range-" + tool, "  filters: [{protocol: TCP, ports: ['9:1']}]\n", "minimum above its maximum"},
			{"backwards-" + tool, "  startTime: '2026-12-06T10:00:00Z'\n  endTime: '2026-12-06T09:00:00Z'\n", "is before startTime"},
		} {
			out, err := run(tool, capture(bad.name, bad.spec), "apply", "-f", "-")
			if err == nil || !strings.Contains(out, bad.want) {
				t.Errorf("%s applied PacketCapture %s: %v\n%s\nwant a refusal saying %q", tool, bad.name, err, out, bad.want)
			}
			if out, err := run("kubectl", "", "get", "-n", "default", "packetcaptures.projectcalico.org/"+bad.name); err == nil || !strings.Contains(out, "NotFound") {
				t.Errorf("%s stored %s: %v\n%s", tool, bad.name, err, out)
			}
		}
		good := capture("web-"+tool, "  selector: app == 'web'\n  filters: [{protocol: TCP, ports: [8080, '9000:9010']}]\n")
		if out, err := run(tool, good, "apply", "-f", "-"); err != nil {
			t.Errorf("%s, a good capture: %v\n%s", tool, err, out)
		}
	}
}
