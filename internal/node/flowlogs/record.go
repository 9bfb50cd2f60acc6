package flowlogs

import (
	"net/netip"
	"strconv"
)

// Record is one flow log: the connections of one aggregation key seen in
// one interval, as one JSON line of Calico Enterprise's flows.log. The
// field names, their order and which of them are null follow Felix's
// JSON output (felix/collector/flowlog JSONOutput in Calico Enterprise);
// fields this collector does not measure (process, TCP statistics,
// domains, original source IPs, HTTP counts, NAT ports) carry the values
// Felix writes when their collection is off.
type Record struct {
	StartTime int64 `json:"start_time"`
	EndTime   int64 `json:"end_time"`

	// SourceIP is null when aggregated away (level 2 and above).
	SourceIP         *string `json:"source_ip"`
	SourceName       string  `json:"source_name"`
	SourceNameAggr   string  `json:"source_name_aggr"`
	SourceNamespace  string  `json:"source_namespace"`
	NatOutgoingPorts []int   `json:"nat_outgoing_ports"`
	// SourcePort is null from level 1 and for ICMP.
	SourcePort   *int64  `json:"source_port"`
	SourceType   string  `json:"source_type"`
	SourceLabels *Labels `json:"source_labels"`

	DestIP        *string `json:"dest_ip"`
	DestName      string  `json:"dest_name"`
	DestNameAggr  string  `json:"dest_name_aggr"`
	DestNamespace string  `json:"dest_namespace"`
	// DestPort is null at level 3 and for ICMP.
	DestPort   *int64  `json:"dest_port"`
	DestType   string  `json:"dest_type"`
	DestLabels *Labels `json:"dest_labels"`

	DestServiceNamespace string `json:"dest_service_namespace"`
	DestServiceName      string `json:"dest_service_name"`
	// DestServicePortName is the Service's port name ("dest_service_port"
	// in Calico's JSON): "-" when unknown, unnamed or aggregated away.
	DestServicePortName string `json:"dest_service_port"`
	DestServicePortNum  *int64 `json:"dest_service_port_num"`

	DestDomains []string `json:"dest_domains"`

	Proto    string `json:"proto"`
	Action   string `json:"action"`
	Reporter string `json:"reporter"`

	// Policies is null unless policies are included.
	Policies *Policies `json:"policies"`

	BytesIn               int64 `json:"bytes_in"`
	BytesOut              int64 `json:"bytes_out"`
	NumFlows              int64 `json:"num_flows"`
	NumFlowsStarted       int64 `json:"num_flows_started"`
	NumFlowsCompleted     int64 `json:"num_flows_completed"`
	PacketsIn             int64 `json:"packets_in"`
	PacketsOut            int64 `json:"packets_out"`
	TransitBytesIn        int64 `json:"transit_bytes_in"`
	TransitBytesOut       int64 `json:"transit_bytes_out"`
	TransitPacketsIn      int64 `json:"transit_packets_in"`
	TransitPacketsOut     int64 `json:"transit_packets_out"`
	HTTPRequestsAllowedIn int64 `json:"http_requests_allowed_in"`
	HTTPRequestsDeniedIn  int64 `json:"http_requests_denied_in"`

	ProcessName     string   `json:"process_name"`
	NumProcessNames int64    `json:"num_process_names"`
	ProcessID       string   `json:"process_id"`
	NumProcessIDs   int64    `json:"num_process_ids"`
	ProcessArgs     []string `json:"process_args"`
	NumProcessArgs  int64    `json:"num_process_args"`

	OriginalSourceIPs    []string `json:"original_source_ips"`
	NumOriginalSourceIPs int64    `json:"num_original_source_ips"`

	TCPMeanSendCongestionWindow int64 `json:"tcp_mean_send_congestion_window"`
	TCPMinSendCongestionWindow  int64 `json:"tcp_min_send_congestion_window"`
	TCPMeanSmoothRTT            int64 `json:"tcp_mean_smooth_rtt"`
	TCPMaxSmoothRTT             int64 `json:"tcp_max_smooth_rtt"`
	TCPMeanMinRTT               int64 `json:"tcp_mean_min_rtt"`
	TCPMaxMinRTT                int64 `json:"tcp_max_min_rtt"`
	TCPMeanMSS                  int64 `json:"tcp_mean_mss"`
	TCPMinMSS                   int64 `json:"tcp_min_mss"`
	TCPTotalRetransmissions     int64 `json:"tcp_total_retransmissions"`
	TCPLostPackets              int64 `json:"tcp_lost_packets"`
	TCPUnrecoveredTO            int64 `json:"tcp_unrecovered_to"`

	// Host is the node that collected the record (Linseed's "host";
	// Enterprise's fluentd adds it to Felix's lines, we write it).
	Host string `json:"host"`
}

// Labels is the "*_labels" object: the endpoint's labels as sorted
// "key=value" strings (for an aggregate, those every member has).
type Labels struct {
	Labels []string `json:"labels"`
}

// Policies is the "policies" object. Each entry is
// "<index>|<tier>|<policy>|<action>|<rule index>".
type Policies struct {
	EnforcedPolicies []string `json:"enforced_policies"`
	PendingPolicies  []string `json:"pending_policies"`
	TransitPolicies  []string `json:"transit_policies"`
}

// notIncluded is Calico's value of a string field that does not apply or
// was aggregated away.
const notIncluded = "-"

// ProtoName is the "proto" field for an IP protocol number: Felix's
// names for the protocols it names, the number for the others.
func ProtoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 4:
		return "ipip"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 50:
		return "esp"
	case 58:
		return "icmp6"
	case 132:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}

func ipString(a netip.Addr) *string {
	if !a.IsValid() {
		return nil
	}
	s := a.String()
	return &s
}

func portPtr(p int32) *int64 {
	if p < 0 {
		return nil
	}
	v := int64(p)
	return &v
}

// newRecord fills the fields Felix writes with fixed values when their
// collection is off.
func newRecord() Record {
	return Record{
		ProcessName: notIncluded,
		ProcessID:   notIncluded,
		ProcessArgs: []string{notIncluded},
	}
}
