package logtype

import "fmt"

// The log types' names (also their tables').
const (
	Flows                = "flows"
	DNS                  = "dns"
	AuditEE              = "audit_ee"
	AuditKube            = "audit_kube"
	BGP                  = "bgp"
	Events               = "events"
	ComplianceReports    = "compliance_reports"
	ComplianceSnapshots  = "compliance_snapshots"
	ComplianceBenchmarks = "compliance_benchmarks"
	// Threat feeds pushed through Linseed (feeds without pull): one
	// document per feed, by the feed's name.
	ThreatFeedsIPSet         = "threatfeeds_ipset"
	ThreatFeedsDomainNameSet = "threatfeeds_domainnameset"
)

func cols(kind Kind, paths ...string) []Column {
	out := make([]Column, len(paths))
	for i, p := range paths {
		out[i] = Column{Path: p, Kind: kind}
	}
	return out
}

func concat(groups ...[]Column) []Column {
	var out []Column
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// flowColumns are Calico Enterprise's flow log fields, in Felix's order
// (see flowlogs.Record).
var flowColumns = concat(
	cols(Int, "start_time", "end_time"),
	cols(Text, "source_ip", "source_name", "source_name_aggr", "source_namespace"),
	cols(JSON, "nat_outgoing_ports"),
	cols(Int, "source_port"),
	cols(Text, "source_type"),
	cols(List, "source_labels.labels"),
	cols(Text, "dest_ip", "dest_name", "dest_name_aggr", "dest_namespace"),
	cols(Int, "dest_port"),
	cols(Text, "dest_type"),
	cols(List, "dest_labels.labels"),
	cols(Text, "dest_service_namespace", "dest_service_name", "dest_service_port"),
	cols(Int, "dest_service_port_num"),
	cols(List, "dest_domains"),
	cols(Text, "proto", "action", "reporter"),
	cols(List, "policies.enforced_policies", "policies.pending_policies", "policies.transit_policies"),
	cols(Int, "bytes_in", "bytes_out", "num_flows", "num_flows_started", "num_flows_completed", "packets_in", "packets_out",
		"transit_bytes_in", "transit_bytes_out", "transit_packets_in", "transit_packets_out",
		"http_requests_allowed_in", "http_requests_denied_in"),
	cols(Text, "process_name"),
	cols(Int, "num_process_names"),
	cols(Text, "process_id"),
	cols(Int, "num_process_ids"),
	cols(List, "process_args"),
	cols(Int, "num_process_args"),
	cols(List, "original_source_ips"),
	cols(Int, "num_original_source_ips",
		"tcp_mean_send_congestion_window", "tcp_min_send_congestion_window", "tcp_mean_smooth_rtt", "tcp_max_smooth_rtt",
		"tcp_mean_min_rtt", "tcp_max_min_rtt", "tcp_mean_mss", "tcp_min_mss", "tcp_total_retransmissions",
		"tcp_lost_packets", "tcp_unrecovered_to"),
	cols(Text, "host"),
)

var dnsColumns = concat(
	cols(Text, "start_time", "end_time", "type"),
	cols(Int, "count"),
	cols(Text, "client_ip", "client_name", "client_name_aggr", "client_namespace"),
	cols(JSON, "client_labels"),
	cols(Text, "qname", "qtype", "qclass", "rcode"),
	cols(JSON, "rrsets", "servers"),
	cols(Int, "latency_count", "latency_mean", "latency_max"),
	cols(Text, "host"),
)

// auditColumns are a Kubernetes audit event's (audit.k8s.io/v1 Event).
var auditColumns = concat(
	cols(Text, "kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb",
		"user.username", "user.uid"),
	cols(List, "user.groups"),
	cols(JSON, "user.extra"),
	cols(Text, "impersonatedUser.username"),
	cols(List, "impersonatedUser.groups", "sourceIPs"),
	cols(Text, "userAgent", "objectRef.resource", "objectRef.namespace", "objectRef.name", "objectRef.uid",
		"objectRef.apiGroup", "objectRef.apiVersion", "objectRef.resourceVersion", "objectRef.subresource",
		"responseStatus.status", "responseStatus.message", "responseStatus.reason"),
	cols(Int, "responseStatus.code"),
	cols(JSON, "requestObject", "responseObject"),
	cols(Text, "requestReceivedTimestamp", "stageTimestamp"),
	cols(JSON, "annotations"),
)

var bgpColumns = concat(
	cols(Text, "logtime", "message", "ip_version", "host"),
)

var eventColumns = concat(
	cols(Text, "id"),
	cols(Int, "time"),
	cols(Text, "description", "origin"),
	cols(Int, "severity"),
	cols(Text, "type", "dest_ip", "dest_name", "dest_name_aggr", "dest_namespace"),
	cols(Int, "dest_port"),
	cols(Text, "protocol"),
	cols(Bool, "dismissed"),
	cols(Text, "host", "source_ip", "source_name", "source_name_aggr", "source_namespace"),
	cols(Int, "source_port"),
	cols(Text, "name", "attack_vector", "mitre_tactic"),
	cols(List, "mitre_ids", "mitigations"),
	cols(JSON, "record", "geo_info"),
	// generated_time is when the event was written (unix nanoseconds),
	// increasing with each event one writer writes: where a consumer
	// (a webhook) has got to.
	cols(Int, "generated_time"),
)

// Compliance documents: the fields they are found by; the rest of each
// document is kept as it came.
var reportColumns = concat(
	cols(Text, "id", "reportName", "reportTypeName", "startTime", "endTime", "generationTime"),
)

var snapshotColumns = concat(
	cols(Text, "apiVersion", "kind", "requestStartedTimestamp", "requestCompletedTimestamp"),
)

var benchmarkColumns = concat(
	cols(Text, "timestamp", "node_name", "type", "version", "kubernetesVersion"),
)

// A pushed threat feed: {"id": "<feed>", "data": {"created_at": …,
// "ips": […]}} (or "domains"), as Calico Enterprise's Linseed has it.
var ipSetColumns = concat(cols(Text, "id", "data.created_at"), cols(List, "data.ips"))
var domainSetColumns = concat(cols(Text, "id", "data.created_at"), cols(List, "data.domains"))

// All returns every log type, by name.
func All() map[string]*Type {
	defs := []Type{
		{Name: Flows, Columns: flowColumns, TimePath: "end_time",
			Indexes: [][]string{{"source_namespace"}, {"dest_namespace"}}},
		{Name: DNS, Columns: dnsColumns, TimePath: "end_time", Indexes: [][]string{{"client_namespace"}}},
		{Name: AuditEE, Columns: auditColumns, TimePath: "requestReceivedTimestamp", OmitNull: true,
			Indexes: [][]string{{"objectRef_resource"}}},
		{Name: AuditKube, Columns: auditColumns, TimePath: "requestReceivedTimestamp", OmitNull: true,
			Indexes: [][]string{{"objectRef_resource"}}},
		{Name: BGP, Columns: bgpColumns, TimePath: "logtime"},
		{Name: Events, Columns: eventColumns, TimePath: "time", Indexes: [][]string{{"id"}}},
		{Name: ComplianceReports, Columns: reportColumns, TimePath: "endTime", OmitNull: true, Indexes: [][]string{{"id"}}},
		{Name: ComplianceSnapshots, Columns: snapshotColumns, TimePath: "requestCompletedTimestamp", OmitNull: true},
		{Name: ComplianceBenchmarks, Columns: benchmarkColumns, TimePath: "timestamp", OmitNull: true},
		{Name: ThreatFeedsIPSet, Columns: ipSetColumns, TimePath: "data.created_at", OmitNull: true, Indexes: [][]string{{"id"}}},
		{Name: ThreatFeedsDomainNameSet, Columns: domainSetColumns, TimePath: "data.created_at", OmitNull: true, Indexes: [][]string{{"id"}}},
	}
	out := map[string]*Type{}
	for _, d := range defs {
		t, err := New(d)
		if err != nil {
			panic(fmt.Sprintf("built-in log type: %v", err)) // a programming error, caught by the tests
		}
		out[t.Name] = t
	}
	return out
}
