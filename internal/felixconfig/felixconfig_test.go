package felixconfig

import (
	"strings"
	"testing"
	"time"

	v3 "github.com/calicong/calico/api/v3"
)

func TestPrecedence(t *testing.T) {
	port := 9100
	host := "0.0.0.0"
	global := &v3.FelixConfiguration{Spec: v3.FelixConfigurationSpec{DefaultEndpointToHostAction: "Accept", HealthPort: &port, HealthHost: &host}}
	nodePort := 9200
	node := &v3.FelixConfiguration{Spec: v3.FelixConfigurationSpec{HealthPort: &nodePort, LogSeverityScreen: "Debug"}}
	env := []string{"PATH=/bin", "FELIX_LOGSEVERITYSCREEN=Warning", "felix_healthenabled=true", "FELIX_ROUTEREFRESHINTERVAL=30",
		"FELIX_FAILSAFEINBOUNDHOSTPORTS=tcp:22,udp:68", "FELIX_IPTABLESMARKMASK=0xff000000", "FELIX_NOSUCHTHING=1",
		"FELIX_DNSTRUSTEDSERVERS=10.96.0.10, k8s-service:dns/coredns"}
	cfg, err := Resolve(global, node, env)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Spec
	checks := []struct {
		what string
		got  any
		want any
		src  Source
		key  string
	}{
		{"env beats node", s.LogSeverityScreen, "Warning", SourceEnvironment, "logSeverityScreen"},
		{"node beats global", *s.HealthPort, 9200, SourceNode, "healthPort"},
		{"global beats default", s.DefaultEndpointToHostAction, "Accept", SourceGlobal, "defaultEndpointToHostAction"},
		{"global kept", *s.HealthHost, "0.0.0.0", SourceGlobal, "healthHost"},
		{"default kept", s.InterfacePrefix, "cali", SourceDefault, "interfacePrefix"},
		{"env bool, any case", *s.HealthEnabled, true, SourceEnvironment, "healthEnabled"},
		{"env duration in seconds", s.RouteRefreshInterval.Duration, 30 * time.Second, SourceEnvironment, "routeRefreshInterval"},
		{"env hex", *s.IptablesMarkMask, uint32(0xff000000), SourceEnvironment, "iptablesMarkMask"},
		{"env ports", len(*s.FailsafeInboundHostPorts), 2, SourceEnvironment, "failsafeInboundHostPorts"},
		{"env list", strings.Join(*s.DNSTrustedServers, " "), "10.96.0.10 k8s-service:dns/coredns", SourceEnvironment, "dnsTrustedServers"},
		{"dns default", *s.DNSPolicyMode, "DelayDeniedPacket", SourceDefault, "dnsPolicyMode"},
		{"dns logs default", s.DNSLogsFlushInterval.Duration, 5 * time.Minute, SourceDefault, "dnsLogsFlushInterval"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
		if cfg.Sources[c.key] != c.src {
			t.Errorf("%s: source %q, want %q", c.what, cfg.Sources[c.key], c.src)
		}
	}
}

func TestBadEnvironmentIsReported(t *testing.T) {
	_, err := Resolve(nil, nil, []string{"FELIX_HEALTHENABLED=maybe", "FELIX_HEALTHPORT=abc", "FELIX_FAILSAFEINBOUNDHOSTPORTS=gre:1"})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"FELIX_HEALTHENABLED", "FELIX_HEALTHPORT", "FELIX_FAILSAFEINBOUNDHOSTPORTS", "tcp, udp or sctp"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
