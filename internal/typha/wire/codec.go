package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
)

// Values travel as one flags byte and JSON without what the entry already
// says: the resourceVersion (the entry's Revision carries it), the name and
// namespace when they equal the key's, and the type meta when it is the
// v3 kind of the value's type. So an update whose only change is a new
// resourceVersion (a pod's status changing, say, which leaves its workload
// endpoint as it was) encodes to the same bytes as the value before it,
// and Typha drops it; and snapshots are a fifth smaller.

// The flags byte.
const (
	flagTypeMeta  = 1 << iota // TypeMeta was {projectcalico.org/v3, <type name>}
	flagName                  // metadata.name was the key's name
	flagNamespace             // metadata.namespace was the key's namespace
)

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

// EncodeValue encodes the value of key. v is not modified.
func EncodeValue(key model.Key, v any) ([]byte, error) {
	var flags byte
	if o, ok := v.(runtime.Object); ok {
		if _, err := meta.Accessor(o); err == nil {
			o = o.DeepCopyObject()
			m, _ := meta.Accessor(o)
			m.SetResourceVersion("")
			if key.Name != "" && m.GetName() == key.Name {
				m.SetName("")
				flags |= flagName
			}
			if key.Namespace != "" && m.GetNamespace() == key.Namespace {
				m.SetNamespace("")
				flags |= flagNamespace
			}
			if o.GetObjectKind().GroupVersionKind() == v3.SchemeGroupVersion.WithKind(typeName(o)) {
				o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
				flags |= flagTypeMeta
			}
			v = o
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("typha wire: encoding %T: %w", v, err)
	}
	out := make([]byte, 1+len(b))
	out[0] = flags
	copy(out[1:], b)
	return out, nil
}

func typeName(o any) string { return reflect.TypeOf(o).Elem().Name() }

// DecodeValue decodes the value of key and gives it the entry's revision
// as its resourceVersion.
func DecodeValue(key model.Key, revision string, data []byte) (any, error) {
	v, ok := newValue(key.Kind)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, key.Kind)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: %s value is empty", ErrMalformed, key.Kind)
	}
	flags := data[0]
	if o, ok := v.(runtime.Object); ok {
		o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{}) // New may set it
	}
	if err := json.Unmarshal(data[1:], v); err != nil {
		return nil, fmt.Errorf("%w: %s value: %v", ErrMalformed, key.Kind, err)
	}
	if o, ok := v.(runtime.Object); ok {
		if m, err := meta.Accessor(o); err == nil {
			m.SetResourceVersion(revision)
			if flags&flagName != 0 {
				m.SetName(key.Name)
			}
			if flags&flagNamespace != 0 {
				m.SetNamespace(key.Namespace)
			}
			if flags&flagTypeMeta != 0 {
				o.GetObjectKind().SetGroupVersionKind(v3.SchemeGroupVersion.WithKind(typeName(o)))
			}
		}
	}
	return v, nil
}

// DecodeUpdate turns an entry into the update a syncer consumer expects.
func DecodeUpdate(e Entry) (model.Update, error) {
	u := model.Update{KVPair: model.KVPair{Key: e.Key, Revision: e.Revision}, UpdateType: e.Type}
	if !e.HasValue {
		return u, nil
	}
	v, err := DecodeValue(e.Key, e.Revision, e.Value)
	if err != nil {
		return u, err
	}
	u.Value = v
	return u, nil
}
