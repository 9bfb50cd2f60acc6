package syncer

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/calicong/calico/internal/model"
)

// ConvertFunc turns one Kubernetes object into the resource it contributes
// to the stream. ok=false means the object contributes nothing (a
// host-networked pod, say). A non-nil error means the object is invalid:
// its key is reported with a nil value, so consumers drop it.
type ConvertFunc func(obj runtime.Object) (key model.Key, value any, ok bool, err error)

// Source is one watched Kubernetes resource type and its conversion.
type Source struct {
	// Name labels the source in logs and metrics, e.g. "pods".
	Name string
	// ListWatch lists and watches the objects.
	ListWatch cache.ListerWatcher
	// Example is an empty object of the listed type.
	Example runtime.Object
	Convert ConvertFunc
}

// converted is what the syncer keeps per Kubernetes object while the
// reflector lists: the conversion result plus enough metadata to identify
// the object. Converting at the boundary means full objects (pods, above
// all) are never retained.
type converted struct {
	metav1.ObjectMeta
	key   model.Key
	value any
	ok    bool
	err   error
}

// transform converts raw objects; already converted ones pass through.
func (s *Source) transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *converted:
		return o, nil
	case cache.DeletedFinalStateUnknown:
		return o, nil
	case runtime.Object:
		m, err := meta.Accessor(o)
		if err != nil {
			return nil, err
		}
		key, value, ok, cerr := s.Convert(o)
		return &converted{
			ObjectMeta: metav1.ObjectMeta{
				Name:            m.GetName(),
				Namespace:       m.GetNamespace(),
				ResourceVersion: m.GetResourceVersion(),
			},
			key: key, value: value, ok: ok, err: cerr,
		}, nil
	}
	return obj, nil
}
