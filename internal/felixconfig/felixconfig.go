// Package felixconfig works out a node's effective FelixConfiguration:
// built-in defaults, overridden by the global "default" object, by the
// node's "node.<name>" object, and by FELIX_<FIELD> environment variables,
// in that order of increasing precedence. It is pure: callers hand it the
// objects and the environment.
package felixconfig

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

// Defaults are the built-in values of the fields this implementation uses.
func Defaults() v3.FelixConfigurationSpec {
	ptr := func(i int) *int { return &i }
	bptr := func(b bool) *bool { return &b }
	sptr := func(s string) *string { return &s }
	mask := uint32(0xffff0000)
	proto := 3
	ports := func(spec string) *[]v3.ProtoPort { p, _ := ParseProtoPorts(spec); return &p }
	return v3.FelixConfigurationSpec{
		InterfacePrefix:             "cali",
		DefaultEndpointToHostAction: "Drop",
		LogSeverityScreen:           "Info",
		IptablesMarkMask:            &mask,
		HealthEnabled:               bptr(false),
		HealthHost:                  sptr("localhost"),
		HealthPort:                  ptr(9099),
		PrometheusMetricsEnabled:    bptr(false),
		PrometheusMetricsPort:       ptr(9091),
		RouteRefreshInterval:        &metav1.Duration{Duration: 90 * time.Second},
		IptablesRefreshInterval:     &metav1.Duration{Duration: 180 * time.Second},
		NftablesRefreshInterval:     &metav1.Duration{Duration: 180 * time.Second},
		// Flow logs, as Calico Enterprise's defaults.
		FlowLogsFlushInterval:                 &metav1.Duration{Duration: 300 * time.Second},
		FlowLogsFileEnabled:                   bptr(false),
		FlowLogsFileDirectory:                 sptr("/var/log/calico/flowlogs"),
		FlowLogsFileMaxFiles:                  ptr(5),
		FlowLogsFileMaxFileSizeMB:             ptr(100),
		FlowLogsFileAggregationKindForAllowed: ptr(2),
		FlowLogsFileAggregationKindForDenied:  ptr(1),
		FlowLogsFileEnabledForAllowed:         bptr(true),
		FlowLogsFileEnabledForDenied:          bptr(true),
		FlowLogsFileIncludeLabels:             bptr(false),
		FlowLogsFileIncludePolicies:           bptr(false),
		FlowLogsFileIncludeService:            bptr(false),
		FlowLogsEnableHostEndpoint:            bptr(false),
		FlowLogsEnableNetworkSets:             bptr(false),
		FlowLogsPolicyScope:                   sptr("EndpointPolicies"),
		// Packet capture, as Calico Enterprise's defaults.
		CaptureDir:             sptr("/var/log/calico/pcap"),
		CaptureMaxSizeBytes:    ptr(10000000),
		CaptureRotationSeconds: ptr(3600),
		CaptureMaxFiles:        ptr(2),
		// DNS, as Calico Enterprise's defaults.
		DNSTrustedServers:          &[]string{"k8s-service:kube-dns"},
		DNSExtraTTL:                &metav1.Duration{},
		DNSPolicyMode:              sptr("DelayDeniedPacket"),
		DNSLogsFileEnabled:         bptr(true),
		DNSLogsFileDirectory:       sptr("/var/log/calico/dnslogs"),
		DNSLogsFlushInterval:       &metav1.Duration{Duration: 300 * time.Second},
		DNSLogsFileAggregationKind: ptr(1),
		DNSLogsFileIncludeLabels:   bptr(true),
		DNSLogsFilePerNodeLimit:    ptr(0),
		DNSLogsLatency:             bptr(true),
		DeviceRouteProtocol:        &proto,
		FailsafeInboundHostPorts:   ports("tcp:22,udp:68,tcp:179,tcp:2379,tcp:2380,tcp:5473,tcp:6443,tcp:6666,tcp:6667"),
		FailsafeOutboundHostPorts:  ports("udp:53,udp:67,tcp:179,tcp:2379,tcp:2380,tcp:5473,tcp:6443,tcp:6666,tcp:6667"),
	}
}

// Source names where a field's value came from.
type Source string

const (
	SourceDefault     Source = "built-in default"
	SourceGlobal      Source = "FelixConfiguration default"
	SourceNode        Source = "FelixConfiguration node.<name>"
	SourceEnvironment Source = "environment"
)

// Config is the effective configuration and where each set field came from.
type Config struct {
	Spec    v3.FelixConfigurationSpec
	Sources map[string]Source // JSON field name → source
}

// Resolve merges the layers. global and node may be nil. env holds the
// process environment as KEY=VALUE strings; only FELIX_* keys are read,
// matched case-insensitively against the JSON field names
// (FELIX_DEFAULTENDPOINTTOHOSTACTION, FELIX_HEALTHENABLED, ...).
func Resolve(global, node *v3.FelixConfiguration, env []string) (*Config, error) {
	merged := map[string]any{}
	sources := map[string]Source{}
	layer := func(spec v3.FelixConfigurationSpec, src Source) error {
		data, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return err
		}
		for k, v := range m {
			if v == "" {
				continue // unset (bpfLogLevel is written even when empty, as Calico writes it)
			}
			merged[k] = v
			sources[k] = src
		}
		return nil
	}
	if err := layer(Defaults(), SourceDefault); err != nil {
		return nil, err
	}
	if global != nil {
		if err := layer(global.Spec, SourceGlobal); err != nil {
			return nil, err
		}
	}
	if node != nil {
		if err := layer(node.Spec, SourceNode); err != nil {
			return nil, err
		}
	}
	fields := jsonFields()
	var problems []string
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(strings.ToUpper(k), "FELIX_") {
			continue
		}
		name := strings.ToLower(strings.TrimPrefix(strings.ToUpper(k), "FELIX_"))
		f, ok := fields[name]
		if !ok {
			continue // Felix ignores unknown variables too
		}
		val, err := parseEnv(f.typ, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q: %v", k, v, err))
			continue
		}
		merged[f.json] = val
		sources[f.json] = SourceEnvironment
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("invalid Felix environment variables: %s", strings.Join(problems, "; "))
	}
	data, err := json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg.Spec); err != nil {
		return nil, fmt.Errorf("effective Felix configuration: %w", err)
	}
	cfg.Sources = sources
	return &cfg, nil
}

type field struct {
	json string
	typ  reflect.Type
}

// jsonFields maps lower-cased JSON names of FelixConfigurationSpec fields
// to their names and types.
func jsonFields() map[string]field {
	out := map[string]field{}
	t := reflect.TypeOf(v3.FelixConfigurationSpec{})
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[strings.ToLower(name)] = field{json: name, typ: f.Type}
	}
	return out
}

var (
	durationType   = reflect.TypeOf(metav1.Duration{})
	protoPortsType = reflect.TypeOf([]v3.ProtoPort{})
)

// parseEnv converts an environment value into the JSON value of a field.
func parseEnv(t reflect.Type, v string) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		// Felix takes seconds; a Go duration is accepted too.
		if secs, err := strconv.ParseFloat(v, 64); err == nil {
			return time.Duration(secs * float64(time.Second)).String(), nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("want seconds or a duration such as 90s")
		}
		return d.String(), nil
	case t == protoPortsType:
		ps, err := ParseProtoPorts(v)
		if err != nil {
			return nil, err
		}
		return ps, nil
	}
	switch t.Kind() {
	case reflect.String:
		return v, nil
	case reflect.Bool:
		return strconv.ParseBool(v)
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint32, reflect.Uint64, reflect.Uint16, reflect.Uint8, reflect.Int16, reflect.Int8, reflect.Uint:
		n, err := strconv.ParseInt(v, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("want a number")
		}
		return n, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			var out []string
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			return out, nil
		}
	}
	var out any
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, fmt.Errorf("want JSON for this field")
	}
	return out, nil
}

// ParseProtoPorts parses Felix's port list syntax: "tcp:22,udp:68" or
// "none".
func ParseProtoPorts(s string) ([]v3.ProtoPort, error) {
	out := []v3.ProtoPort{}
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "none") {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		proto, port, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok {
			proto, port = "tcp", proto
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q: want PROTOCOL:PORT, e.g. tcp:22", item)
		}
		switch strings.ToLower(proto) {
		case "tcp", "udp", "sctp":
		default:
			return nil, fmt.Errorf("%q: protocol must be tcp, udp or sctp", item)
		}
		out = append(out, v3.ProtoPort{Protocol: strings.ToUpper(proto), Port: uint16(n)})
	}
	return out, nil
}
