package manifest

import (
	"strings"

	v3 "github.com/calicong/calico/api/v3"
)

// IsCalico reports whether a document is a projectcalico.org/v3 resource.
func (d Doc) IsCalico() bool { return d.APIVersion == v3.GroupVersionString }

// DecodeCalico decodes a projectcalico.org/v3 document strictly into its
// typed object.
func DecodeCalico(d Doc) (v3.KindInfo, v3.Object, error) {
	if !d.IsCalico() {
		return v3.KindInfo{}, nil, Errorf(d, "apiVersion %q is not supported: calicoctl handles %s resources (use kubectl for other kinds)", d.APIVersion, v3.GroupVersionString)
	}
	kind, ok := v3.KindFor(d.Kind)
	if !ok || !strings.EqualFold(kind.Kind, d.Kind) {
		return kind, nil, Errorf(d, "unknown kind %q in %s", d.Kind, v3.GroupVersionString)
	}
	obj := kind.New()
	if err := DecodeStrict(d, obj); err != nil {
		return kind, nil, err
	}
	if obj.GetName() == "" {
		return kind, nil, Errorf(d, "metadata.name: Required value")
	}
	obj.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
	return kind, obj, nil
}
