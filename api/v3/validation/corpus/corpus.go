// Package corpus reads validation case files: multi-document YAML where each
// document is a projectcalico.org/v3 resource plus keys that say what verdict
// is expected (see testdata/upstream-cases.yaml in the parent directory). The
// validation package's tests run the cases through the validator, and
// calicoctl's through `calicoctl validate`.
package corpus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Case is one document of a case file.
type Case struct {
	// Index is the 1-based position of the document in the file.
	Index int
	// Note says what the case checks.
	Note string
	// Valid is the expected verdict: true when the resource is accepted.
	Valid bool
	// Deliberate, when set, says why this project gives the other verdict.
	Deliberate string
	// Kind is the resource's kind.
	Kind string
	// Resource is the document without the case keys, as YAML.
	Resource []byte
}

// Name identifies the case in test output: "#12 an unknown action".
func (c Case) Name() string { return fmt.Sprintf("#%d %s", c.Index, c.Note) }

// Load reads a case file. Every document must have a note and a valid key.
func Load(path string) ([]Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var cases []Case
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, len(cases)+1, err)
		}
		if len(m) == 0 {
			continue // only comments
		}
		c := Case{Index: len(cases) + 1}
		var ok bool
		if c.Note, ok = m["note"].(string); !ok || c.Note == "" {
			return nil, fmt.Errorf("%s: document %d: no note", path, c.Index)
		}
		if c.Valid, ok = m["valid"].(bool); !ok {
			return nil, fmt.Errorf("%s: document %d (%s): valid must be true or false", path, c.Index, c.Note)
		}
		c.Deliberate, _ = m["deliberate"].(string)
		c.Kind, _ = m["kind"].(string)
		delete(m, "note")
		delete(m, "valid")
		delete(m, "deliberate")
		if c.Resource, err = yaml.Marshal(m); err != nil {
			return nil, err
		}
		cases = append(cases, c)
	}
	return cases, nil
}
