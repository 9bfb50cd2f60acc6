// Package manifest reads Kubernetes-style manifests: files, directories and
// standard input holding multi-document YAML, a JSON object, a JSON array
// or a List. Every document keeps where it came from (file and document
// number), so errors can point at it. Decoding is strict: an unknown field
// is an error naming the field, never silently dropped.
package manifest

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

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Doc is one resource read from an input.
type Doc struct {
	Source     string // file name, or "<stdin>"
	Index      int    // 1-based position of the document in its source
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	JSON       []byte
}

// Where names the document for error messages:
// `policies.yaml: document 2 (GlobalNetworkPolicy "deny-all")`.
func (d Doc) Where() string {
	w := fmt.Sprintf("%s: document %d", d.Source, d.Index)
	if d.Kind != "" && d.Name != "" {
		name := d.Name
		if d.Namespace != "" {
			name = d.Namespace + "/" + name
		}
		w += fmt.Sprintf(" (%s %q)", d.Kind, name)
	}
	return w
}

// Error is what was wrong with one document.
type Error struct {
	Doc  Doc
	Errs []string
}

func (e *Error) Error() string {
	if len(e.Errs) == 1 {
		return e.Doc.Where() + ": " + e.Errs[0]
	}
	return e.Doc.Where() + ":\n  " + strings.Join(e.Errs, "\n  ")
}

// Errorf returns an Error about a document.
func Errorf(d Doc, format string, args ...any) *Error {
	return &Error{Doc: d, Errs: []string{fmt.Sprintf(format, args...)}}
}

// Read reads every document of the given paths: files, directories (their
// .yaml, .yml and .json files, sorted; subdirectories too with recursive)
// and "-" for stdin. It reports every problem it finds, not just the first.
func Read(paths []string, recursive bool, stdin io.Reader) ([]Doc, error) {
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
			d, err := Parse(f, data)
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

// Parse splits one input into documents. Lists are expanded into their
// items (which keep the list's document number).
func Parse(source string, data []byte) ([]Doc, error) {
	var raws [][]byte
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var items []json.RawMessage
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
		d, err := parseDocument(Doc{Source: source, Index: index}, raw)
		docs = append(docs, d...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return docs, errors.Join(errs...)
}

func isBlank(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		l := bytes.TrimSpace(line)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

func parseDocument(d Doc, raw []byte) ([]Doc, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, Errorf(d, "not valid YAML: %v", err)
	}
	var h header
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &h); err != nil {
		return nil, Errorf(d, "not a resource: %v", cleanJSONError(err))
	}
	if h.Kind == "List" || strings.HasSuffix(h.Kind, "List") && h.Items != nil {
		var out []Doc
		var errs []error
		for _, it := range h.Items {
			items, err := parseDocument(Doc{Source: d.Source, Index: d.Index}, it)
			out = append(out, items...)
			if err != nil {
				errs = append(errs, err)
			}
		}
		return out, errors.Join(errs...)
	}
	d.APIVersion, d.Kind, d.Name, d.Namespace, d.JSON = h.APIVersion, h.Kind, h.Metadata.Name, h.Metadata.Namespace, js
	if h.APIVersion == "" || h.Kind == "" {
		return nil, Errorf(d, "apiVersion and kind are required (for example apiVersion: projectcalico.org/v3, kind: GlobalNetworkPolicy)")
	}
	return []Doc{d}, nil
}

// DecodeStrict decodes a document's JSON into obj, reporting unknown and
// duplicate fields with their paths.
func DecodeStrict(d Doc, obj any) error {
	strictErrs, err := sigsjson.UnmarshalStrict(d.JSON, obj)
	if err != nil {
		return Errorf(d, "%s", cleanJSONError(err))
	}
	if len(strictErrs) > 0 {
		e := &Error{Doc: d}
		for _, se := range strictErrs {
			e.Errs = append(e.Errs, cleanJSONError(se))
		}
		return e
	}
	return nil
}

func cleanJSONError(err error) string { return strings.TrimPrefix(err.Error(), "json: ") }
