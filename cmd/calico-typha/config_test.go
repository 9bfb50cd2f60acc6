package main

import (
	"strings"
	"testing"
	"time"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig(envOf())
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":5473" || c.HealthAddr != ":9098" || c.MetricsAddr != "" || c.LowerLimit != 400 ||
		c.UpperLimit != 10000 || c.Rebalancing != "kubernetes" || c.MaxFallBehind != 300*time.Second || c.tls() {
		t.Fatalf("defaults %+v", c)
	}
	c, err = parseConfig(envOf("TYPHA_PROMETHEUSMETRICSENABLED", "true", "TYPHA_SERVERPORT", "6000", "TYPHA_HEALTHHOST", "127.0.0.1"))
	if err != nil || c.MetricsAddr != ":9093" || c.Listen != ":6000" || c.HealthAddr != "127.0.0.1:9098" {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"TYPHA_SERVERPORT", "x"}, "TYPHA_SERVERPORT=\"x\""},
		{[]string{"TYPHA_CAFILE", "/ca"}, "TLS needs all of"},
		{[]string{"TYPHA_CAFILE", "/ca", "TYPHA_SERVERCERTFILE", "/c", "TYPHA_SERVERKEYFILE", "/k"}, "set TYPHA_CLIENTCN or TYPHA_CLIENTURISAN"},
		{[]string{"TYPHA_CLIENTCN", "felix"}, "TLS is not"},
		{[]string{"TYPHA_CONNECTIONREBALANCINGMODE", "random"}, "want none or kubernetes"},
		{[]string{"TYPHA_MAXCONNECTIONSLOWERLIMIT", "500", "TYPHA_MAXCONNECTIONSUPPERLIMIT", "100"}, "is above"},
		{[]string{"TYPHA_LOGSEVERITYSCREEN", "loud"}, "TYPHA_LOGSEVERITYSCREEN"},
	} {
		_, err := parseConfig(envOf(tc.env...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.env, err, tc.want)
		}
	}
}
