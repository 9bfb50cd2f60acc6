// Package flowgen makes synthetic flow logs in Calico Enterprise's
// format, for benchmarks of what stores and reads them: deterministic,
// distinct, with workloads in namespaces, a share denied, both reporters
// and policies, spread evenly over a time span before a moment.
package flowgen

import (
	"fmt"
	"strconv"
)

// Gen describes the flow logs: N of them, ending at times spread evenly
// over the Span seconds before Now, between Apps workloads in each of
// Namespaces namespaces ("ns-007", "app-3-6b795849d8-*"). Each workload
// talks to four others, as services do: the next three apps in its
// namespace and the same app in the next namespace, each app serving on
// one port; so a service graph has 4 × Namespaces × Apps edges between
// workloads. One flow in ten is denied.
type Gen struct {
	Now        int64
	N          int
	Span       int64
	Namespaces uint64
	Apps       uint64
}

// Line appends the i-th flow log (0 ≤ i < N), as one JSON line without
// its newline, to b.
func (g Gen) Line(b []byte, i int) []byte {
	h := uint64(i+1) * 0x9E3779B97F4A7C15
	h ^= h >> 29
	end := g.Now - g.Span + int64(i)*g.Span/int64(g.N)
	srcNS, srcApp := h%g.Namespaces, (h>>16)%g.Apps
	dstNS, dstApp := srcNS, srcApp
	switch peer := (h >> 8) % 4; peer {
	case 3:
		dstNS = (srcNS + 1) % g.Namespaces
	default:
		dstApp = (srcApp + 1 + peer) % g.Apps
	}
	action, verdict := "allow", "allow"
	if (h>>32)%10 == 0 {
		action, verdict = "deny", "deny"
	}
	reporter := [2]string{"src", "dst"}[(h>>36)&1]
	port := [5]int64{53, 80, 443, 5432, 8080}[dstApp%5]

	b = append(b, `{"start_time":`...)
	b = strconv.AppendInt(b, end-300, 10)
	b = append(b, `,"end_time":`...)
	b = strconv.AppendInt(b, end, 10)
	b = fmt.Appendf(b, `,"source_ip":"10.%d.%d.%d","source_name":"app-%d-6b795849d8-%05d","source_name_aggr":"app-%d-6b795849d8-*",`+
		`"source_namespace":"ns-%03d","nat_outgoing_ports":null,"source_port":null,"source_type":"wep",`+
		`"source_labels":{"labels":["app=app-%d","pod-template-hash=6b795849d8"]},`,
		srcNS, srcApp, h>>48&255, srcApp, h>>44&0xffff, srcApp, srcNS, srcApp)
	b = fmt.Appendf(b, `"dest_ip":"10.%d.%d.%d","dest_name":"app-%d-6b795849d8-%05d","dest_name_aggr":"app-%d-6b795849d8-*",`+
		`"dest_namespace":"ns-%03d","dest_port":%d,"dest_type":"wep","dest_labels":{"labels":["app=app-%d","pod-template-hash=6b795849d8"]},`+
		`"dest_service_namespace":"-","dest_service_name":"-","dest_service_port":"-","dest_service_port_num":null,"dest_domains":null,`+
		`"proto":"tcp","action":%q,"reporter":%q,`,
		dstNS, dstApp, h>>52&255, dstApp, h>>40&0xffff, dstApp, dstNS, port, dstApp, action, reporter)
	b = fmt.Appendf(b, `"policies":{"enforced_policies":["0|default|ns-%03d/default.app-%d|%s|0"],"pending_policies":["0|default|ns-%03d/default.app-%d|%s|0"],"transit_policies":[]},`,
		dstNS, dstApp, verdict, dstNS, dstApp, verdict)
	b = append(b, `"bytes_in":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendUint(b, h>>40, 10)
	b = fmt.Appendf(b, `,"num_flows":1,"num_flows_started":1,"num_flows_completed":1,"packets_in":%d,"packets_out":%d,`, h>>56, h>>58)
	b = append(b, `"transit_bytes_in":0,"transit_bytes_out":0,"transit_packets_in":0,"transit_packets_out":0,`+
		`"http_requests_allowed_in":0,"http_requests_denied_in":0,"process_name":"-","num_process_names":0,"process_id":"-",`+
		`"num_process_ids":0,"process_args":["-"],"num_process_args":0,"original_source_ips":null,"num_original_source_ips":0,`+
		`"tcp_mean_send_congestion_window":0,"tcp_min_send_congestion_window":0,"tcp_mean_smooth_rtt":0,"tcp_max_smooth_rtt":0,`+
		`"tcp_mean_min_rtt":0,"tcp_max_min_rtt":0,"tcp_mean_mss":0,"tcp_min_mss":0,"tcp_total_retransmissions":0,`+
		`"tcp_lost_packets":0,"tcp_unrecovered_to":0,"host":"node-`...)
	b = strconv.AppendUint(b, h>>20%50, 10)
	return append(b, `"}`...)
}
