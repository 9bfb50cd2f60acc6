// Package model defines the key/value stream that flows from the datastore
// to every consumer (Felix's calculation graph, confd, Typha and calicoq).
//
// Contract (shared with Calico's syncer API):
//   - A KVPair with a nil Value means the resource is gone, or that it
//     failed validation; consumers decide existence from Value alone, never
//     from UpdateType, which is only a hint.
//   - Updates may be coalesced, replayed or spuriously deleted and
//     re-created; only eventual convergence is promised, so every consumer
//     reconciles against the latest value per key.
//   - Status moves WaitForDatastore → ResyncInProgress → InSync. Before
//     InSync a consumer holds a partial view and must not act on absence.
package model

import "strings"

// Kinds synthesised from native Kubernetes objects (the Calico kinds use
// their projectcalico.org/v3 kind names).
const (
	KindWorkloadEndpoint        = "WorkloadEndpoint"
	KindProfile                 = "Profile"
	KindKubernetesNetworkPolicy = "KubernetesNetworkPolicy"
	// KindEndpointSlice carries a *discoveryv1.EndpointSlice, which resolves
	// the `services` match of policy rules.
	KindEndpointSlice = "EndpointSlice"
	// KindNode carries a *v3.Node synthesised from a Kubernetes Node.
	KindNode = "Node"
)

// Key identifies one resource in the stream.
type Key struct {
	Kind      string
	Namespace string // empty for cluster-scoped resources
	Name      string
}

// String renders the key as Kind/name or Kind/namespace/name.
func (k Key) String() string {
	var b strings.Builder
	b.Grow(len(k.Kind) + len(k.Namespace) + len(k.Name) + 2)
	b.WriteString(k.Kind)
	b.WriteByte('/')
	if k.Namespace != "" {
		b.WriteString(k.Namespace)
		b.WriteByte('/')
	}
	b.WriteString(k.Name)
	return b.String()
}

// KVPair is one resource's latest state. Value is nil when the resource is
// gone. Revision is the datastore's version of the value (a Kubernetes
// resourceVersion); it is opaque and only compared for equality.
type KVPair struct {
	Key      Key
	Value    any
	Revision string
}

// UpdateType hints at how a KVPair changed.
type UpdateType uint8

const (
	UpdateTypeUnknown UpdateType = iota
	UpdateTypeNew
	UpdateTypeUpdated
	UpdateTypeDeleted
)

func (t UpdateType) String() string {
	switch t {
	case UpdateTypeNew:
		return "new"
	case UpdateTypeUpdated:
		return "updated"
	case UpdateTypeDeleted:
		return "deleted"
	}
	return "unknown"
}

// Update is one entry of the stream.
type Update struct {
	KVPair
	UpdateType UpdateType
}

// SyncStatus is the stream's overall state.
type SyncStatus uint8

const (
	WaitForDatastore SyncStatus = iota
	ResyncInProgress
	InSync
)

func (s SyncStatus) String() string {
	switch s {
	case WaitForDatastore:
		return "wait-for-datastore"
	case ResyncInProgress:
		return "resync-in-progress"
	case InSync:
		return "in-sync"
	}
	return "unknown"
}

// SyncerCallbacks receives the stream. Calls are made from one goroutine at
// a time, never concurrently.
type SyncerCallbacks interface {
	OnStatusUpdated(SyncStatus)
	OnUpdates([]Update)
}

// Tee hands the stream to several consumers, in order. They share the
// updates and their values, which none may modify.
func Tee(cbs ...SyncerCallbacks) SyncerCallbacks { return tee(cbs) }

type tee []SyncerCallbacks

func (t tee) OnStatusUpdated(s SyncStatus) {
	for _, c := range t {
		c.OnStatusUpdated(s)
	}
}

func (t tee) OnUpdates(us []Update) {
	for _, c := range t {
		c.OnUpdates(us)
	}
}
