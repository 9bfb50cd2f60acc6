package v3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// FelixConfiguration configures Felix: "default" for the cluster, "node.<name>"
// for one node, any other name for the nodes its spec.nodeSelector picks. Values
// left unset fall back to the next source (environment, config file, per-node,
// per-selector, global, built-in default).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName={felixconfig,felixconfigs}
// +kubebuilder:printcolumn:name="NodeSelector",type=string,JSONPath=`.spec.nodeSelector`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!(self.metadata.name == 'default' || self.metadata.name.startsWith('node.')) || !has(self.spec.nodeSelector)",message="nodeSelector is not allowed on the default or a node.<name> FelixConfiguration",reason=FieldValueForbidden
type FelixConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec FelixConfigurationSpec `json:"spec"`
}

// FelixConfigurationSpec holds Felix's settings. Every field is optional.
//
// +kubebuilder:validation:XValidation:rule="!has(self.routeTableRange) || !has(self.routeTableRanges)",message="routeTableRange and routeTableRanges cannot both be set",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.natOutgoingAddress) || size(self.natOutgoingAddress) == 0 || (isIP(self.natOutgoingAddress) && ip(self.natOutgoingAddress).family() == 4)",message="natOutgoingAddress must be an IPv4 address",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.deviceRouteSourceAddress) || size(self.deviceRouteSourceAddress) == 0 || (isIP(self.deviceRouteSourceAddress) && ip(self.deviceRouteSourceAddress).family() == 4)",message="deviceRouteSourceAddress must be an IPv4 address",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.deviceRouteSourceAddressIPv6) || size(self.deviceRouteSourceAddressIPv6) == 0 || (isIP(self.deviceRouteSourceAddressIPv6) && ip(self.deviceRouteSourceAddressIPv6).family() == 6)",message="deviceRouteSourceAddressIPv6 must be an IPv6 address",reason=FieldValueInvalid
type FelixConfigurationSpec struct {
	// UseInternalDataplaneDriver selects Felix's built-in dataplane (true) or an external
	// driver process (false).
	// +optional
	UseInternalDataplaneDriver *bool `json:"useInternalDataplaneDriver,omitempty"`

	// DataplaneDriver is the path of the external dataplane driver.
	// +optional
	DataplaneDriver string `json:"dataplaneDriver,omitempty"`

	// DataplaneWatchdogTimeout is the liveness timeout of the dataplane loop. Deprecated:
	// use HealthTimeoutOverrides.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	DataplaneWatchdogTimeout *metav1.Duration `json:"dataplaneWatchdogTimeout,omitempty"`

	// IPv6Support turns IPv6 handling on or off.
	// +optional
	IPv6Support *bool `json:"ipv6Support,omitempty"`

	// RouteRefreshInterval is how often routes are re-checked; 0 disables. [Default: 90s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	RouteRefreshInterval *metav1.Duration `json:"routeRefreshInterval,omitempty"`

	// InterfaceRefreshInterval is how often interfaces are rescanned; 0 disables.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	InterfaceRefreshInterval *metav1.Duration `json:"interfaceRefreshInterval,omitempty"`

	// IptablesRefreshInterval is how often the iptables rules are re-checked; 0 disables.
	// [Default: 180s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	IptablesRefreshInterval *metav1.Duration `json:"iptablesRefreshInterval,omitempty"`

	// IptablesPostWriteCheckInterval is the delay before re-reading iptables after a write.
	// [Default: 1s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	IptablesPostWriteCheckInterval *metav1.Duration `json:"iptablesPostWriteCheckInterval,omitempty"`

	// IptablesLockFilePath is the xtables lock file. Deprecated: no longer used.
	// +optional
	IptablesLockFilePath string `json:"iptablesLockFilePath,omitempty"`

	// IptablesLockTimeout is how long to wait for the xtables lock. Deprecated: no longer
	// used.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	IptablesLockTimeout *metav1.Duration `json:"iptablesLockTimeout,omitempty"`

	// IptablesLockProbeInterval is the delay between attempts to take the xtables lock.
	// [Default: 50ms]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	IptablesLockProbeInterval *metav1.Duration `json:"iptablesLockProbeInterval,omitempty"`

	// FeatureDetectOverride forces detected kernel features on or off, e.g.
	// "SNATFullyRandom=true,MASQFullyRandom=false".
	// +kubebuilder:validation:Pattern=`^([a-zA-Z0-9-_]+=(true|false|),)*([a-zA-Z0-9-_]+=(true|false|))?$`
	// +optional
	FeatureDetectOverride string `json:"featureDetectOverride,omitempty"`

	// FeatureGates turns tech-preview features on or off, e.g. "Feature=enabled".
	// +kubebuilder:validation:Pattern=`^([a-zA-Z0-9-_]+=([^=]+),)*([a-zA-Z0-9-_]+=([^=]+))?$`
	// +optional
	FeatureGates string `json:"featureGates,omitempty"`

	// IpsetsRefreshInterval is how often IP sets are re-checked; 0 disables. [Default: 90s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	IpsetsRefreshInterval *metav1.Duration `json:"ipsetsRefreshInterval,omitempty"`

	// MaxIpsetSize is the maximum number of members of an IP set. [Default: 1048576]
	// +optional
	MaxIpsetSize *int `json:"maxIpsetSize,omitempty"`

	// IptablesBackend selects the iptables backend. [Default: Auto]
	// +kubebuilder:validation:Enum=Legacy;NFT;Auto
	// +optional
	IptablesBackend *IptablesBackend `json:"iptablesBackend,omitempty"`

	// XDPRefreshInterval is how often XDP state is re-checked; 0 disables. [Default: 90s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	XDPRefreshInterval *metav1.Duration `json:"xdpRefreshInterval,omitempty"`

	// NetlinkTimeout bounds netlink requests. [Default: 10s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	NetlinkTimeout *metav1.Duration `json:"netlinkTimeout,omitempty"`

	// MetadataAddr is the address of the cloud metadata server, or "None". [Default:
	// 127.0.0.1]
	// +optional
	MetadataAddr string `json:"metadataAddr,omitempty"`

	// MetadataPort is the port of the metadata server. [Default: 8775]
	// +optional
	MetadataPort *int `json:"metadataPort,omitempty"`

	// OpenstackRegion is the OpenStack region this Felix belongs to.
	// +optional
	OpenstackRegion string `json:"openstackRegion,omitempty"`

	// InterfacePrefix is the name prefix of workload interfaces; comma-separated for
	// several. [Default: cali]
	// +optional
	InterfacePrefix string `json:"interfacePrefix,omitempty"`

	// InterfaceExclude lists interfaces (or /regex/ patterns) to ignore as host endpoints.
	// [Default: kube-ipvs0]
	// +optional
	InterfaceExclude string `json:"interfaceExclude,omitempty"`

	// ChainInsertMode says whether Felix's hooks go at the top (insert) or bottom (append)
	// of the kernel chains. [Default: insert]
	// +kubebuilder:validation:Pattern=`^(?i)(insert|append)?$`
	// +optional
	ChainInsertMode string `json:"chainInsertMode,omitempty"`

	// DefaultEndpointToHostAction is what happens to traffic from a workload to its own host
	// after egress policy. [Default: Drop]
	// +kubebuilder:validation:Pattern=`^(?i)(drop|accept|return)?$`
	// +optional
	DefaultEndpointToHostAction string `json:"defaultEndpointToHostAction,omitempty"`

	// IptablesFilterAllowAction is the verdict for allowed traffic in the filter table.
	// [Default: Accept]
	// +kubebuilder:validation:Pattern=`^(?i)(accept|return)?$`
	// +optional
	IptablesFilterAllowAction string `json:"iptablesFilterAllowAction,omitempty"`

	// IptablesMangleAllowAction is the verdict for allowed traffic in the mangle table.
	// [Default: Accept]
	// +kubebuilder:validation:Pattern=`^(?i)(accept|return)?$`
	// +optional
	IptablesMangleAllowAction string `json:"iptablesMangleAllowAction,omitempty"`

	// IptablesFilterDenyAction is the verdict for denied traffic. [Default: Drop]
	// +kubebuilder:validation:Pattern=`^(?i)(drop|reject)?$`
	// +optional
	IptablesFilterDenyAction string `json:"iptablesFilterDenyAction,omitempty"`

	// LogPrefix prefixes packets logged by Log rules; %t, %k, %n and %p expand to tier,
	// kind, name and namespaced name. [Default: calico-packet]
	// +kubebuilder:validation:Pattern=`^([a-zA-Z0-9%: /_-])*$`
	// +optional
	LogPrefix string `json:"logPrefix,omitempty"`

	// LogFilePath is Felix's log file, or "none". [Default: /var/log/calico/felix.log]
	// +optional
	LogFilePath string `json:"logFilePath,omitempty"`

	// LogSeverityFile is the minimum severity written to the log file. [Default: Info]
	// +kubebuilder:validation:Pattern=`^(?i)(trace|debug|info|warning|error|fatal)?$`
	// +optional
	LogSeverityFile string `json:"logSeverityFile,omitempty"`

	// LogSeverityScreen is the minimum severity written to stdout. [Default: Info]
	// +kubebuilder:validation:Pattern=`^(?i)(trace|debug|info|warning|error|fatal)?$`
	// +optional
	LogSeverityScreen string `json:"logSeverityScreen,omitempty"`

	// LogSeveritySys is the minimum severity sent to syslog, or None. [Default: Info]
	// +kubebuilder:validation:Pattern=`^(?i)(trace|debug|info|warning|error|fatal|none)?$`
	// +optional
	LogSeveritySys string `json:"logSeveritySys,omitempty"`

	// LogDebugFilenameRegex limits debug logs to source files whose names match.
	// +optional
	LogDebugFilenameRegex string `json:"logDebugFilenameRegex,omitempty"`

	// LogActionRateLimit limits how often Log rules log, as "N/unit", e.g. "10/second".
	// +kubebuilder:validation:Pattern=`^[1-9][0-9]{0,3}/(second|minute|hour|day)$`
	// +optional
	LogActionRateLimit *string `json:"logActionRateLimit,omitempty"`

	// LogActionRateLimitBurst is the burst allowed by LogActionRateLimit.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=9999
	// +optional
	LogActionRateLimitBurst *int `json:"logActionRateLimitBurst,omitempty"`

	// IPIPEnabled forces the IPIP device on or off; unset means decided from the IP pools.
	// +optional
	IPIPEnabled *bool `json:"ipipEnabled,omitempty"`

	// IPIPMTU is the MTU of the IPIP device; 0 means detected.
	// +optional
	IPIPMTU *int `json:"ipipMTU,omitempty"`

	// VXLANEnabled forces the IPv4 VXLAN device on or off; unset means decided from the IP
	// pools.
	// +optional
	VXLANEnabled *bool `json:"vxlanEnabled,omitempty"`

	// VXLANMTU is the MTU of the IPv4 VXLAN device; 0 means detected.
	// +optional
	VXLANMTU *int `json:"vxlanMTU,omitempty"`

	// VXLANMTUV6 is the MTU of the IPv6 VXLAN device; 0 means detected.
	// +optional
	VXLANMTUV6 *int `json:"vxlanMTUV6,omitempty"`

	// VXLANPort is the UDP port of VXLAN traffic. [Default: 4789]
	// +optional
	VXLANPort *int `json:"vxlanPort,omitempty"`

	// VXLANVNI is the VXLAN network identifier. [Default: 4096]
	// +optional
	VXLANVNI *int `json:"vxlanVNI,omitempty"`

	// AllowVXLANPacketsFromWorkloads stops Felix dropping VXLAN packets sent by workloads.
	// [Default: false]
	// +optional
	AllowVXLANPacketsFromWorkloads *bool `json:"allowVXLANPacketsFromWorkloads,omitempty"`

	// AllowIPIPPacketsFromWorkloads stops Felix dropping IPIP packets sent by workloads.
	// [Default: false]
	// +optional
	AllowIPIPPacketsFromWorkloads *bool `json:"allowIPIPPacketsFromWorkloads,omitempty"`

	// ReportingInterval is how often Felix reports its status; 0 disables. [Default: 30s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	ReportingInterval *metav1.Duration `json:"reportingInterval,omitempty"`

	// ReportingTTL is the time-to-live of status reports. [Default: 90s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	ReportingTTL *metav1.Duration `json:"reportingTTL,omitempty"`

	// EndpointReportingEnabled makes Felix report endpoint status to the datastore.
	// [Default: false]
	// +optional
	EndpointReportingEnabled *bool `json:"endpointReportingEnabled,omitempty"`

	// EndpointReportingDelay is the delay before endpoint status is reported. [Default: 1s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	EndpointReportingDelay *metav1.Duration `json:"endpointReportingDelay,omitempty"`

	// EndpointStatusPathPrefix is the directory where endpoint status files are written;
	// empty disables.
	// +optional
	EndpointStatusPathPrefix string `json:"endpointStatusPathPrefix,omitempty"`

	// IptablesMarkMask is the set of packet mark bits Felix may use. [Default: 0xffff0000]
	// +kubebuilder:validation:Format=int64
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	IptablesMarkMask *uint32 `json:"iptablesMarkMask,omitempty"`

	// DisableConntrackInvalidCheck stops Felix dropping packets conntrack considers invalid.
	// +optional
	DisableConntrackInvalidCheck *bool `json:"disableConntrackInvalidCheck,omitempty"`

	// HealthEnabled starts the health endpoint. [Default: false]
	// +optional
	HealthEnabled *bool `json:"healthEnabled,omitempty"`

	// HealthHost is the health endpoint's listen address. [Default: localhost]
	// +optional
	HealthHost *string `json:"healthHost,omitempty"`

	// HealthPort is the health endpoint's port. [Default: 9099]
	// +optional
	HealthPort *int `json:"healthPort,omitempty"`

	// HealthTimeoutOverrides changes the liveness timeouts of named internal components.
	// +listType=atomic
	// +optional
	HealthTimeoutOverrides []HealthTimeoutOverride `json:"healthTimeoutOverrides,omitempty"`

	// PrometheusMetricsEnabled starts the metrics endpoint. [Default: false]
	// +optional
	PrometheusMetricsEnabled *bool `json:"prometheusMetricsEnabled,omitempty"`

	// PrometheusMetricsHost is the metrics endpoint's listen address.
	// +optional
	PrometheusMetricsHost string `json:"prometheusMetricsHost,omitempty"`

	// PrometheusMetricsPort is the metrics endpoint's port. [Default: 9091]
	// +optional
	PrometheusMetricsPort *int `json:"prometheusMetricsPort,omitempty"`

	// PrometheusGoMetricsEnabled exports Go runtime metrics. [Default: true]
	// +optional
	PrometheusGoMetricsEnabled *bool `json:"prometheusGoMetricsEnabled,omitempty"`

	// PrometheusProcessMetricsEnabled exports process metrics. [Default: true]
	// +optional
	PrometheusProcessMetricsEnabled *bool `json:"prometheusProcessMetricsEnabled,omitempty"`

	// PrometheusWireGuardMetricsEnabled exports WireGuard metrics. [Default: true]
	// +optional
	PrometheusWireGuardMetricsEnabled *bool `json:"prometheusWireGuardMetricsEnabled,omitempty"`

	// PrometheusMetricsCAFile is the CA used to verify metrics clients.
	// +optional
	PrometheusMetricsCAFile string `json:"prometheusMetricsCAFile,omitempty"`

	// PrometheusMetricsCertFile is the metrics endpoint's TLS certificate.
	// +optional
	PrometheusMetricsCertFile string `json:"prometheusMetricsCertFile,omitempty"`

	// PrometheusMetricsKeyFile is the metrics endpoint's TLS key.
	// +optional
	PrometheusMetricsKeyFile string `json:"prometheusMetricsKeyFile,omitempty"`

	// PrometheusMetricsClientAuth is the TLS client-authentication policy of the metrics
	// endpoint. [Default: RequireAndVerifyClientCert]
	// +optional
	PrometheusMetricsClientAuth string `json:"prometheusMetricsClientAuth,omitempty"`

	// FailsafeInboundHostPorts are always open towards host endpoints, whatever the policy;
	// [] opens none. [Default: tcp:22, udp:68, tcp:179, tcp:2379, tcp:2380, tcp:5473,
	// tcp:6443, tcp:6666, tcp:6667]
	// +listType=atomic
	// +optional
	FailsafeInboundHostPorts *[]ProtoPort `json:"failsafeInboundHostPorts,omitempty"`

	// FailsafeOutboundHostPorts are always open from host endpoints, whatever the policy; []
	// opens none. [Default: udp:53, udp:67, tcp:179, tcp:2379, tcp:2380, tcp:5473, tcp:6443,
	// tcp:6666, tcp:6667]
	// +listType=atomic
	// +optional
	FailsafeOutboundHostPorts *[]ProtoPort `json:"failsafeOutboundHostPorts,omitempty"`

	// KubeNodePortRanges are the Service node port ranges. [Default: 30000:32767]
	// +kubebuilder:validation:MaxItems=7
	// +listType=atomic
	// +optional
	KubeNodePortRanges *[]Port `json:"kubeNodePortRanges,omitempty"`

	// PolicySyncPathPrefix is the directory of the policy sync API sockets; empty disables.
	// +optional
	PolicySyncPathPrefix string `json:"policySyncPathPrefix,omitempty"`

	// UsageReportingEnabled sends anonymous usage reports. [Default: true]
	// +optional
	UsageReportingEnabled *bool `json:"usageReportingEnabled,omitempty"`

	// UsageReportingInitialDelay is the delay before the first report. [Default: 300s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	UsageReportingInitialDelay *metav1.Duration `json:"usageReportingInitialDelay,omitempty"`

	// UsageReportingInterval is the interval between reports. [Default: 86400s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	UsageReportingInterval *metav1.Duration `json:"usageReportingInterval,omitempty"`

	// NATPortRange is the source port range used when masquerading; unset leaves it to the
	// kernel.
	// +optional
	NATPortRange *Port `json:"natPortRange,omitempty"`

	// NATOutgoingAddress is a fixed IPv4 source address for outgoing NAT instead of
	// masquerading.
	// +kubebuilder:validation:MaxLength=45
	// +optional
	NATOutgoingAddress string `json:"natOutgoingAddress,omitempty"`

	// NATOutgoingExclusions says which destinations are not NATed: other IP pools only, or
	// also host IPs. [Default: IPPoolsOnly]
	// +kubebuilder:validation:Enum=IPPoolsOnly;IPPoolsAndHostIPs
	// +optional
	NATOutgoingExclusions string `json:"natOutgoingExclusions,omitempty"`

	// DeviceRouteSourceAddress is the IPv4 source hint of routes to workloads.
	// +kubebuilder:validation:MaxLength=45
	// +optional
	DeviceRouteSourceAddress string `json:"deviceRouteSourceAddress,omitempty"`

	// DeviceRouteSourceAddressIPv6 is the IPv6 source hint of routes to workloads.
	// +kubebuilder:validation:MaxLength=45
	// +optional
	DeviceRouteSourceAddressIPv6 string `json:"deviceRouteSourceAddressIPv6,omitempty"`

	// DeviceRouteProtocol is the protocol number set on routes Felix programs. [Default: 3]
	// +optional
	DeviceRouteProtocol *int `json:"deviceRouteProtocol,omitempty"`

	// RemoveExternalRoutes removes routes to workload interfaces that Felix did not program.
	// [Default: true]
	// +optional
	RemoveExternalRoutes *bool `json:"removeExternalRoutes,omitempty"`

	// IPForwarding says whether Felix turns on IP forwarding. [Default: Enabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +optional
	IPForwarding string `json:"ipForwarding,omitempty"`

	// ExternalNodesCIDRList lists non-Calico nodes from which tunnelled traffic is accepted.
	// +listType=atomic
	// +optional
	ExternalNodesCIDRList *[]string `json:"externalNodesList,omitempty"`

	// DebugMemoryProfilePath is where a memory profile is written on signal.
	// +optional
	DebugMemoryProfilePath string `json:"debugMemoryProfilePath,omitempty"`

	// DebugDisableLogDropping blocks instead of dropping logs when the log buffer is full.
	// +optional
	DebugDisableLogDropping *bool `json:"debugDisableLogDropping,omitempty"`

	// DebugSimulateCalcGraphHangAfter makes the calculation graph hang after this long; for
	// tests only.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	DebugSimulateCalcGraphHangAfter *metav1.Duration `json:"debugSimulateCalcGraphHangAfter,omitempty"`

	// DebugSimulateDataplaneHangAfter makes the dataplane hang after this long; for tests
	// only.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	DebugSimulateDataplaneHangAfter *metav1.Duration `json:"debugSimulateDataplaneHangAfter,omitempty"`

	// DebugSimulateDataplaneApplyDelay delays every dataplane update; for tests only.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	DebugSimulateDataplaneApplyDelay *metav1.Duration `json:"debugSimulateDataplaneApplyDelay,omitempty"`

	// DebugHost is the debug endpoint's listen address. [Default: localhost]
	// +optional
	DebugHost *string `json:"debugHost,omitempty"`

	// DebugPort starts the (insecure) profiling endpoint on this port.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	// +optional
	DebugPort *int `json:"debugPort,omitempty"`

	// IptablesNATOutgoingInterfaceFilter limits outgoing NAT to matching interfaces, e.g.
	// "eth+".
	// +optional
	IptablesNATOutgoingInterfaceFilter string `json:"iptablesNATOutgoingInterfaceFilter,omitempty"`

	// SidecarAccelerationEnabled turns on experimental sidecar acceleration. [Default:
	// false]
	// +optional
	SidecarAccelerationEnabled *bool `json:"sidecarAccelerationEnabled,omitempty"`

	// XDPEnabled accelerates untracked ingress deny rules with XDP. [Default: true]
	// +optional
	XDPEnabled *bool `json:"xdpEnabled,omitempty"`

	// GenericXDPEnabled allows generic (driverless) XDP. [Default: false]
	// +optional
	GenericXDPEnabled *bool `json:"genericXDPEnabled,omitempty"`

	// NFTablesMode selects the nftables dataplane. [Default: Auto]
	// +kubebuilder:validation:Enum=Disabled;Enabled;Auto
	// +kubebuilder:default=Auto
	// +optional
	NFTablesMode *NFTablesMode `json:"nftablesMode,omitempty"`

	// NftablesRefreshInterval is how often the nftables table is read back and
	// what differs from what was programmed is repaired; 0 disables. [Default: 180s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	NftablesRefreshInterval *metav1.Duration `json:"nftablesRefreshInterval,omitempty"`

	// NftablesFilterAllowAction is the verdict for allowed traffic in the filter chains.
	// [Default: Accept]
	// +kubebuilder:validation:Pattern=`^(?i)(accept|return)?$`
	// +optional
	NftablesFilterAllowAction string `json:"nftablesFilterAllowAction,omitempty"`

	// NftablesMangleAllowAction is the verdict for allowed traffic in the mangle chains.
	// [Default: Accept]
	// +kubebuilder:validation:Pattern=`^(?i)(accept|return)?$`
	// +optional
	NftablesMangleAllowAction string `json:"nftablesMangleAllowAction,omitempty"`

	// NftablesFilterDenyAction is the verdict for denied traffic. [Default: Drop]
	// +kubebuilder:validation:Pattern=`^(?i)(drop|reject)?$`
	// +optional
	NftablesFilterDenyAction string `json:"nftablesFilterDenyAction,omitempty"`

	// NftablesMarkMask is the set of packet mark bits Felix may use with nftables. [Default:
	// 0xffff0000]
	// +kubebuilder:validation:Format=int64
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	NftablesMarkMask *uint32 `json:"nftablesMarkMask,omitempty"`

	// BPFEnabled selects the eBPF dataplane. [Default: false]
	// +optional
	BPFEnabled *bool `json:"bpfEnabled,omitempty"`

	// BPFDisableUnprivileged disables unprivileged BPF through sysctl. [Default: true]
	// +optional
	BPFDisableUnprivileged *bool `json:"bpfDisableUnprivileged,omitempty"`

	// BPFLogLevel is the log level of the BPF programs. [Default: Off]
	// It is written even when empty, as Calico's API writes it.
	// +kubebuilder:validation:Pattern=`^(?i)(off|info|debug)?$`
	// +optional
	BPFLogLevel string `json:"bpfLogLevel"`

	// BPFConntrackLogLevel is the log level of the BPF conntrack cleaner. [Default: Off]
	// +kubebuilder:validation:Enum=Off;Debug
	// +optional
	BPFConntrackLogLevel string `json:"bpfConntrackLogLevel,omitempty"`

	// BPFLogFilters maps interface names (or all, weps, heps) to pcap filters that select
	// what BPF debug logs are emitted.
	// +optional
	BPFLogFilters *map[string]string `json:"bpfLogFilters,omitempty"`

	// BPFCTLBLogFilter selects what the connect-time load balancer logs at debug level.
	// +optional
	BPFCTLBLogFilter string `json:"bpfCTLBLogFilter,omitempty"`

	// BPFDataIfacePattern is a regex of the data interfaces BPF programs attach to.
	// +optional
	BPFDataIfacePattern string `json:"bpfDataIfacePattern,omitempty"`

	// BPFL3IfacePattern is a regex of additional L3 (tunnel) interfaces BPF programs attach
	// to.
	// +optional
	BPFL3IfacePattern string `json:"bpfL3IfacePattern,omitempty"`

	// BPFConnectTimeLoadBalancingEnabled turns on the connect-time load balancer.
	// Deprecated: use BPFConnectTimeLoadBalancing.
	// +optional
	BPFConnectTimeLoadBalancingEnabled *bool `json:"bpfConnectTimeLoadBalancingEnabled,omitempty"`

	// BPFConnectTimeLoadBalancing controls the connect-time load balancer. [Default: TCP]
	// +kubebuilder:validation:Enum=TCP;Enabled;Disabled
	// +optional
	BPFConnectTimeLoadBalancing *BPFConnectTimeLBType `json:"bpfConnectTimeLoadBalancing,omitempty"`

	// BPFHostNetworkedNATWithoutCTLB NATs host-networked traffic without the connect-time
	// load balancer. [Default: Enabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +optional
	BPFHostNetworkedNATWithoutCTLB *BPFHostNetworkedNATType `json:"bpfHostNetworkedNATWithoutCTLB,omitempty"`

	// BPFExternalServiceMode forwards external service traffic by Tunnel or DSR. [Default:
	// Tunnel]
	// +kubebuilder:validation:Pattern=`^(?i)(tunnel|dsr)?$`
	// +optional
	BPFExternalServiceMode string `json:"bpfExternalServiceMode,omitempty"`

	// BPFDSROptoutCIDRs are client ranges excluded from DSR.
	// +listType=atomic
	// +optional
	BPFDSROptoutCIDRs *[]string `json:"bpfDSROptoutCIDRs,omitempty"`

	// BPFExtToServiceConnmark is a mark set on external connections to local services.
	// [Default: 0]
	// +optional
	BPFExtToServiceConnmark *int `json:"bpfExtToServiceConnmark,omitempty"`

	// BPFKubeProxyIptablesCleanupEnabled removes kube-proxy's iptables rules in BPF mode.
	// [Default: true]
	// +optional
	BPFKubeProxyIptablesCleanupEnabled *bool `json:"bpfKubeProxyIptablesCleanupEnabled,omitempty"`

	// BPFKubeProxyMinSyncPeriod is the minimum interval between service updates. [Default:
	// 1s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	BPFKubeProxyMinSyncPeriod *metav1.Duration `json:"bpfKubeProxyMinSyncPeriod,omitempty"`

	// BPFKubeProxyEndpointSlicesEnabled has no effect. Deprecated.
	// +optional
	BPFKubeProxyEndpointSlicesEnabled *bool `json:"bpfKubeProxyEndpointSlicesEnabled,omitempty"`

	// BPFKubeProxyHealthzPort is the port of the embedded kube-proxy's health server; 0
	// disables. [Default: 10256]
	// +optional
	BPFKubeProxyHealthzPort *int `json:"bpfKubeProxyHealthzPort,omitempty"`

	// BPFPSNATPorts is the port range used to resolve source port collisions. [Default:
	// 20000:29999]
	// +optional
	BPFPSNATPorts *Port `json:"bpfPSNATPorts,omitempty"`

	// BPFMapSizeNATFrontend is the size of the NAT frontend map.
	// +optional
	BPFMapSizeNATFrontend *int `json:"bpfMapSizeNATFrontend,omitempty"`

	// BPFMapSizeNATBackend is the size of the NAT backend map.
	// +optional
	BPFMapSizeNATBackend *int `json:"bpfMapSizeNATBackend,omitempty"`

	// BPFMapSizeNATAffinity is the size of the NAT affinity map.
	// +optional
	BPFMapSizeNATAffinity *int `json:"bpfMapSizeNATAffinity,omitempty"`

	// BPFMapSizeRoute is the size of the routes map.
	// +optional
	BPFMapSizeRoute *int `json:"bpfMapSizeRoute,omitempty"`

	// BPFMapSizeConntrack is the size of the conntrack map.
	// +optional
	BPFMapSizeConntrack *int `json:"bpfMapSizeConntrack,omitempty"`

	// BPFMapSizePerCPUConntrack, when non-zero, sizes the conntrack map per CPU.
	// +optional
	BPFMapSizePerCPUConntrack *int `json:"bpfMapSizePerCpuConntrack,omitempty"`

	// BPFMapSizeConntrackScaling says whether the conntrack map grows when full. [Default:
	// DoubleIfFull]
	// +kubebuilder:validation:Pattern=`^(?i)(disabled|doubleiffull)?$`
	// +optional
	BPFMapSizeConntrackScaling string `json:"bpfMapSizeConntrackScaling,omitempty"`

	// BPFMapSizeConntrackCleanupQueue is the size of the conntrack cleanup queue.
	// +kubebuilder:validation:Minimum=1
	// +optional
	BPFMapSizeConntrackCleanupQueue *int `json:"bpfMapSizeConntrackCleanupQueue,omitempty"`

	// BPFMapSizeIPSets is the size of the IP sets map.
	// +optional
	BPFMapSizeIPSets *int `json:"bpfMapSizeIPSets,omitempty"`

	// BPFMapSizeIfState is the size of the interface state map.
	// +optional
	BPFMapSizeIfState *int `json:"bpfMapSizeIfState,omitempty"`

	// BPFHostConntrackBypass bypasses Linux conntrack for workload and service traffic.
	// [Default: true]
	// +optional
	BPFHostConntrackBypass *bool `json:"bpfHostConntrackBypass,omitempty"`

	// BPFEnforceRPF is the reverse-path filtering mode on BPF interfaces. [Default: Loose]
	// +kubebuilder:validation:Pattern=`^(?i)(disabled|strict|loose)?$`
	// +optional
	BPFEnforceRPF string `json:"bpfEnforceRPF,omitempty"`

	// BPFPolicyDebugEnabled records policy program details for calico-bpf.
	// +optional
	BPFPolicyDebugEnabled *bool `json:"bpfPolicyDebugEnabled,omitempty"`

	// BPFForceTrackPacketsFromIfaces lets traffic from these interfaces be tracked by Linux
	// conntrack. [Default: docker+]
	// +listType=atomic
	// +optional
	BPFForceTrackPacketsFromIfaces *[]string `json:"bpfForceTrackPacketsFromIfaces,omitempty"`

	// BPFDisableGROForIfaces is a regex of interfaces whose GRO is turned off.
	// +optional
	BPFDisableGROForIfaces string `json:"bpfDisableGROForIfaces,omitempty"`

	// BPFExcludeCIDRsFromNAT are destination ranges exempt from service NAT.
	// +listType=atomic
	// +optional
	BPFExcludeCIDRsFromNAT *[]string `json:"bpfExcludeCIDRsFromNAT,omitempty"`

	// BPFExportBufferSizeMB is the size of the BPF event buffer. [Default: 1]
	// +optional
	BPFExportBufferSizeMB *int `json:"bpfExportBufferSizeMB,omitempty"`

	// BPFRedirectToPeer allows redirecting straight to a workload's peer device; L2Only is a
	// legacy value treated as Enabled. [Default: Enabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled;L2Only
	// +optional
	BPFRedirectToPeer string `json:"bpfRedirectToPeer,omitempty"`

	// BPFAttachType attaches programs by TCX (falling back to TC) or by TC. [Default: TCX]
	// +kubebuilder:validation:Enum=TC;TCX
	// +optional
	BPFAttachType *BPFAttachOption `json:"bpfAttachType,omitempty"`

	// BPFProfiling profiles the BPF programs. [Default: Disabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +optional
	BPFProfiling string `json:"bpfProfiling,omitempty"`

	// BPFConntrackCleanupMode selects how expired conntrack entries are cleaned up.
	// [Default: Userspace]
	// +kubebuilder:validation:Enum=Auto;Userspace;BPFProgram
	// +optional
	BPFConntrackCleanupMode *BPFConntrackMode `json:"bpfConntrackMode,omitempty"`

	// BPFConntrackTimeouts overrides conntrack timers.
	// +optional
	BPFConntrackTimeouts *BPFConntrackTimeouts `json:"bpfConntrackTimeouts,omitempty"`

	// BPFJITHardening Auto lowers strict JIT hardening to 1; Strict leaves it alone.
	// [Default: Auto]
	// +kubebuilder:validation:Enum=Auto;Strict
	// +optional
	BPFJITHardening *BPFJITHardeningType `json:"bpfJITHardening,omitempty"`

	// BPFIPFragTimeout is how long fragments wait for reassembly; unset reads
	// net.ipv4.ipfrag_time.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	BPFIPFragTimeout *metav1.Duration `json:"bpfIPFragTimeout,omitempty"`

	// BPFIPFragmentReassemblyEnabled loads the fragment reassembly program. [Default: true]
	// +optional
	BPFIPFragmentReassemblyEnabled *bool `json:"bpfIPFragmentReassemblyEnabled,omitempty"`

	// BPFMaglevMaxEndpointsPerService sizes the Maglev tables per service. [Default: 100]
	// +optional
	BPFMaglevMaxEndpointsPerService *int `json:"bpfMaglevMaxEndpointsPerService,omitempty"`

	// BPFMaglevMaxServices is how many Maglev services tables are allocated for. [Default:
	// 100]
	// +optional
	BPFMaglevMaxServices *int `json:"bpfMaglevMaxServices,omitempty"`

	// BPFOverlayHostSourceIP is the source of host traffic into an overlay tunnel. [Default:
	// TunnelAddress]
	// +kubebuilder:validation:Enum=TunnelAddress;HostAddress
	// +optional
	BPFOverlayHostSourceIP string `json:"bpfOverlayHostSourceIP,omitempty"`

	// RouteSource is where routes come from: WorkloadIPs or CalicoIPAM. [Default:
	// CalicoIPAM]
	// +kubebuilder:validation:Pattern=`^(?i)(workloadips|calicoipam)?$`
	// +optional
	RouteSource string `json:"routeSource,omitempty"`

	// RouteTableRanges are the route table indices Felix may use; overrides RouteTableRange.
	// +optional
	RouteTableRanges *RouteTableRanges `json:"routeTableRanges,omitempty"`

	// RouteTableRange is the route table indices Felix may use. Deprecated: use
	// RouteTableRanges.
	// +optional
	RouteTableRange *RouteTableRange `json:"routeTableRange,omitempty"`

	// RouteSyncDisabled stops all route programming (policy-only mode).
	// +optional
	RouteSyncDisabled *bool `json:"routeSyncDisabled,omitempty"`

	// WireguardEnabled encrypts IPv4 traffic between nodes with WireGuard. [Default: false]
	// +optional
	WireguardEnabled *bool `json:"wireguardEnabled,omitempty"`

	// WireguardEnabledV6 encrypts IPv6 traffic between nodes with WireGuard. [Default:
	// false]
	// +optional
	WireguardEnabledV6 *bool `json:"wireguardEnabledV6,omitempty"`

	// WireguardThreadingEnabled turns on threaded NAPI for the WireGuard devices. [Default:
	// false]
	// +optional
	WireguardThreadingEnabled *bool `json:"wireguardThreadingEnabled,omitempty"`

	// WireguardListeningPort is the IPv4 WireGuard port. [Default: 51820]
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	WireguardListeningPort *int `json:"wireguardListeningPort,omitempty"`

	// WireguardListeningPortV6 is the IPv6 WireGuard port. [Default: 51821]
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	WireguardListeningPortV6 *int `json:"wireguardListeningPortV6,omitempty"`

	// WireguardRoutingRulePriority is the priority of the WireGuard routing rule. [Default:
	// 99]
	// +optional
	WireguardRoutingRulePriority *int `json:"wireguardRoutingRulePriority,omitempty"`

	// WireguardInterfaceName is the IPv4 WireGuard device. [Default: wireguard.cali]
	// +optional
	WireguardInterfaceName string `json:"wireguardInterfaceName,omitempty"`

	// WireguardInterfaceNameV6 is the IPv6 WireGuard device. [Default: wg-v6.cali]
	// +optional
	WireguardInterfaceNameV6 string `json:"wireguardInterfaceNameV6,omitempty"`

	// WireguardMTU is the MTU of the IPv4 WireGuard device; 0 means detected.
	// +optional
	WireguardMTU *int `json:"wireguardMTU,omitempty"`

	// WireguardMTUV6 is the MTU of the IPv6 WireGuard device; 0 means detected.
	// +optional
	WireguardMTUV6 *int `json:"wireguardMTUV6,omitempty"`

	// WireguardHostEncryptionEnabled also encrypts host-to-host traffic. [Default: false]
	// +optional
	WireguardHostEncryptionEnabled *bool `json:"wireguardHostEncryptionEnabled,omitempty"`

	// WireguardPersistentKeepAlive is WireGuard's persistent keepalive; 0 disables.
	// [Default: 0]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	WireguardPersistentKeepAlive *metav1.Duration `json:"wireguardKeepAlive,omitempty"`

	// AWSSrcDstCheck sets the EC2 source/destination check. [Default: DoNothing]
	// +kubebuilder:validation:Enum=DoNothing;Enable;Disable
	// +optional
	AWSSrcDstCheck *AWSSrcDstCheckOption `json:"awsSrcDstCheck,omitempty"`

	// ServiceLoopPrevention drops or rejects traffic to advertised but unused service IPs.
	// [Default: Drop]
	// +kubebuilder:validation:Pattern=`^(?i)(drop|reject|disabled)?$`
	// +optional
	ServiceLoopPrevention string `json:"serviceLoopPrevention,omitempty"`

	// WorkloadSourceSpoofing lets pods ask to send from other addresses. [Default: Disabled]
	// +kubebuilder:validation:Pattern=`^(?i)(disabled|any)?$`
	// +optional
	WorkloadSourceSpoofing string `json:"workloadSourceSpoofing,omitempty"`

	// MTUIfacePattern is a regex of the interfaces used to work out the host MTU.
	// +optional
	MTUIfacePattern string `json:"mtuIfacePattern,omitempty"`

	// FloatingIPs programs non-OpenStack floating IPs. [Default: Disabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +optional
	FloatingIPs *FloatingIPType `json:"floatingIPs,omitempty"`

	// WindowsManageFirewallRules opens Felix's own ports in the Windows firewall. [Default:
	// Disabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +optional
	WindowsManageFirewallRules *WindowsManageFirewallRulesMode `json:"windowsManageFirewallRules,omitempty"`

	// GoGCThreshold is the Go GC target percentage; -1 disables GC. [Default: 40]
	// +kubebuilder:validation:Minimum=-1
	// +optional
	GoGCThreshold *int `json:"goGCThreshold,omitempty"`

	// GoMemoryLimitMB is the Go runtime's soft memory limit; -1 disables. [Default: -1]
	// +kubebuilder:validation:Minimum=-1
	// +optional
	GoMemoryLimitMB *int `json:"goMemoryLimitMB,omitempty"`

	// GoMaxProcs is GOMAXPROCS; -1 means the number of CPUs. [Default: -1]
	// +kubebuilder:validation:Minimum=-1
	// +optional
	GoMaxProcs *int `json:"goMaxProcs,omitempty"`

	// FlowLogsFlushInterval is how often flow logs are exported.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	FlowLogsFlushInterval *metav1.Duration `json:"flowLogsFlushInterval,omitempty"`

	// FlowLogsCollectorDebugTrace logs collector records in full.
	// +optional
	FlowLogsCollectorDebugTrace *bool `json:"flowLogsCollectorDebugTrace,omitempty"`

	// FlowLogsGoldmaneServer is the flow server flow data is sent to.
	// +optional
	FlowLogsGoldmaneServer *string `json:"flowLogsGoldmaneServer,omitempty"`

	// FlowLogsLocalReporter reports flows on a local socket. [Default: Disabled]
	// +kubebuilder:validation:Enum=Disabled;Enabled
	// +optional
	FlowLogsLocalReporter *string `json:"flowLogsLocalReporter,omitempty"`

	// FlowLogsPolicyEvaluationMode re-evaluates active flows against policy changes
	// (Continuous) or not (None). [Default: Continuous]
	// +kubebuilder:validation:Enum=None;Continuous
	// +optional
	FlowLogsPolicyEvaluationMode *string `json:"flowLogsPolicyEvaluationMode,omitempty"`

	// CaptureDir is where PacketCaptures' files are written, as
	// <namespace>/<capture>/. [Default: /var/log/calico/pcap]
	// +optional
	CaptureDir *string `json:"captureDir,omitempty"`

	// CaptureMaxSizeBytes is the size at which a capture file is
	// rotated. [Default: 10000000]
	// +kubebuilder:validation:Minimum=1
	// +optional
	CaptureMaxSizeBytes *int `json:"captureMaxSizeBytes,omitempty"`

	// CaptureRotationSeconds is the age at which a capture file is
	// rotated. [Default: 3600]
	// +kubebuilder:validation:Minimum=1
	// +optional
	CaptureRotationSeconds *int `json:"captureRotationSeconds,omitempty"`

	// CaptureMaxFiles is how many files of one pod's capture are kept,
	// the one being written included. [Default: 2]
	// +kubebuilder:validation:Minimum=1
	// +optional
	CaptureMaxFiles *int `json:"captureMaxFiles,omitempty"`

	// FlowLogsFileEnabled writes flow logs as JSON lines into
	// FlowLogsFileDirectory (Calico Enterprise's flow log files). [Default: false]
	// +optional
	FlowLogsFileEnabled *bool `json:"flowLogsFileEnabled,omitempty"`

	// FlowLogsFileDirectory is where flows.log is written. [Default: /var/log/calico/flowlogs]
	// +optional
	FlowLogsFileDirectory *string `json:"flowLogsFileDirectory,omitempty"`

	// FlowLogsFileMaxFiles is how many rotated flow log files are kept. [Default: 5]
	// +kubebuilder:validation:Minimum=1
	// +optional
	FlowLogsFileMaxFiles *int `json:"flowLogsFileMaxFiles,omitempty"`

	// FlowLogsFileMaxFileSizeMB is the size at which the flow log file is rotated. [Default: 100]
	// +kubebuilder:validation:Minimum=1
	// +optional
	FlowLogsFileMaxFileSizeMB *int `json:"flowLogsFileMaxFileSizeMB,omitempty"`

	// FlowLogsFileAggregationKindForAllowed is the aggregation level of allowed
	// flows: 0 per 5-tuple, 1 without the source port, 2 also pods of one
	// workload and addresses by network, 3 also without the destination port. [Default: 2]
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3
	// +optional
	FlowLogsFileAggregationKindForAllowed *int `json:"flowLogsFileAggregationKindForAllowed,omitempty"`

	// FlowLogsFileAggregationKindForDenied is the aggregation level of denied
	// flows (see ...ForAllowed). [Default: 1]
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3
	// +optional
	FlowLogsFileAggregationKindForDenied *int `json:"flowLogsFileAggregationKindForDenied,omitempty"`

	// FlowLogsFileEnabledForAllowed logs allowed flows. [Default: true]
	// +optional
	FlowLogsFileEnabledForAllowed *bool `json:"flowLogsFileEnabledForAllowed,omitempty"`

	// FlowLogsFileEnabledForDenied logs denied flows. [Default: true]
	// +optional
	FlowLogsFileEnabledForDenied *bool `json:"flowLogsFileEnabledForDenied,omitempty"`

	// FlowLogsFileIncludeLabels adds the endpoints' labels to flow logs. [Default: false]
	// +optional
	FlowLogsFileIncludeLabels *bool `json:"flowLogsFileIncludeLabels,omitempty"`

	// FlowLogsFileIncludePolicies adds the policies that decided each flow. [Default: false]
	// +optional
	FlowLogsFileIncludePolicies *bool `json:"flowLogsFileIncludePolicies,omitempty"`

	// FlowLogsFileIncludeService adds the Service a flow was sent to. [Default: false]
	// +optional
	FlowLogsFileIncludeService *bool `json:"flowLogsFileIncludeService,omitempty"`

	// DNSTrustedServers are the DNS servers whose answers domain-based
	// policy learns from and DNS logs record: an IP address, IP:port
	// ([IPv6]:port), or k8s-service:[NAMESPACE/]NAME[:PORT] for a Service's
	// endpoints (namespace kube-system by default). Port 53 by default.
	// [Default: k8s-service:kube-dns]
	// +optional
	DNSTrustedServers *[]string `json:"dnsTrustedServers,omitempty"`

	// DNSExtraTTL is added to every answer's TTL before its addresses
	// leave the domain sets. [Default: 0s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	DNSExtraTTL *metav1.Duration `json:"dnsExtraTTL,omitempty"`

	// DNSPolicyMode is how a workload's first packet after a lookup meets
	// the domain set update: DelayDeniedPacket holds a packet the rules
	// would deny until pending updates are in; DelayDNSResponse holds the
	// answer until its addresses are in the sets; NoDelay does neither.
	// [Default: DelayDeniedPacket]
	// +kubebuilder:validation:Enum=NoDelay;DelayDeniedPacket;DelayDNSResponse
	// +optional
	DNSPolicyMode *string `json:"dnsPolicyMode,omitempty"`

	// DNSLogsFileEnabled writes DNS logs as JSON lines into
	// DNSLogsFileDirectory. [Default: true]
	// +optional
	DNSLogsFileEnabled *bool `json:"dnsLogsFileEnabled,omitempty"`

	// DNSLogsFileDirectory is where dns.log is written. [Default: /var/log/calico/dnslogs]
	// +optional
	DNSLogsFileDirectory *string `json:"dnsLogsFileDirectory,omitempty"`

	// DNSLogsFlushInterval is how often DNS logs are written. [Default: 5m]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	DNSLogsFlushInterval *metav1.Duration `json:"dnsLogsFlushInterval,omitempty"`

	// DNSLogsFileAggregationKind is 0 for a record per client pod, 1 for
	// clients aggregated by their workload's name prefix. [Default: 1]
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	// +optional
	DNSLogsFileAggregationKind *int `json:"dnsLogsFileAggregationKind,omitempty"`

	// DNSLogsFileIncludeLabels adds the clients' labels to DNS logs. [Default: true]
	// +optional
	DNSLogsFileIncludeLabels *bool `json:"dnsLogsFileIncludeLabels,omitempty"`

	// DNSLogsFilePerNodeLimit caps the DNS log records a node writes per
	// flush interval (0: no cap); what is left out is counted in an
	// UNLOGGED record. [Default: 0]
	// +kubebuilder:validation:Minimum=0
	// +optional
	DNSLogsFilePerNodeLimit *int `json:"dnsLogsFilePerNodeLimit,omitempty"`

	// DNSLogsLatency records how long answers took. [Default: true]
	// +optional
	DNSLogsLatency *bool `json:"dnsLogsLatency,omitempty"`

	// FlowLogsEnableHostEndpoint logs flows of host endpoints. [Default: false]
	// +optional
	FlowLogsEnableHostEndpoint *bool `json:"flowLogsEnableHostEndpoint,omitempty"`

	// FlowLogsEnableNetworkSets names the NetworkSet of an address in flow logs. [Default: false]
	// +optional
	FlowLogsEnableNetworkSets *bool `json:"flowLogsEnableNetworkSets,omitempty"`

	// FlowLogsPolicyScope says which policies flow logs attribute flows to:
	// EndpointPolicies, the policies of the flow's own endpoints; or
	// AllPolicies, also those of the host endpoints the flow crossed
	// (forwarded and pre-DNAT), as transit_policies. [Default: EndpointPolicies]
	// +kubebuilder:validation:Enum=EndpointPolicies;AllPolicies
	// +optional
	FlowLogsPolicyScope *string `json:"flowLogsPolicyScope,omitempty"`

	// IstioAmbientMode makes Felix cooperate with Istio ambient mode. [Default: Disabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +optional
	IstioAmbientMode *string `json:"istioAmbientMode,omitempty"`

	// IstioDSCPMark is the DSCP value used to steer traffic to the Istio ztunnel. [Default:
	// 23]
	// +optional
	IstioDSCPMark *intstr.IntOrString `json:"istioDSCPMark,omitempty"`

	// CgroupV2Path overrides where the cgroup v2 hierarchy is found.
	// +optional
	CgroupV2Path string `json:"cgroupV2Path,omitempty"`

	// RequireMTUFile makes Felix wait for the MTU file before starting. [Default: false]
	// +optional
	RequireMTUFile *bool `json:"requireMTUFile,omitempty"`

	// IPv4NormalRoutePriority is the metric of normal IPv4 routes; higher is lower priority.
	// [Default: 1024]
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483646
	// +optional
	IPv4NormalRoutePriority *int `json:"ipv4NormalRoutePriority,omitempty"`

	// IPv4ElevatedRoutePriority is the metric of IPv4 routes during VM live migration.
	// [Default: 512]
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483646
	// +optional
	IPv4ElevatedRoutePriority *int `json:"ipv4ElevatedRoutePriority,omitempty"`

	// IPv6NormalRoutePriority is the metric of normal IPv6 routes. [Default: 1024]
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483646
	// +optional
	IPv6NormalRoutePriority *int `json:"ipv6NormalRoutePriority,omitempty"`

	// IPv6ElevatedRoutePriority is the metric of IPv6 routes during VM live migration.
	// [Default: 512]
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483646
	// +optional
	IPv6ElevatedRoutePriority *int `json:"ipv6ElevatedRoutePriority,omitempty"`

	// LiveMigrationRouteConvergenceTime is how long routes keep elevated priority after a
	// live migration. [Default: 30s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	LiveMigrationRouteConvergenceTime *metav1.Duration `json:"liveMigrationRouteConvergenceTime,omitempty"`

	// LocalSubnetL2Reachability answers ARP/NDP for local pod and LoadBalancer IPs on the
	// host subnet. [Default: Disabled]
	// +kubebuilder:validation:Enum=Disabled;PodsAndLoadBalancers
	// +optional
	LocalSubnetL2Reachability string `json:"localSubnetL2Reachability,omitempty"`

	// LocalSubnetL2ReachabilityRefreshInterval is how often proxied addresses are
	// re-announced; 0 disables. [Default: 120s]
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$`
	// +optional
	LocalSubnetL2ReachabilityRefreshInterval *metav1.Duration `json:"localSubnetL2ReachabilityRefreshInterval,omitempty"`

	// ProgramClusterRoutes says whether Felix (rather than BIRD) programs routes to other
	// nodes' workloads.
	// +kubebuilder:validation:Enum=Enabled;Disabled;EnabledIPIPOnly;EnabledNoEncapOnly
	// +optional
	ProgramClusterRoutes *string `json:"programClusterRoutes,omitempty"`

	// NodeSelector limits a FelixConfiguration that is neither "default" nor "node.<name>"
	// to the nodes it selects.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	NodeSelector string `json:"nodeSelector,omitempty"`
}

// IptablesBackend selects the iptables implementation.
type IptablesBackend string

const (
	IptablesBackendLegacy   IptablesBackend = "Legacy"
	IptablesBackendNFTables IptablesBackend = "NFT"
	IptablesBackendAuto     IptablesBackend = "Auto"
)

// NFTablesMode selects the nftables dataplane.
type NFTablesMode string

const (
	NFTablesModeEnabled  NFTablesMode = "Enabled"
	NFTablesModeDisabled NFTablesMode = "Disabled"
	NFTablesModeAuto     NFTablesMode = "Auto"
)

// AWSSrcDstCheckOption is what Felix does to the EC2 source/destination check.
type AWSSrcDstCheckOption string

const (
	AWSSrcDstCheckOptionDoNothing AWSSrcDstCheckOption = "DoNothing"
	AWSSrcDstCheckOptionEnable    AWSSrcDstCheckOption = "Enable"
	AWSSrcDstCheckOptionDisable   AWSSrcDstCheckOption = "Disable"
)

// FloatingIPType turns floating IP programming on or off.
type FloatingIPType string

const (
	FloatingIPsEnabled  FloatingIPType = "Enabled"
	FloatingIPsDisabled FloatingIPType = "Disabled"
)

// BPFHostNetworkedNATType turns NAT of host-networked traffic without the
// connect-time load balancer on or off.
type BPFHostNetworkedNATType string

const (
	BPFHostNetworkedNATEnabled  BPFHostNetworkedNATType = "Enabled"
	BPFHostNetworkedNATDisabled BPFHostNetworkedNATType = "Disabled"
)

// BPFConnectTimeLBType controls the connect-time load balancer.
type BPFConnectTimeLBType string

const (
	BPFConnectTimeLBTCP      BPFConnectTimeLBType = "TCP"
	BPFConnectTimeLBEnabled  BPFConnectTimeLBType = "Enabled"
	BPFConnectTimeLBDisabled BPFConnectTimeLBType = "Disabled"
)

// WindowsManageFirewallRulesMode turns Windows firewall management on or off.
type WindowsManageFirewallRulesMode string

const (
	WindowsManageFirewallRulesEnabled  WindowsManageFirewallRulesMode = "Enabled"
	WindowsManageFirewallRulesDisabled WindowsManageFirewallRulesMode = "Disabled"
)

// BPFAttachOption says how BPF programs are attached to interfaces.
type BPFAttachOption string

const (
	BPFAttachOptionTC  BPFAttachOption = "TC"
	BPFAttachOptionTCX BPFAttachOption = "TCX"
)

// BPFConntrackMode says how BPF conntrack entries are cleaned up.
type BPFConntrackMode string

const (
	BPFConntrackModeAuto       BPFConntrackMode = "Auto"
	BPFConntrackModeUserspace  BPFConntrackMode = "Userspace"
	BPFConntrackModeBPFProgram BPFConntrackMode = "BPFProgram"
)

// BPFJITHardeningType controls BPF JIT hardening.
type BPFJITHardeningType string

const (
	BPFJITHardeningAuto   BPFJITHardeningType = "Auto"
	BPFJITHardeningStrict BPFJITHardeningType = "Strict"
)

// BPFConntrackTimeouts overrides BPF conntrack timers. Each value is a duration
// or "Auto" to take the kernel's conntrack setting.
type BPFConntrackTimeouts struct {
	// +kubebuilder:validation:Pattern=`^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$`
	// +optional
	CreationGracePeriod *string `json:"creationGracePeriod,omitempty"`
	// +kubebuilder:validation:Pattern=`^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$`
	// +optional
	TCPSynSent *string `json:"tcpSynSent,omitempty"`
	// +kubebuilder:validation:Pattern=`^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$`
	// +optional
	TCPEstablished *string `json:"tcpEstablished,omitempty"`
	// +kubebuilder:validation:Pattern=`^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$`
	// +optional
	TCPFinsSeen *string `json:"tcpFinsSeen,omitempty"`
	// +kubebuilder:validation:Pattern=`^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$`
	// +optional
	TCPResetSeen *string `json:"tcpResetSeen,omitempty"`
	// +kubebuilder:validation:Pattern=`^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$`
	// +optional
	UDPTimeout *string `json:"udpTimeout,omitempty"`
	// +kubebuilder:validation:Pattern=`^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$`
	// +optional
	GenericTimeout *string `json:"genericTimeout,omitempty"`
	// +kubebuilder:validation:Pattern=`^(([0-9]*(\.[0-9]*)?(ms|s|h|m|us)+)+|Auto)$`
	// +optional
	ICMPTimeout *string `json:"icmpTimeout,omitempty"`
}

// HealthTimeoutOverride sets the liveness timeout of one internal component.
type HealthTimeoutOverride struct {
	Name    string          `json:"name"`
	Timeout metav1.Duration `json:"timeout"`
}

// RouteTableRange is an inclusive range of route table indices.
// +kubebuilder:validation:XValidation:rule="self.min >= 1 && self.max >= self.min && self.max <= 250",message="must be a range of route table indices within 1..250",reason=FieldValueInvalid
type RouteTableRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// RouteTableIDRange is an inclusive range of route table indices.
// +kubebuilder:validation:XValidation:rule="self.min >= 1",message="min must be at least 1",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must not be greater than max",reason=FieldValueInvalid
type RouteTableIDRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// RouteTableRanges is a list of route table index ranges.
// +kubebuilder:validation:MaxItems=250
type RouteTableRanges []RouteTableIDRange

// NumDesignatedTables returns how many table indices the ranges cover.
func (r RouteTableRanges) NumDesignatedTables() int {
	n := 0
	for _, rng := range r {
		n += rng.Max - rng.Min + 1
	}
	return n
}

// ProtoPort is a protocol, a port and optionally a CIDR, e.g. for failsafe
// ports. The protocol defaults to tcp.
type ProtoPort struct {
	// +optional
	Protocol string `json:"protocol,omitempty"`
	Port     uint16 `json:"port"`
	// +optional
	Net string `json:"net,omitempty"`
}

// FelixConfigurationList is a list of FelixConfigurations.
// +kubebuilder:object:root=true
type FelixConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []FelixConfiguration `json:"items"`
}
