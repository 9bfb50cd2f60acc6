package wire

import (
	"encoding/json"
	"errors"
	"fmt"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
)

// Values travel as JSON without their resourceVersion: the entry's
// Revision carries it. So an update whose only change is a new
// resourceVersion (a pod's status changing, say, which leaves its workload
// endpoint as it was) encodes to the same bytes as the value before it,
// and Typha drops it.

// ErrUnknownKind is returned when decoding a kind this build has no type
// for; a client skips such entries (they come from a newer Typha).
var ErrUnknownKind = errors.New("typha wire: unknown kind")

// newValue returns an empty value of the type the syncer uses for kind.
func newValue(kind string) (any, bool) {
	switch kind {
	case model.KindKubernetesNetworkPolicy:
		return &v3.NetworkPolicy{}, true
	case model.KindEndpointSlice:
		return &discoveryv1.EndpointSlice{}, true
	}
	// Stored kinds plus Profile, WorkloadEndpoint and Node, which the
	// syncer synthesises with their own v3 types.
	if k, ok := v3.KindFor(kind); ok && k.Kind == kind {
		return k.New(), true
	}
	return nil, false
}

// EncodeValue encodes a syncer value. v is not modified.
func EncodeValue(v any) ([]byte, error) {
	if o, ok := v.(runtime.Object); ok {
		if m, err := meta.Accessor(o); err == nil && m.GetResourceVersion() != "" {
			o = o.DeepCopyObject()
			m, _ = meta.Accessor(o)
			m.SetResourceVersion("")
			v = o
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("typha wire: encoding %T: %w", v, err)
	}
	return b, nil
}

// DecodeValue decodes a value of the given kind and gives it the entry's
// revision as its resourceVersion.
func DecodeValue(kind, revision string, data []byte) (any, error) {
	v, ok := newValue(kind)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, kind)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("%w: %s value: %v", ErrMalformed, kind, err)
	}
	if m, err := meta.Accessor(v); err == nil {
		m.SetResourceVersion(revision)
	}
	return v, nil
}

// DecodeUpdate turns an entry into the update a syncer consumer expects.
func DecodeUpdate(e Entry) (model.Update, error) {
	u := model.Update{KVPair: model.KVPair{Key: e.Key, Revision: e.Revision}, UpdateType: e.Type}
	if !e.HasValue {
		return u, nil
	}
	v, err := DecodeValue(e.Key.Kind, e.Revision, e.Value)
	if err != nil {
		return u, err
	}
	u.Value = v
	return u, nil
}
