package startup

import (
	"strings"
	"testing"
)

// TestEncapsulationVariables: CALICO_IPV4POOL_VXLAN and _IPIP are read as
// Calico's start-up reads them, and anything else is refused by name.
func TestEncapsulationVariables(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{"NODENAME": "n"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct{ ipip, vxlan, wantIPIP, wantVXLAN string }{
		{"", "", "Never", "Never"},
		{"Always", "never", "Always", "Never"},
		{"cross-subnet", "Off", "CrossSubnet", "Never"},
		{"off", "CrossSubnet", "Never", "CrossSubnet"},
	} {
		cfg, err := ConfigFromEnv(env("CALICO_IPV4POOL_IPIP", c.ipip, "CALICO_IPV4POOL_VXLAN", c.vxlan))
		if err != nil || cfg.IPv4PoolIPIPMode != c.wantIPIP || cfg.IPv4PoolVXLANMode != c.wantVXLAN {
			t.Errorf("IPIP=%q VXLAN=%q: got %q %q, %v", c.ipip, c.vxlan, cfg.IPv4PoolIPIPMode, cfg.IPv4PoolVXLANMode, err)
		}
	}
	_, err := ConfigFromEnv(env("CALICO_IPV4POOL_IPIP", "Sometimes"))
	if err == nil || !strings.Contains(err.Error(), `CALICO_IPV4POOL_IPIP="Sometimes"`) {
		t.Errorf("a bad IPIP mode: %v", err)
	}
}
