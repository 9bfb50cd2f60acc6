package ctl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
)

// Doc is one resource read from an input.
type Doc struct {
	Source string // file name, or "<stdin>"
	Index  int    // 1-based position of the document in its source
	Kind   v3.KindInfo
	Obj    v3.Object
}

// where names the document for error messages:
// `policies.yaml: document 2 (GlobalNetworkPolicy "deny-all")`.
func (d Doc) where() string {
	w := fmt.Sprintf("%s: document %d", d.Source, d.Index)
	if d.Obj != nil {
		name := d.Obj.GetName()
		if ns := d.Obj.GetNamespace(); ns != "" && d.Kind.Namespaced {
			name = ns + "/" + name
		}
		w += fmt.Sprintf(" (%s %q)", d.Kind.Kind, name)
	}
	return w
}

// DocError is what was wrong with one document.
type DocError struct {
	Doc  Doc
	Errs []string
}

func (e *DocError) Error() string {
	if len(e.Errs) == 1 {
		return e.Doc.where() + ": " + e.Errs[0]
	}
	return e.Doc.where() + ":\n  " + strings.Join(e.Errs, "\n  ")
}

// readInputs reads every document of the given -f arguments: files,
// directories (their .yaml, .yml and .json files, sorted; recursive with
// recursive) and "-" for standard input. It reports every problem it finds
// in any document, not just the first.
func readInputs(paths []string, recursive bool, stdin io.Reader) ([]Doc, error) {
	var docs []Doc
	var errs []error
	for _, p := range paths {
		files, err := expand(p, recursive)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			var data []byte
			if f == "-" {
				data, err = io.ReadAll(stdin)
				f = "<stdin>"
			} else {
				data, err = os.ReadFile(f)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("read %s: %w", f, err))
				continue
			}
			d, err := parseDocuments(f, data)
			docs = append(docs, d...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(docs) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("no resources found in %s", strings.Join(paths, ", ")))
	}
	return docs, errors.Join(errs...)
}

func expand(p string, recursive bool) ([]string, error) {
	if p == "-" {
		return []string{"-"}, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", p, err)
	}
	sort.Strings(files)
	return files, nil
}

// parseDocuments splits a YAML stream (or a JSON object or array) into
// documents and decodes each strictly: an unknown field is an error, not
// something silently dropped.
func parseDocuments(source string, data []byte) ([]Doc, error) {
	var raws [][]byte
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var items []jsonRaw
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(trimmed, &items); err != nil {
			return nil, fmt.Errorf("%s: not a valid JSON array of resources: %w", source, err)
		}
		for _, it := range items {
			raws = append(raws, it)
		}
	} else {
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", source, err)
			}
			raws = append(raws, doc)
		}
	}
	var docs []Doc
	var errs []error
	index := 0
	for _, raw := range raws {
		if isBlank(raw) {
			continue
		}
		index++
		d, err := decodeDocument(source, index, raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		docs = append(docs, d...)
	}
	return docs, errors.Join(errs...)
}

// jsonRaw holds one undecoded document.
type jsonRaw = json.RawMessage

func isBlank(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		l := bytes.TrimSpace(line)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

type typeMeta struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Items      []jsonRaw `json:"items"`
}

// decodeDocument decodes one document; a "List" yields its items.
func decodeDocument(source string, index int, raw []byte) ([]Doc, error) {
	d := Doc{Source: source, Index: index}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, &DocError{Doc: d, Errs: []string{"not valid YAML: " + err.Error()}}
	}
	var tm typeMeta
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
		return nil, &DocError{Doc: d, Errs: []string{"not a resource: " + err.Error()}}
	}
	if tm.Kind == "List" || strings.HasSuffix(tm.Kind, "List") && tm.Items != nil {
		var out []Doc
		var errs []error
		for _, it := range tm.Items {
			items, err := decodeDocument(source, index, it)
			out = append(out, items...)
			if err != nil {
				errs = append(errs, err)
			}
		}
		return out, errors.Join(errs...)
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return nil, &DocError{Doc: d, Errs: []string{"apiVersion and kind are required (for example apiVersion: projectcalico.org/v3, kind: GlobalNetworkPolicy)"}}
	}
	if tm.APIVersion != v3.GroupVersionString {
		return nil, &DocError{Doc: d, Errs: []string{fmt.Sprintf("apiVersion %q is not supported: calicoctl handles %s resources (use kubectl for other kinds)", tm.APIVersion, v3.GroupVersionString)}}
	}
	kind, ok := v3.KindFor(tm.Kind)
	if !ok || !strings.EqualFold(kind.Kind, tm.Kind) {
		return nil, &DocError{Doc: d, Errs: []string{fmt.Sprintf("unknown kind %q in %s", tm.Kind, v3.GroupVersionString)}}
	}
	d.Kind = kind
	obj := kind.New()
	strictErrs, err := sigsjson.UnmarshalStrict(js, obj)
	if err != nil {
		return nil, &DocError{Doc: d, Errs: []string{cleanJSONError(err)}}
	}
	d.Obj = obj
	if len(strictErrs) > 0 {
		var msgs []string
		for _, e := range strictErrs {
			msgs = append(msgs, cleanJSONError(e))
		}
		return nil, &DocError{Doc: d, Errs: msgs}
	}
	if obj.GetName() == "" {
		return nil, &DocError{Doc: d, Errs: []string{"metadata.name: Required value"}}
	}
	return []Doc{d}, nil
}

func cleanJSONError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "json: ")
	return s
}

// prepare defaults and validates every document, setting namespaces. It
// returns every problem in every document.
func prepare(docs []Doc, namespace string) error {
	var errs []error
	for _, d := range docs {
		if d.Kind.Namespaced {
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
			errs = append(errs, &DocError{Doc: d, Errs: []string{fmt.Sprintf("metadata.namespace: %s is not namespaced; remove the namespace", d.Kind.Kind)}})
			continue
		}
		if !d.Kind.Stored {
			errs = append(errs, &DocError{Doc: d, Errs: []string{fmt.Sprintf("%s resources are derived from Kubernetes objects and cannot be written; change the Kubernetes object instead", d.Kind.Kind)}})
			continue
		}
		v3.Default(d.Obj)
		if fe := validation.Validate(d.Obj); len(fe) > 0 {
			errs = append(errs, &DocError{Doc: d, Errs: fieldErrors(fe)})
		}
	}
	return errors.Join(errs...)
}

func fieldErrors(list field.ErrorList) []string {
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, e.Error())
	}
	return out
}
