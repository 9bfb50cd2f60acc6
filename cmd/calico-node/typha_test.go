package main

import (
	"strings"
	"testing"
	"time"
)

func TestTyphaFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if s, err := typhaFromEnv(env(), nil, "n"); s != nil || err != nil {
		t.Fatalf("unconfigured: %v %v", s, err)
	}
	s, err := typhaFromEnv(env("FELIX_TYPHAK8SSERVICENAME", "calico-typha", "FELIX_TYPHAREADTIMEOUT", "5"), nil, "n")
	if err != nil || s.Discovery.Service != "calico-typha" || s.ReadTimeout != 5*time.Second || s.TLS != nil {
		t.Fatalf("service: %+v %v", s, err)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"FELIX_TYPHAADDR", "10.0.0.1:x"}, "FELIX_TYPHAADDR"},
		{[]string{"FELIX_TYPHACN", "typha"}, "neither FELIX_TYPHAADDR nor"},
		{[]string{"FELIX_TYPHAADDR", "10.0.0.1", "FELIX_TYPHACN", "typha"}, "needs all of FELIX_TYPHACAFILE"},
		{[]string{"FELIX_TYPHAADDR", "10.0.0.1", "FELIX_TYPHACAFILE", "/a", "FELIX_TYPHACERTFILE", "/b", "FELIX_TYPHAKEYFILE", "/c"}, "FELIX_TYPHACN or FELIX_TYPHAURISAN"},
		{[]string{"FELIX_TYPHAADDR", "10.0.0.1", "FELIX_TYPHAREADTIMEOUT", "0"}, "FELIX_TYPHAREADTIMEOUT"},
		{[]string{"FELIX_TYPHAADDR", "10.0.0.1", "FELIX_TYPHACAFILE", "/nonexistent", "FELIX_TYPHACERTFILE", "/b", "FELIX_TYPHAKEYFILE", "/c", "FELIX_TYPHACN", "t"}, "reading CA file"},
	} {
		if _, err := typhaFromEnv(env(tc.env...), nil, "n"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want it to mention %q", tc.env, err, tc.want)
		}
	}
}
