// Package snapshot is compliance's record of the configuration: the
// kinds a report replays (Kubernetes' pods, namespaces, service accounts,
// services and NetworkPolicies, and Calico's policies, tiers, network
// sets and host endpoints), one list document per kind as Linseed stores
// it, and the audit events that change them after a snapshot, read as
// replay changes. It is pure: documents in, objects out.
package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/compliance/replay"
)

// Resource is a kind that is snapshotted: its API group, version and
// plural resource name (as audit events name it), and its kind.
type Resource struct {
	Group, Version, Resource, Kind string
}

// GVR is the resource's group, version and resource.
func (r Resource) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Resource}
}

// APIVersion is group/version ("v1" for the core group).
func (r Resource) APIVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// Resources are the kinds compliance snapshots.
var Resources = func() []Resource {
	out := []Resource{
		{"", "v1", "pods", "Pod"}, {"", "v1", "namespaces", "Namespace"}, {"", "v1", "serviceaccounts", "ServiceAccount"},
		{"", "v1", "services", "Service"}, {"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"},
	}
	for _, k := range []string{"Tier", "NetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy", "StagedGlobalNetworkPolicy",
		"StagedKubernetesNetworkPolicy", "NetworkSet", "GlobalNetworkSet", "HostEndpoint"} {
		kind, _ := v3.KindFor(k)
		out = append(out, Resource{v3.GroupName, "v3", kind.Plural, kind.Kind})
	}
	return out
}()

// ResourceFor finds a snapshotted resource by group and plural name.
func ResourceFor(group, resource string) (Resource, bool) {
	i := slices.IndexFunc(Resources, func(r Resource) bool { return r.Group == group && r.Resource == resource })
	if i < 0 {
		return Resource{}, false
	}
	return Resources[i], true
}

// Doc is one kind's snapshot, as Linseed's /compliance/snapshots holds it
// (a Kubernetes List with the times of the read).
type Doc struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"` // e.g. PodList
	Items      []json.RawMessage `json:"items"`
	// ResourceVersion is the list's.
	ResourceVersion           string    `json:"resourceVersion,omitempty"`
	RequestStartedTimestamp   time.Time `json:"requestStartedTimestamp"`
	RequestCompletedTimestamp time.Time `json:"requestCompletedTimestamp"`
}

// Resource is the document's kind.
func (d *Doc) Resource() (Resource, bool) {
	for _, r := range Resources {
		if r.APIVersion() == d.APIVersion && r.Kind+"List" == d.Kind {
			return r, true
		}
	}
	return Resource{}, false
}

// volatile are the metadata fields that change without the object's
// meaning changing; a snapshot is written only when something else did.
var volatile = []string{"resourceVersion", "managedFields", "generation"}

// Fingerprint is a hash of a document's items without their volatile
// fields, in a stable order: equal fingerprints, nothing to write.
func (d *Doc) Fingerprint() (string, error) {
	items := make([][]byte, 0, len(d.Items))
	for _, it := range d.Items {
		var m map[string]any
		if err := json.Unmarshal(it, &m); err != nil {
			return "", err
		}
		if meta, ok := m["metadata"].(map[string]any); ok {
			for _, f := range volatile {
				delete(meta, f)
			}
		}
		if d.Kind == "PodList" {
			// Conditions' probe times move on their own; what a report
			// needs of status is the phase and the addresses.
			if st, ok := m["status"].(map[string]any); ok {
				m["status"] = map[string]any{"phase": st["phase"], "podIP": st["podIP"], "podIPs": st["podIPs"]}
			}
		}
		b, err := json.Marshal(m) // maps marshal with sorted keys
		if err != nil {
			return "", err
		}
		items = append(items, b)
	}
	slices.SortFunc(items, bytes.Compare)
	h := sha256.New()
	for _, b := range items {
		h.Write(b)
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Objects decodes a document's items into the typed objects the replay
// reads.
func (d *Doc) Objects() ([]any, error) {
	r, ok := d.Resource()
	if !ok {
		return nil, fmt.Errorf("snapshot of %s %s: not a kind compliance reads", d.APIVersion, d.Kind)
	}
	out := make([]any, 0, len(d.Items))
	for i, it := range d.Items {
		o, err := decode(r, it)
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s, item %d: %w", d.Kind, i, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// decode reads one object of a resource, with its type metadata set.
func decode(r Resource, data []byte) (any, error) {
	var o any
	switch {
	case r.Group == "" && r.Kind == "Pod":
		o = &corev1.Pod{}
	case r.Group == "" && r.Kind == "Namespace":
		o = &corev1.Namespace{}
	case r.Group == "" && r.Kind == "ServiceAccount":
		o = &corev1.ServiceAccount{}
	case r.Group == "" && r.Kind == "Service":
		o = &corev1.Service{}
	case r.Group == "networking.k8s.io":
		o = &networkingv1.NetworkPolicy{}
	case r.Group == v3.GroupName:
		kind, ok := v3.KindFor(r.Kind)
		if !ok {
			return nil, fmt.Errorf("unknown kind %s", r.Kind)
		}
		o = kind.New()
	default:
		return nil, fmt.Errorf("unknown resource %s", r.Resource)
	}
	if err := json.Unmarshal(data, o); err != nil {
		return nil, err
	}
	if v, ok := o.(interface {
		GetObjectKind() schema.ObjectKind
	}); ok {
		v.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind})
	}
	return o, nil
}

// AuditEvent is the part of a Kubernetes audit event (audit.k8s.io/v1)
// a replay reads.
type AuditEvent struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	Stage      string `json:"stage"`
	ObjectRef  *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		APIVersion  string `json:"apiVersion"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestObject            json.RawMessage `json:"requestObject"`
	ResponseObject           json.RawMessage `json:"responseObject"`
	RequestReceivedTimestamp time.Time       `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time       `json:"stageTimestamp"`
}

// DryRun tells whether the request was a dry run, which changed
// nothing: asked for in its URI, or (a delete's) in its DeleteOptions.
func (ev *AuditEvent) DryRun() bool {
	if u, err := url.Parse(ev.RequestURI); err == nil && u.Query().Get("dryRun") != "" {
		return true
	}
	var opts struct {
		Kind   string   `json:"kind"`
		DryRun []string `json:"dryRun"`
	}
	return ev.Verb == "delete" && json.Unmarshal(ev.RequestObject, &opts) == nil && len(opts.DryRun) > 0
}

// Change reads an audit event as a replay change: a successful write
// (create, update, patch: the object the API server answered with;
// delete: the object that went) of a snapshotted resource. ok is false
// for events that change nothing a replay reads (reads, failures, other
// resources, events without the object).
func Change(raw []byte) (replay.Change, bool, error) {
	var ev AuditEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return replay.Change{}, false, err
	}
	ref := ev.ObjectRef
	if ref == nil || (ev.Stage != "" && ev.Stage != "ResponseComplete") || (ev.ResponseStatus != nil && ev.ResponseStatus.Code >= 300) || ev.DryRun() {
		return replay.Change{}, false, nil
	}
	r, ok := ResourceFor(ref.APIGroup, ref.Resource)
	if !ok || (ref.Subresource != "" && ref.Subresource != "status") {
		return replay.Change{}, false, nil
	}
	at := ev.StageTimestamp
	if at.IsZero() {
		at = ev.RequestReceivedTimestamp
	}
	switch ev.Verb {
	case "create", "update", "patch":
		if len(ev.ResponseObject) == 0 || bytes.Equal(ev.ResponseObject, []byte("null")) {
			return replay.Change{}, false, nil // logged without its body
		}
		o, err := decode(r, ev.ResponseObject)
		if err != nil {
			return replay.Change{}, false, fmt.Errorf("%s %s/%s: %w", ev.Verb, ref.Namespace, ref.Name, err)
		}
		return replay.Change{Time: at, Obj: o}, true, nil
	case "delete":
		stub, _ := json.Marshal(map[string]any{"metadata": map[string]string{"name": ref.Name, "namespace": ref.Namespace}})
		o, err := decode(r, stub)
		if err != nil {
			return replay.Change{}, false, err
		}
		return replay.Change{Time: at, Obj: o, Deleted: true}, true, nil
	}
	return replay.Change{}, false, nil
}
