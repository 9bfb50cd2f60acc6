package validation

import (
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	k8svalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
)

// felixEnum lists the values a string setting accepts. Settings Felix reads
// case-insensitively have fold set.
type felixEnum struct {
	fold   bool
	values []string
}

// felixEnums covers every FelixConfiguration string setting with a fixed set of
// values, by JSON name.
var felixEnums = map[string]felixEnum{
	"iptablesBackend":                {false, []string{"Legacy", "NFT", "Auto"}},
	"chainInsertMode":                {true, []string{"Insert", "Append"}},
	"defaultEndpointToHostAction":    {true, []string{"Drop", "Accept", "Return"}},
	"iptablesFilterAllowAction":      {true, []string{"Accept", "Return"}},
	"iptablesMangleAllowAction":      {true, []string{"Accept", "Return"}},
	"iptablesFilterDenyAction":       {true, []string{"Drop", "Reject"}},
	"nftablesFilterAllowAction":      {true, []string{"Accept", "Return"}},
	"nftablesMangleAllowAction":      {true, []string{"Accept", "Return"}},
	"nftablesFilterDenyAction":       {true, []string{"Drop", "Reject"}},
	"logSeverityFile":                {true, logLevels},
	"logSeverityScreen":              {true, logLevels},
	"logSeveritySys":                 {true, append([]string{"None"}, logLevels...)},
	"natOutgoingExclusions":          {false, []string{"IPPoolsOnly", "IPPoolsAndHostIPs"}},
	"ipForwarding":                   {false, []string{"Enabled", "Disabled"}},
	"nftablesMode":                   {false, []string{"Disabled", "Enabled", "Auto"}},
	"bpfLogLevel":                    {true, []string{"Off", "Info", "Debug"}},
	"bpfConntrackLogLevel":           {false, []string{"Off", "Debug"}},
	"bpfConnectTimeLoadBalancing":    {false, []string{"TCP", "Enabled", "Disabled"}},
	"bpfHostNetworkedNATWithoutCTLB": {false, []string{"Enabled", "Disabled"}},
	"bpfExternalServiceMode":         {true, []string{"Tunnel", "DSR"}},
	"bpfMapSizeConntrackScaling":     {true, []string{"Disabled", "DoubleIfFull"}},
	"bpfEnforceRPF":                  {true, []string{"Disabled", "Strict", "Loose"}},
	"bpfRedirectToPeer":              {false, []string{"Enabled", "Disabled", "L2Only"}},
	"bpfAttachType":                  {false, []string{"TC", "TCX", "Netkit"}},
	"bpfProfiling":                   {false, []string{"Enabled", "Disabled"}},
	"bpfConntrackMode":               {false, []string{"Auto", "Userspace", "BPFProgram"}},
	"bpfJITHardening":                {false, []string{"Auto", "Strict"}},
	"bpfOverlayHostSourceIP":         {false, []string{"TunnelAddress", "HostAddress"}},
	"routeSource":                    {true, []string{"WorkloadIPs", "CalicoIPAM"}},
	"awsSrcDstCheck":                 {false, []string{"DoNothing", "Enable", "Disable"}},
	"serviceLoopPrevention":          {false, []string{"Drop", "Reject", "Disabled"}},
	"workloadSourceSpoofing":         {false, []string{"Disabled", "Any"}},
	"flowLogsPolicyScope":            {false, []string{"EndpointPolicies", "AllPolicies"}},
	"floatingIPs":                    {false, []string{"Enabled", "Disabled"}},
	"windowsManageFirewallRules":     {false, []string{"Enabled", "Disabled"}},
	"flowLogsLocalReporter":          {false, []string{"Disabled", "Enabled"}},
	"flowLogsPolicyEvaluationMode":   {false, []string{"None", "Continuous"}},
	"dnsPolicyMode":                  {false, []string{"NoDelay", "DelayDeniedPacket", "DelayDNSResponse"}},
	"istioAmbientMode":               {false, []string{"Enabled", "Disabled"}},
	"localSubnetL2Reachability":      {false, []string{"Disabled", "PodsAndLoadBalancers"}},
	"programClusterRoutes":           {false, []string{"Enabled", "Disabled", "EnabledIPIPOnly", "EnabledNoEncapOnly"}},
}

// felixRegexes are settings that hold a regular expression.
var felixRegexes = []string{"logDebugFilenameRegex", "bpfDataIfacePattern", "bpfL3IfacePattern", "mtuIfacePattern", "bpfDisableGROForIfaces"}

// felixPorts are settings that hold a TCP or UDP port (0 where it disables).
var felixPorts = []string{"healthPort", "prometheusMetricsPort", "debugPort", "metadataPort", "vxlanPort", "bpfKubeProxyHealthzPort"}

// felixRanges are integer settings with a range, by JSON name: {min, max, what}.
var felixRanges = map[string]struct {
	min, max int64
	what     string
}{
	"wireguardListeningPort":                {1, 65535, "a UDP port 1-65535"},
	"wireguardListeningPortV6":              {1, 65535, "a UDP port 1-65535"},
	"wireguardRoutingRulePriority":          {1, 32765, "a routing rule priority 1-32765 (32766 is the kernel's main table rule)"},
	"bpfExtToServiceConnmark":               {0, 0xffffffff, "a 32-bit mark 0-4294967295"},
	"bpfMaglevMaxEndpointsPerService":       {1, 3000, "1-3000"},
	"bpfMaglevMaxServices":                  {1, 3000, "1-3000"},
	"flowLogsFileAggregationKindForAllowed": {0, 3, "an aggregation level 0-3 (0 per 5-tuple, 1 without the source port, 2 also pods by workload and addresses by network, 3 also without the destination port)"},
	"flowLogsFileAggregationKindForDenied":  {0, 3, "an aggregation level 0-3 (0 per 5-tuple, 1 without the source port, 2 also pods by workload and addresses by network, 3 also without the destination port)"},
	"flowLogsFileMaxFiles":                  {1, 1000, "1-1000 files"},
	"flowLogsFileMaxFileSizeMB":             {1, 100000, "1-100000 MB"},
	"dnsLogsFileAggregationKind":            {0, 1, "0 (a record per client pod) or 1 (clients aggregated by workload)"},
	"dnsLogsFilePerNodeLimit":               {0, 1 << 31, "0 (no cap) or a number of records"},
}

// felixInterfaces are settings that hold a Linux interface name.
var felixInterfaces = []string{"wireguardInterfaceName", "wireguardInterfaceNameV6"}

var (
	// ifaceFilterRegex is an interface name or an iptables-style prefix
	// match ("eth+").
	ifaceFilterRegex    = regexp.MustCompile(`^[a-zA-Z0-9:._+-]{1,15}$`)
	prometheusHostRegex = regexp.MustCompile(`^[a-zA-Z0-9:._+-]{1,64}$`)
	healthNameRegex     = regexp.MustCompile(`^[a-zA-Z0-9_ -]+$`)
	featureDetectRegex  = regexp.MustCompile(`^([a-zA-Z0-9-_]+=(true|false|),)*([a-zA-Z0-9-_]+=(true|false|))?$`)
	featureGatesRegex   = regexp.MustCompile(`^([a-zA-Z0-9-_]+=([^=]+),)*([a-zA-Z0-9-_]+=([^=]+))?$`)
	logPrefixRegex      = regexp.MustCompile(`^([a-zA-Z0-9%: /_-])*$`)
	rateLimitRegex      = regexp.MustCompile(`^[1-9][0-9]{0,3}/(second|minute|hour|day)$`)
	ctTimeoutRegex      = regexp.MustCompile(`^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$`)
)

// felixFields indexes FelixConfigurationSpec's fields by JSON name.
var felixFields = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeOf(v3.FelixConfigurationSpec{})
	for i := 0; i < t.NumField(); i++ {
		m[strings.Split(t.Field(i).Tag.Get("json"), ",")[0]] = i
	}
	return m
}()

// felixValue returns the setting's value, dereferenced, or an invalid Value
// when unset.
func felixValue(s *v3.FelixConfigurationSpec, name string) reflect.Value {
	i, ok := felixFields[name]
	if !ok {
		panic("no FelixConfiguration setting " + name)
	}
	v := reflect.ValueOf(s).Elem().Field(i)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

func validateFelixConfiguration(c *v3.FelixConfiguration) field.ErrorList {
	errs := validateMeta(&c.ObjectMeta, false, subdomainName)
	s := &c.Spec
	for name, e := range felixEnums {
		v := felixValue(s, name)
		if !v.IsValid() || v.String() == "" {
			continue
		}
		p := specPath.Child(name)
		if e.fold {
			errs = append(errs, oneOfFold(p, v.String(), e.values...)...)
		} else {
			errs = append(errs, oneOf(p, v.String(), false, e.values...)...)
		}
	}
	for _, name := range felixRegexes {
		if v := felixValue(s, name); v.IsValid() && v.String() != "" {
			if _, err := regexp.Compile(v.String()); err != nil {
				errs = append(errs, field.Invalid(specPath.Child(name), v.String(), "must be a valid regular expression: "+err.Error()))
			}
		}
	}
	for _, name := range felixPorts {
		if v := felixValue(s, name); v.IsValid() && (v.Int() < 0 || v.Int() > 65535) {
			errs = append(errs, field.Invalid(specPath.Child(name), v.Int(), "must be a port number 0-65535"))
		}
	}
	for name, r := range felixRanges {
		if v := felixValue(s, name); v.IsValid() && (v.Int() < r.min || v.Int() > r.max) {
			errs = append(errs, field.Invalid(specPath.Child(name), v.Int(), "must be "+r.what))
		}
	}
	for _, name := range felixInterfaces {
		if v := felixValue(s, name); v.IsValid() && v.String() != "" {
			errs = append(errs, validateInterfaceName(specPath.Child(name), v.String())...)
		}
	}
	if f := s.IptablesNATOutgoingInterfaceFilter; f != "" && !ifaceFilterRegex.MatchString(f) {
		errs = append(errs, field.Invalid(specPath.Child("iptablesNATOutgoingInterfaceFilter"), f, `must be an interface name, or a prefix ending in "+" (e.g. eth+): 1-15 letters, digits or any of : . _ + -`))
	}
	if s.BPFForceTrackPacketsFromIfaces != nil {
		for i, f := range *s.BPFForceTrackPacketsFromIfaces {
			if !ifaceFilterRegex.MatchString(f) {
				errs = append(errs, field.Invalid(specPath.Child("bpfForceTrackPacketsFromIfaces").Index(i), f, `must be an interface name, or a prefix ending in "+" (e.g. docker+): 1-15 letters, digits or any of : . _ + -`))
			}
		}
	}
	if s.BPFLogFilters != nil {
		for k := range *s.BPFLogFilters {
			if !ifaceRegex.MatchString(k) {
				errs = append(errs, field.Invalid(specPath.Child("bpfLogFilters").Key(k), k, "keys must be interface names (1-15 letters, digits, '_', '.' or '-') or all, weps, heps"))
			}
		}
	}
	if h := s.PrometheusMetricsHost; h != "" && !prometheusHostRegex.MatchString(h) {
		errs = append(errs, field.Invalid(specPath.Child("prometheusMetricsHost"), h, "must be a host name or an IP address: 1-64 letters, digits or any of : . _ + -"))
	}
	// The region names a namespace, openstack-region-<region>.
	if r := s.OpenstackRegion; r != "" {
		const prefix = "openstack-region-"
		if max := 63 - len(prefix); len(r) > max {
			errs = append(errs, field.TooLong(specPath.Child("openstackRegion"), r, max))
		} else {
			for _, msg := range k8svalidation.IsDNS1123Label(r) {
				errs = append(errs, field.Invalid(specPath.Child("openstackRegion"), r, "must be a DNS-1123 label (it names the namespace "+prefix+"<region>): "+msg))
			}
		}
	}

	// Durations must not be negative.
	t := reflect.TypeOf(*s)
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Type != reflect.TypeOf(&metav1.Duration{}) {
			continue
		}
		if d := reflect.ValueOf(s).Elem().Field(i).Interface().(*metav1.Duration); d != nil && d.Duration < 0 {
			name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
			errs = append(errs, field.Invalid(specPath.Child(name), d.Duration.String(), "must not be negative; use 0 to disable where supported"))
		}
	}

	if d := s.FlowLogsFlushInterval; d != nil && d.Duration == 0 {
		errs = append(errs, field.Invalid(specPath.Child("flowLogsFlushInterval"), "0", "must be positive, e.g. 15s or 5m"))
	}
	if d := s.FlowLogsFileDirectory; d != nil && !strings.HasPrefix(*d, "/") {
		errs = append(errs, field.Invalid(specPath.Child("flowLogsFileDirectory"), *d, "must be an absolute path"))
	}
	if d := s.CaptureDir; d != nil && !strings.HasPrefix(*d, "/") {
		errs = append(errs, field.Invalid(specPath.Child("captureDir"), *d, "must be an absolute path"))
	}
	for name, v := range map[string]*int{"captureMaxSizeBytes": s.CaptureMaxSizeBytes, "captureRotationSeconds": s.CaptureRotationSeconds, "captureMaxFiles": s.CaptureMaxFiles} {
		if v != nil && *v < 1 {
			errs = append(errs, field.Invalid(specPath.Child(name), *v, "must be at least 1"))
		}
	}
	if d := s.DNSLogsFileDirectory; d != nil && !strings.HasPrefix(*d, "/") {
		errs = append(errs, field.Invalid(specPath.Child("dnsLogsFileDirectory"), *d, "must be an absolute path"))
	}
	if d := s.DNSLogsFlushInterval; d != nil && d.Duration == 0 {
		errs = append(errs, field.Invalid(specPath.Child("dnsLogsFlushInterval"), "0", "must be positive, e.g. 15s or 5m"))
	}
	if ts := s.DNSTrustedServers; ts != nil {
		for i, server := range *ts {
			if err := checkTrustedServer(server); err != nil {
				errs = append(errs, field.Invalid(specPath.Child("dnsTrustedServers").Index(i), server, err.Error()))
			}
		}
	}

	if s.NodeSelector != "" && (c.Name == v3.DefaultConfigName || strings.HasPrefix(c.Name, v3.NodeConfigPrefix)) {
		errs = append(errs, field.Forbidden(specPath.Child("nodeSelector"), "is not allowed on the default or a node.<name> FelixConfiguration; give the configuration another name"))
	}
	errs = append(errs, validateSelector(specPath.Child("nodeSelector"), s.NodeSelector, false)...)

	if s.FeatureDetectOverride != "" && !featureDetectRegex.MatchString(s.FeatureDetectOverride) {
		errs = append(errs, field.Invalid(specPath.Child("featureDetectOverride"), s.FeatureDetectOverride, `must be a comma-separated list of Feature=true|false| with no spaces, e.g. "SNATFullyRandom=true,MASQFullyRandom=false"`))
	}
	if s.FeatureGates != "" && !featureGatesRegex.MatchString(s.FeatureGates) {
		errs = append(errs, field.Invalid(specPath.Child("featureGates"), s.FeatureGates, `must be a comma-separated list of Feature=value with no spaces`))
	}
	if s.LogPrefix != "" && !logPrefixRegex.MatchString(s.LogPrefix) {
		errs = append(errs, field.Invalid(specPath.Child("logPrefix"), s.LogPrefix, "may only contain letters, digits, spaces and any of % : / _ -"))
	}
	if s.LogActionRateLimit != nil && !rateLimitRegex.MatchString(*s.LogActionRateLimit) {
		errs = append(errs, field.Invalid(specPath.Child("logActionRateLimit"), *s.LogActionRateLimit, `must be "N/unit" with N 1-9999 and unit second, minute, hour or day, e.g. "10/second"`))
	}
	if b := s.LogActionRateLimitBurst; b != nil && (*b < 0 || *b > 9999) {
		errs = append(errs, field.Invalid(specPath.Child("logActionRateLimitBurst"), *b, "must be 0-9999"))
	}
	if s.InterfaceExclude != "" {
		for _, item := range strings.Split(s.InterfaceExclude, ",") {
			if strings.HasPrefix(item, "/") && strings.HasSuffix(item, "/") && len(item) > 1 {
				if _, err := regexp.Compile(item[1 : len(item)-1]); err != nil {
					errs = append(errs, field.Invalid(specPath.Child("interfaceExclude"), item, "must be a valid /regular expression/: "+err.Error()))
				}
			}
		}
	}
	for _, pp := range []struct {
		name  string
		ports *[]v3.ProtoPort
	}{{"failsafeInboundHostPorts", s.FailsafeInboundHostPorts}, {"failsafeOutboundHostPorts", s.FailsafeOutboundHostPorts}} {
		if pp.ports == nil {
			continue
		}
		for i, port := range *pp.ports {
			p := specPath.Child(pp.name).Index(i)
			// Port 0 is accepted, as in Calico. The protocol is matched in any
			// case: Felix's own failsafe settings are written "tcp:22".
			errs = append(errs, oneOfFold(p.Child("protocol"), port.Protocol, "TCP", "UDP", "SCTP")...)
			if port.Protocol == "" {
				errs = append(errs, field.Required(p.Child("protocol"), "TCP, UDP or SCTP"))
			}
			if port.Net != "" {
				errs = append(errs, validateNetList(p.Child("net"), []string{port.Net}, true, 1)...)
			}
		}
	}
	if s.KubeNodePortRanges != nil {
		kp := specPath.Child("kubeNodePortRanges")
		if len(*s.KubeNodePortRanges) > 7 {
			errs = append(errs, field.TooMany(kp, len(*s.KubeNodePortRanges), 7))
		}
		for i, port := range *s.KubeNodePortRanges {
			errs = append(errs, validateNumericPort(kp.Index(i), port)...)
		}
	}
	if s.NATPortRange != nil {
		errs = append(errs, validateNumericPort(specPath.Child("natPortRange"), *s.NATPortRange)...)
	}
	if s.BPFPSNATPorts != nil {
		errs = append(errs, validateNumericPort(specPath.Child("bpfPSNATPorts"), *s.BPFPSNATPorts)...)
	}
	if s.RouteTableRange != nil && s.RouteTableRanges != nil {
		errs = append(errs, field.Forbidden(specPath.Child("routeTableRange"), "routeTableRange and routeTableRanges cannot both be set; routeTableRange is deprecated"))
	}
	if r := s.RouteTableRange; r != nil && (r.Min < 1 || r.Max < r.Min || r.Max > 250) {
		errs = append(errs, field.Invalid(specPath.Child("routeTableRange"), fmt.Sprintf("%d-%d", r.Min, r.Max), "must be a range of route table indices within 1-250"))
	}
	if s.RouteTableRanges != nil {
		tables := int64(0)
		for i, r := range *s.RouteTableRanges {
			if r.Min < 1 || r.Max < r.Min || int64(r.Max) > 0xffffffff {
				errs = append(errs, field.Invalid(specPath.Child("routeTableRanges").Index(i), fmt.Sprintf("%d-%d", r.Min, r.Max), "must be a range min-max with 1 <= min <= max <= 4294967295"))
				continue
			}
			tables += int64(r.Max) - int64(r.Min) + 1
		}
		// Felix manages every table it is given: keep the count sane.
		if tables > 0xffff {
			errs = append(errs, field.Invalid(specPath.Child("routeTableRanges"), tables, "the ranges add up to more than 65535 route tables; use fewer or smaller ranges"))
		}
	}
	if s.NATOutgoingAddress != "" {
		errs = append(errs, validateIP(specPath.Child("natOutgoingAddress"), s.NATOutgoingAddress, 4)...)
	}
	if s.DeviceRouteSourceAddress != "" {
		errs = append(errs, validateIP(specPath.Child("deviceRouteSourceAddress"), s.DeviceRouteSourceAddress, 4)...)
	}
	if s.DeviceRouteSourceAddressIPv6 != "" {
		errs = append(errs, validateIP(specPath.Child("deviceRouteSourceAddressIPv6"), s.DeviceRouteSourceAddressIPv6, 6)...)
	}
	if s.VXLANVNI != nil && (*s.VXLANVNI < 0 || *s.VXLANVNI > 1<<24-1) {
		errs = append(errs, field.Invalid(specPath.Child("vxlanVNI"), *s.VXLANVNI, "must be a VXLAN network identifier 0-16777215"))
	}
	for _, name := range []string{"ipv4NormalRoutePriority", "ipv4ElevatedRoutePriority", "ipv6NormalRoutePriority", "ipv6ElevatedRoutePriority"} {
		if v := felixValue(s, name); v.IsValid() && (v.Int() < 1 || v.Int() > 2147483646) {
			errs = append(errs, field.Invalid(specPath.Child(name), v.Int(), "must be 1-2147483646"))
		}
	}
	for _, name := range []string{"goGCThreshold", "goMemoryLimitMB", "goMaxProcs"} {
		if v := felixValue(s, name); v.IsValid() && v.Int() < -1 {
			errs = append(errs, field.Invalid(specPath.Child(name), v.Int(), "must be -1 or more"))
		}
	}
	if q := s.BPFMapSizeConntrackCleanupQueue; q != nil && *q < 1 {
		errs = append(errs, field.Invalid(specPath.Child("bpfMapSizeConntrackCleanupQueue"), *q, "must be at least 1"))
	}
	for i, h := range s.HealthTimeoutOverrides {
		hp := specPath.Child("healthTimeoutOverrides").Index(i)
		if h.Name == "" {
			errs = append(errs, field.Required(hp.Child("name"), "the name of a health reporter, e.g. InternalDataplaneMainLoop"))
		} else if !healthNameRegex.MatchString(h.Name) {
			errs = append(errs, field.Invalid(hp.Child("name"), h.Name, "must be the name of a health reporter: letters, digits, '_', '-' and spaces, e.g. InternalDataplaneMainLoop"))
		}
		if h.Timeout.Duration < 0 {
			errs = append(errs, field.Invalid(hp.Child("timeout"), h.Timeout.Duration.String(), "must not be negative"))
		}
	}
	if t := s.BPFConntrackTimeouts; t != nil {
		tp := specPath.Child("bpfConntrackTimeouts")
		for _, ct := range []struct {
			name string
			v    *string
		}{{"creationGracePeriod", t.CreationGracePeriod}, {"tcpSynSent", t.TCPSynSent}, {"tcpEstablished", t.TCPEstablished},
			{"tcpFinsSeen", t.TCPFinsSeen}, {"tcpResetSeen", t.TCPResetSeen}, {"udpTimeout", t.UDPTimeout},
			{"genericTimeout", t.GenericTimeout}, {"icmpTimeout", t.ICMPTimeout}} {
			if ct.v != nil && !ctTimeoutRegex.MatchString(*ct.v) {
				errs = append(errs, field.Invalid(tp.Child(ct.name), *ct.v, `must be a duration such as 30s or "Auto"`))
			}
		}
	}
	if s.ExternalNodesCIDRList != nil {
		enp := specPath.Child("externalNodesList")
		nerrs, fams := validateNets(enp, *s.ExternalNodesCIDRList, true, 100000)
		errs = append(errs, nerrs...)
		if fams[6] {
			errs = append(errs, field.Invalid(enp, "IPv6 ranges", "must list IPv4 addresses and CIDRs only"))
		}
	}
	if s.BPFDSROptoutCIDRs != nil {
		errs = append(errs, validateNetList(specPath.Child("bpfDSROptoutCIDRs"), *s.BPFDSROptoutCIDRs, true, 100000)...)
	}
	if s.BPFExcludeCIDRsFromNAT != nil {
		errs = append(errs, validateNetList(specPath.Child("bpfExcludeCIDRsFromNAT"), *s.BPFExcludeCIDRsFromNAT, true, 100000)...)
	}
	return errs
}

// validateNumericPort checks a port or port range that must not be a name.
func validateNumericPort(p *field.Path, port v3.Port) field.ErrorList {
	if err := port.Validate(); err != nil {
		return field.ErrorList{field.Invalid(p, port.String(), err.Error())}
	}
	if port.IsNamed() {
		return field.ErrorList{field.Invalid(p, port.String(), `must be a port number or a range "min:max", not a name`)}
	}
	return nil
}

func validateKubeControllersConfiguration(k *v3.KubeControllersConfiguration) field.ErrorList {
	errs := validateMeta(&k.ObjectMeta, false, subdomainName)
	errs = append(errs, validateKCCSpec(specPath, &k.Spec)...)
	if k.Status.RunningConfig != nil {
		errs = append(errs, validateKCCSpec(field.NewPath("status", "runningConfig"), k.Status.RunningConfig)...)
	}
	return errs
}

func validateKCCSpec(p *field.Path, s *v3.KubeControllersConfigurationSpec) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, oneOf(p.Child("logSeverityScreen"), s.LogSeverityScreen, true, "None", "Debug", "Info", "Warning", "Error", "Fatal", "Panic")...)
	errs = append(errs, oneOf(p.Child("healthChecks"), s.HealthChecks, true, v3.Enabled, v3.Disabled)...)
	errs = append(errs, nonNegative(p.Child("etcdV3CompactionPeriod"), s.EtcdV3CompactionPeriod)...)
	if v := s.PrometheusMetricsPort; v != nil && (*v < 0 || *v > 65535) {
		errs = append(errs, field.Invalid(p.Child("prometheusMetricsPort"), *v, "must be a port number 0-65535 (0 disables)"))
	}
	if v := s.DebugProfilePort; v != nil && (*v < 0 || *v > 65535) {
		errs = append(errs, field.Invalid(p.Child("debugProfilePort"), *v, "must be a port number 0-65535"))
	}
	cp := p.Child("controllers")
	c := s.Controllers
	if n := c.Node; n != nil {
		np := cp.Child("node")
		errs = append(errs, nonNegative(np.Child("reconcilerPeriod"), n.ReconcilerPeriod)...)
		errs = append(errs, nonNegative(np.Child("leakGracePeriod"), n.LeakGracePeriod)...)
		errs = append(errs, oneOf(np.Child("syncLabels"), n.SyncLabels, true, v3.Enabled, v3.Disabled)...)
		if h := n.HostEndpoint; h != nil {
			hp := np.Child("hostEndpoint")
			errs = append(errs, oneOf(hp.Child("autoCreate"), h.AutoCreate, true, v3.Enabled, v3.Disabled)...)
			errs = append(errs, oneOf(hp.Child("createDefaultHostEndpoint"), h.CreateDefaultHostEndpoint, true, v3.Enabled, v3.Disabled)...)
			for i, t := range h.Templates {
				tp := hp.Child("templates").Index(i)
				if t.GenerateName != "" {
					errs = append(errs, validateObjectName(tp.Child("generateName"), t.GenerateName, "")...)
				}
				errs = append(errs, validateNetList(tp.Child("interfaceCIDRs"), t.InterfaceCIDRs, true, 1000)...)
				if t.InterfacePattern != "" {
					if _, err := regexp.Compile(t.InterfacePattern); err != nil {
						errs = append(errs, field.Invalid(tp.Child("interfacePattern"), t.InterfacePattern, "must be a valid regular expression: "+err.Error()))
					}
				}
				errs = append(errs, metav1validation.ValidateLabels(t.Labels, tp.Child("labels"))...)
				errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, tp.Child("annotations"))...)
				errs = append(errs, validateSelector(tp.Child("nodeSelector"), t.NodeSelector, false)...)
			}
		}
	}
	if c.Policy != nil {
		errs = append(errs, nonNegative(cp.Child("policy", "reconcilerPeriod"), c.Policy.ReconcilerPeriod)...)
	}
	if c.WorkloadEndpoint != nil {
		errs = append(errs, nonNegative(cp.Child("workloadEndpoint", "reconcilerPeriod"), c.WorkloadEndpoint.ReconcilerPeriod)...)
	}
	if c.ServiceAccount != nil {
		errs = append(errs, nonNegative(cp.Child("serviceAccount", "reconcilerPeriod"), c.ServiceAccount.ReconcilerPeriod)...)
	}
	if c.Namespace != nil {
		errs = append(errs, nonNegative(cp.Child("namespace", "reconcilerPeriod"), c.Namespace.ReconcilerPeriod)...)
	}
	if c.LoadBalancer != nil {
		errs = append(errs, oneOf(cp.Child("loadBalancer", "assignIPs"), c.LoadBalancer.AssignIPs, true, v3.AllServices, v3.RequestedServicesOnly)...)
	}
	if c.Migration != nil {
		errs = append(errs, oneOf(cp.Child("policyMigration", "enabled"), c.Migration.PolicyNameMigrator, true, v3.Enabled, v3.Disabled)...)
	}
	return errs
}

func nonNegative(p *field.Path, d *metav1.Duration) field.ErrorList {
	if d != nil && d.Duration < 0 {
		return field.ErrorList{field.Invalid(p, d.Duration.String(), "must not be negative")}
	}
	return nil
}

func validateCalicoNodeStatus(n *v3.CalicoNodeStatus) field.ErrorList {
	errs := validateMeta(&n.ObjectMeta, false, subdomainName)
	if n.Spec.Node == "" {
		errs = append(errs, field.Required(specPath.Child("node"), "the name of the node that reports"))
	} else {
		errs = append(errs, validateNodeName(specPath.Child("node"), n.Spec.Node)...)
	}
	seen := map[v3.NodeStatusClassType]bool{}
	for i, c := range n.Spec.Classes {
		errs = append(errs, oneOf(specPath.Child("classes").Index(i), c, false, v3.NodeStatusClassTypeAgent, v3.NodeStatusClassTypeBGP, v3.NodeStatusClassTypeRoutes)...)
		if seen[c] {
			errs = append(errs, field.Duplicate(specPath.Child("classes").Index(i), c))
		}
		seen[c] = true
	}
	if p := n.Spec.UpdatePeriodSeconds; p != nil && *p > 86400 {
		errs = append(errs, field.Invalid(specPath.Child("updatePeriodSeconds"), *p, "must be 0-86400 (a day); 0 stops reporting"))
	}
	return errs
}

func validateIPAMConfiguration(c *v3.IPAMConfiguration) field.ErrorList {
	errs := validateMeta(&c.ObjectMeta, false, subdomainName)
	s := c.Spec
	if s.MaxBlocksPerHost < 0 || s.MaxBlocksPerHost > 1000000 {
		errs = append(errs, field.Invalid(specPath.Child("maxBlocksPerHost"), s.MaxBlocksPerHost, "must be 0-1000000 (0 means the default of 20)"))
	}
	if s.IPCooldownSeconds != nil && (*s.IPCooldownSeconds < 0 || *s.IPCooldownSeconds > 1200) {
		errs = append(errs, field.Invalid(specPath.Child("ipCooldownSeconds"), *s.IPCooldownSeconds, "must be 0-1200"))
	}
	if s.KubeVirtVMAddressPersistence != nil {
		errs = append(errs, oneOf(specPath.Child("kubeVirtVMAddressPersistence"), *s.KubeVirtVMAddressPersistence, false, v3.Enabled, v3.Disabled)...)
	}
	return errs
}

// ipNet parses a /32 or /128 endpoint address network.
func hostNet(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, err := netip.ParseAddr(s); err == nil {
			return netip.PrefixFrom(a, a.BitLen()), true
		}
		return netip.Prefix{}, false
	}
	return p, p.IsSingleIP()
}

// TrustedServer is a dnsTrustedServers entry: a Service
// ("namespace/name", kube-system by default) or an address, and the port
// (53 by default).
type TrustedServer struct {
	Service string
	Addr    netip.Addr
	Port    uint16
}

// ParseTrustedServer reads a dnsTrustedServers entry: IP, IP:port,
// [IPv6]:port, or k8s-service:[NAMESPACE/]NAME[:PORT].
func ParseTrustedServer(s string) (TrustedServer, error) {
	t := TrustedServer{Port: 53}
	if svc, ok := strings.CutPrefix(s, "k8s-service:"); ok {
		name, p, hasPort := strings.Cut(svc, ":")
		if hasPort {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return t, fmt.Errorf("port %q: want 1-65535", p)
			}
			t.Port = uint16(n)
		}
		ns, n, namespaced := strings.Cut(name, "/")
		if !namespaced {
			ns, n = "kube-system", name
		}
		for what, v := range map[string]string{"namespace": ns, "Service name": n} {
			if msgs := k8svalidation.IsDNS1123Label(v); len(msgs) > 0 {
				return t, fmt.Errorf("%s %q: %s (want k8s-service:[NAMESPACE/]NAME[:PORT])", what, v, msgs[0])
			}
		}
		t.Service = ns + "/" + n
		return t, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		t.Addr = a.Unmap()
		return t, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return t, fmt.Errorf("want an IP address, IP:port, [IPv6]:port or k8s-service:[NAMESPACE/]NAME[:PORT]")
	}
	if ap.Port() == 0 {
		return t, fmt.Errorf("port 0: want 1-65535")
	}
	t.Addr, t.Port = ap.Addr().Unmap(), ap.Port()
	return t, nil
}

// checkTrustedServer checks a dnsTrustedServers entry.
func checkTrustedServer(s string) error {
	_, err := ParseTrustedServer(s)
	return err
}
