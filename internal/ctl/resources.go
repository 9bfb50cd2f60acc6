package ctl

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/internal/manifest"
)

// Doc is one Calico resource read from an input.
type Doc struct {
	manifest.Doc
	Info v3.KindInfo
	Obj  v3.Object
}

// where names the document for error messages, with the name and
// namespace as they are now (after defaulting).
func (d Doc) where() string {
	m := d.Doc
	if d.Obj != nil {
		m.Kind, m.Name, m.Namespace = d.Info.Kind, d.Obj.GetName(), ""
		if d.Info.Namespaced {
			m.Namespace = d.Obj.GetNamespace()
		}
	}
	return m.Where()
}

// DocError is what was wrong with one document.
type DocError struct {
	Doc  Doc
	Errs []string
}

func (e *DocError) Error() string { return e.Doc.where() + errSuffix(e.Errs) }

func errSuffix(errs []string) string {
	if len(errs) == 1 {
		return ": " + errs[0]
	}
	out := ":"
	for _, e := range errs {
		out += "\n  " + e
	}
	return out
}

// readInputs reads and decodes every Calico document of the -f arguments,
// reporting every problem in every document.
func readInputs(paths []string, recursive bool, stdin io.Reader) ([]Doc, error) {
	raw, err := manifest.Read(paths, recursive, stdin)
	docs, derr := decodeAll(raw)
	return docs, errors.Join(err, derr)
}

func decodeAll(raw []manifest.Doc) ([]Doc, error) {
	var docs []Doc
	var errs []error
	for _, m := range raw {
		if kind, ok := v3.KindFor(m.Kind); ok && m.IsCalico() {
			js, err := canonicalFieldNames(m.JSON, reflect.TypeOf(kind.New()))
			if err != nil {
				errs = append(errs, manifest.Errorf(m, "%v", err))
				continue
			}
			m.JSON = js
		}
		info, obj, err := manifest.DecodeCalico(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		docs = append(docs, Doc{Doc: m, Info: info, Obj: obj})
	}
	return docs, errors.Join(errs...)
}

// parseDocuments decodes the Calico documents of one in-memory input.
func parseDocuments(source string, data []byte) ([]Doc, error) {
	raw, err := manifest.Parse(source, data)
	docs, derr := decodeAll(raw)
	return docs, errors.Join(err, derr)
}

// knpPrefix starts the names Calico gives the policies it converts from
// Kubernetes NetworkPolicies.
const knpPrefix = "knp.default."

// prepare defaults and validates every document, setting namespaces. It
// returns every problem in every document. For a write, kinds that are
// derived from Kubernetes objects are refused; validate checks them too.
func prepare(docs []Doc, namespace string, write bool) error {
	var errs []error
	for _, d := range docs {
		if d.Info.Namespaced {
			switch {
			case d.Obj.GetNamespace() == "" && namespace != "":
				d.Obj.SetNamespace(namespace)
			case d.Obj.GetNamespace() == "":
				d.Obj.SetNamespace("default")
			case namespace != "" && d.Obj.GetNamespace() != namespace:
				errs = append(errs, &DocError{Doc: d, Errs: []string{fmt.Sprintf("metadata.namespace %q does not match --namespace %q", d.Obj.GetNamespace(), namespace)}})
				continue
			}
		} else if d.Obj.GetNamespace() != "" {
			errs = append(errs, &DocError{Doc: d, Errs: []string{fmt.Sprintf("metadata.namespace: %s is not namespaced; remove the namespace", d.Info.Kind)}})
			continue
		}
		if write && !d.Info.Stored {
			errs = append(errs, &DocError{Doc: d, Errs: []string{fmt.Sprintf("%s resources are derived from Kubernetes objects and cannot be written; change the Kubernetes object instead", d.Info.Kind)}})
			continue
		}
		// As Calico's calicoctl: the name Calico gives converted Kubernetes
		// NetworkPolicies is valid, but not for a policy written here.
		if write && d.Info.Kind == "NetworkPolicy" && strings.HasPrefix(d.Obj.GetName(), knpPrefix) {
			errs = append(errs, &DocError{Doc: d, Errs: []string{fmt.Sprintf("metadata.name: kubernetes network policies must be managed through the Kubernetes API: names starting with %q are those of converted Kubernetes NetworkPolicies; choose another name", knpPrefix)}})
			continue
		}
		v3.DefaultForWrite(d.Obj, nil)
		// A write's own rules (ValidateWrite) wait for the stored object
		// (finishWrite): an update may leave a label that then follows the
		// tier. validate checks the document as a create.
		check := validation.Validate
		if !write {
			check = validation.ValidateWrite
		}
		if fe := check(d.Obj); len(fe) > 0 {
			errs = append(errs, &DocError{Doc: d, Errs: fieldErrors(fe)})
		}
	}
	return errors.Join(errs...)
}

// finishWrite completes the defaulting of a prepared document once the
// object it replaces is known (existing, nil for a create), as
// v3.DefaultForWrite does for an update, and checks what only a write must
// satisfy (validation.ValidateWrite: a policy's tier label names its tier).
func finishWrite(d Doc, existing v3.Object) error {
	var old runtime.Object
	if existing != nil {
		old = existing
	}
	v3.DefaultForWrite(d.Obj, old)
	if fe := validation.ValidateWrite(d.Obj); len(fe) > 0 {
		return &DocError{Doc: d, Errs: fieldErrors(fe)}
	}
	return nil
}

func fieldErrors(list field.ErrorList) []string {
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, e.Error())
	}
	return out
}

// printWarnings prints, for each document, what validation accepts but this
// dataplane does not fully honour (validation.Warnings, the same sentences
// the admission webhook returns), in kubectl's form "Warning: <text>",
// followed by the document they are about.
func printWarnings(w io.Writer, docs []Doc) {
	for _, d := range docs {
		for _, msg := range validation.Warnings(d.Obj) {
			fmt.Fprintf(w, "Warning: %s [%s]\n", msg, d.where())
		}
	}
}
