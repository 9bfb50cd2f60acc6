package cni

import (
	"strings"
	"testing"

	v3 "github.com/calicong/calico/api/v3"
)

// TestIPAddrsFromDisabledPool: a pod asking for an address of a disabled
// pool is refused (no usable pool, code 101) with a message naming the
// address and the pool, and nothing is allocated.
func TestIPAddrsFromDisabledPool(t *testing.T) {
	skipShort(t)
	makePool(t, "cni-off", "10.83.0.0/24", 26, func(s *v3.IPPoolSpec) { s.Disabled = true })
	n := newNode(t, "cni-node-off")
	makePod(t, "cni-off", "fixed", n.name, map[string]string{AnnotationIPAddrs: `["10.83.0.20"]`})
	_, err := n.cni.AddNetworkList(ctx(), n.conf(nil, nil), n.sandbox("cni-off", "fixed").rt())
	if cniCode(err) != CodeNoPools || !strings.Contains(err.Error(), "10.83.0.20") || !strings.Contains(err.Error(), "cni-off") ||
		!strings.Contains(err.Error(), "disabled") {
		t.Errorf("address in a disabled pool: %v (code %d), want code %d naming the address and the disabled pool", err, cniCode(err), CodeNoPools)
	}
	if got, _ := checkPool(t, "10.83.0.0/24"); got != 0 {
		t.Errorf("%d address(es) allocated from the disabled pool", got)
	}
}
