package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/internal/calc"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/manager/graph"
	"github.com/calicong/calico/internal/manifest"
	"github.com/calicong/calico/internal/query"
)

// PreviewRequest is a policy change to try against recorded flows: the
// objects as they would be written (YAML or JSON each), the objects that
// would be deleted, and how many hours of flows to replay.
type PreviewRequest struct {
	Hours   int         `json:"hours,omitempty"`
	Changes []string    `json:"changes,omitempty"`
	Deletes []ObjectRef `json:"deletes,omitempty"`
}

// ObjectRef names an object.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// PreviewFlow is recorded traffic whose verdict the change would change,
// grouped by its ends and port.
type PreviewFlow struct {
	Source   string `json:"source"`
	Dest     string `json:"destination"`
	Protocol string `json:"protocol"`
	Port     int64  `json:"port"`
	Flows    int64  `json:"flows"`
	Before   string `json:"before"`
	After    string `json:"after"`
	// DecidedBy is the policy that decides after the change.
	DecidedBy string `json:"decided_by,omitempty"`
}

// PreviewResult is what the change would do to the recorded traffic.
type PreviewResult struct {
	Hours int `json:"hours"`
	// Flows is the flow count replayed, Groups the distinct (source,
	// destination, protocol, port) among them.
	Flows   int64         `json:"flows"`
	Groups  int           `json:"groups"`
	Changed []PreviewFlow `json:"changed"`
	// Skipped counts flows that could not be replayed: an end that is no
	// longer there, or that is not a workload or network.
	Skipped int64  `json:"skipped"`
	Took    string `json:"took"`
}

const (
	maxPreviewHours  = 24
	previewAggregate = 10000
)

// Representative addresses of traffic outside the cluster's workloads,
// when the flow logs have no address (aggregated records).
var (
	publicRep  = netip.MustParseAddr("192.0.2.10")
	privateRep = netip.MustParseAddr("172.16.255.254")
)

// previewPolicies replays the recorded flows of the last hours through the
// policy engine twice (the policies as they are, read as the user, and
// with the change) and lists the traffic whose verdict differs. Nothing
// is written.
func (s *server) previewPolicies(w http.ResponseWriter, r *http.Request, u kubeauth.User) {
	start := time.Now()
	var req PreviewRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "the preview request is not valid JSON: "+err.Error())
		return
	}
	if req.Hours == 0 {
		req.Hours = 1
	}
	if req.Hours < 1 || req.Hours > maxPreviewHours {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("hours %d: 1 to %d", req.Hours, maxPreviewHours))
		return
	}
	changes, err := decodeChanges(req.Changes)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(changes) == 0 && len(req.Deletes) == 0 {
		writeError(w, http.StatusBadRequest, "nothing to preview: send changes or deletes")
		return
	}
	dc, ok := s.userClient(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	var objs []any
	for _, l := range listAsUser(ctx, dc, "") {
		if l.err != nil {
			writeError(w, http.StatusBadGateway, fmt.Sprintf("listing %s as %s: %v", l.what, u.Name, l.err))
			return
		}
		if l.forbidden && l.policy {
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s may not list %s: a preview needs every policy", u.Name, l.what))
			return
		}
		objs = append(objs, l.objs...)
	}
	edited := applyChanges(objs, changes, req.Deletes)

	to := time.Now()
	p := map[string]any{"time_range": map[string]any{"from": to.Add(-time.Duration(req.Hours) * time.Hour).UTC().Format(time.RFC3339), "to": to.UTC().Format(time.RFC3339)},
		"max_page_size": previewAggregate}
	var res struct {
		Items []l3Flow `json:"items"`
	}
	if !s.linseed(w, ctx, "/flows", p, &res) {
		return
	}
	before, err := policyState(objs)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	after, err := policyState(edited)
	if err != nil {
		writeError(w, http.StatusBadRequest, "the change: "+err.Error())
		return
	}
	reps := representatives(objs)
	out := PreviewResult{Hours: req.Hours, Changed: []PreviewFlow{}}
	type groupKey struct {
		src, dst string
		proto    string
		port     int64
	}
	keyOf := func(it l3Flow) groupKey {
		port, _ := it.Key.Dest.Port.Int64()
		return groupKey{endpointKey(it.Key.Source), endpointKey(it.Key.Dest.Endpoint), it.Key.Protocol, port}
	}
	// Each flow is in the records once per reporting end: count it once,
	// by its destination's report where there is one.
	reportedByDest := map[groupKey]bool{}
	for _, it := range res.Items {
		if it.Key.Reporter == "dst" {
			reportedByDest[keyOf(it)] = true
		}
	}
	groups := map[groupKey]int64{}
	for _, it := range res.Items {
		k := keyOf(it)
		if it.Key.Reporter == "src" && reportedByDest[k] {
			continue
		}
		groups[k] += max(it.LogStats.FlowLogCount, 1)
		out.Flows += max(it.LogStats.FlowLogCount, 1)
	}
	out.Groups = len(groups)
	for k, n := range groups {
		src, ok1 := reps.addr(k.src)
		dst, ok2 := reps.addr(k.dst)
		proto, ok3 := protoNumber(k.proto)
		if !ok1 || !ok2 || !ok3 {
			out.Skipped += n
			continue
		}
		pkt := calc.Packet{Src: src, Dst: dst, Protocol: proto, DstPort: uint16(k.port), SrcPort: 40000}
		tb, ta := before.Graph.Evaluate(pkt), after.Graph.Evaluate(pkt)
		if tb.Verdict == ta.Verdict {
			continue
		}
		out.Changed = append(out.Changed, PreviewFlow{Source: displayKey(k.src), Dest: displayKey(k.dst), Protocol: k.proto, Port: k.port,
			Flows: n, Before: tb.Verdict, After: ta.Verdict, DecidedBy: decider(ta)})
	}
	sort.Slice(out.Changed, func(i, j int) bool {
		a, b := out.Changed[i], out.Changed[j]
		if a.Flows != b.Flows {
			return a.Flows > b.Flows
		}
		return a.Source+a.Dest < b.Source+b.Dest
	})
	out.Took = time.Since(start).Round(time.Millisecond).String()
	writeJSON(w, out)
}

// decodeChanges parses the changed objects, defaulted and validated as
// the API server would.
func decodeChanges(raw []string) ([]v3.Object, error) {
	var out []v3.Object
	for i, text := range raw {
		docs, err := manifest.Parse(fmt.Sprintf("change %d", i+1), []byte(text))
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			_, obj, err := manifest.DecodeCalico(d)
			if err != nil {
				return nil, err
			}
			v3.Default(obj)
			if errs := validation.Validate(obj); len(errs) > 0 {
				return nil, fmt.Errorf("change %d (%s %s): %v", i+1, obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), errs.ToAggregate())
			}
			out = append(out, obj)
		}
	}
	return out, nil
}

// objectKey identifies an object among those listed.
func objectKey(o any) string {
	if v, ok := o.(v3.Object); ok {
		return v.GetObjectKind().GroupVersionKind().Kind + "/" + v.GetNamespace() + "/" + v.GetName()
	}
	return ""
}

// applyChanges is objs with the changed objects in place of (or beside)
// theirs and the deleted ones gone.
func applyChanges(objs []any, changes []v3.Object, deletes []ObjectRef) []any {
	drop := map[string]bool{}
	for _, c := range changes {
		drop[objectKey(c)] = true
	}
	for _, d := range deletes {
		kind, ok := v3.KindFor(d.Kind)
		if ok {
			drop[kind.Kind+"/"+d.Namespace+"/"+d.Name] = true
		}
	}
	var out []any
	for _, o := range objs {
		if k := objectKey(o); k == "" || !drop[k] {
			out = append(out, o)
		}
	}
	for _, c := range changes {
		out = append(out, c)
	}
	return out
}

func policyState(objs []any) (*query.State, error) {
	snap, err := query.FromObjects(objs)
	if err != nil {
		return nil, err
	}
	return query.FromSnapshot(snap, nil)
}

// endpointKey names a flow's end: "wep/<ns>/<aggregated name>",
// "net/<name>", or its type and name for what a preview cannot replay.
func endpointKey(e graph.Endpoint) string {
	if e.Type == "wep" {
		return "wep/" + e.Namespace + "/" + e.Name
	}
	return e.Type + "/" + e.Name
}

// repSet finds an address that stands for each end of the recorded flows:
// a current pod matching a workload's aggregated name, a representative
// public or private address for networks.
type repSet struct {
	pods map[string][]*corev1.Pod // by namespace
}

func representatives(objs []any) repSet {
	r := repSet{pods: map[string][]*corev1.Pod{}}
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.Status.PodIP != "" && !p.Spec.HostNetwork {
			r.pods[p.Namespace] = append(r.pods[p.Namespace], p)
		}
	}
	return r
}

func (r repSet) addr(key string) (netip.Addr, bool) {
	typ, rest, _ := strings.Cut(key, "/")
	switch typ {
	case "net":
		if rest == "pub" {
			return publicRep, true
		}
		return privateRep, true
	case "wep":
		ns, name, _ := strings.Cut(rest, "/")
		prefix := strings.TrimSuffix(name, "*")
		for _, p := range r.pods[ns] {
			if p.Name == name || (prefix != name && strings.HasPrefix(p.Name, prefix)) {
				a, err := netip.ParseAddr(p.Status.PodIP)
				return a, err == nil
			}
		}
	}
	return netip.Addr{}, false
}

func displayKey(key string) string {
	typ, rest, _ := strings.Cut(key, "/")
	if typ == "net" {
		switch rest {
		case "pub":
			return "the internet"
		case "pvt":
			return "private network"
		}
	}
	return rest
}

func protoNumber(p string) (uint8, bool) {
	switch strings.ToLower(p) {
	case "tcp", "6":
		return 6, true
	case "udp", "17":
		return 17, true
	case "icmp", "1":
		return 1, true
	case "sctp", "132":
		return 132, true
	}
	return 0, false
}

// decider names the policy (or profile, or tier default) that decided a
// trace: the ingress side's when ingress denied or both allowed.
func decider(t calc.Trace) string {
	d := t.Ingress
	if t.Egress != nil && t.Egress.Verdict != string(v3.Allow) {
		d = t.Egress
	}
	if d == nil {
		return ""
	}
	switch {
	case d.Policy != nil:
		return d.Policy.String()
	case d.Profile != "":
		return "profile " + d.Profile
	case d.Tier != "":
		return "tier " + d.Tier + " default"
	}
	return d.Reason
}
