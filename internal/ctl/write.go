package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/spf13/cobra"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
)

type verb int

const (
	verbCreate verb = iota
	verbApply
	verbReplace
)

func (v verb) String() string {
	return [...]string{"create", "apply", "replace"}[v]
}

func (v verb) past() string {
	return [...]string{"created", "applied", "replaced"}[v]
}

// action is what a write command will do to one document.
type action int

const (
	actCreate action = iota
	actUpdate
	actUnchanged
	actSkip
)

type step struct {
	doc Doc
	act action
}

func newWriteCommand(o *options, v verb) *cobra.Command {
	var (
		files      []string
		recursive  bool
		namespace  string
		skipExists bool
	)
	short := map[verb]string{
		verbCreate:  "Create resources from files; fail if any already exists",
		verbApply:   "Create or replace resources from files",
		verbReplace: "Replace existing resources from files; fail if any does not exist",
	}[v]
	cmd := &cobra.Command{
		Use:   v.String() + " -f FILE|DIR|-",
		Short: short,
		Long: short + `.

Every document of every input is read, defaulted and validated, and then
checked by the API server without being stored, before anything is written:
if any document is invalid, nothing is written and every problem is reported
with its file, document number, kind, name and field.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("no input: give one or more -f FILE|DIR|-")
			}
			docs, err := readInputs(files, recursive, o.In)
			if err == nil {
				err = prepare(docs, namespace, true)
			}
			if err == nil {
				err = checkDuplicates(docs)
			}
			if err != nil {
				return fmt.Errorf("%w\n%w", err, errNothingWritten)
			}
			printWarnings(o.ErrOut, docs)
			c, err := o.getClient()
			if err != nil {
				return err
			}
			steps, err := plan(cmd.Context(), c, docs, v, skipExists)
			if err != nil {
				return fmt.Errorf("%w\n%w", err, errNothingWritten)
			}
			// The API server runs its own checks (schema, CEL rules,
			// admission policies): run them all first, store nothing.
			if err := execute(cmd.Context(), c, steps, true); err != nil {
				return fmt.Errorf("%w\n%w", err, errNothingWritten)
			}
			if err := execute(cmd.Context(), c, steps, false); err != nil {
				return err
			}
			fmt.Fprintln(o.Out, summary(v, steps))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (standard input) holding the resources; repeatable")
	f.BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	f.StringVarP(&namespace, "namespace", "n", "", "namespace for namespaced resources that do not name one (default \"default\")")
	if v == verbCreate {
		f.BoolVar(&skipExists, "skip-exists", false, "skip resources that already exist instead of failing")
	}
	return cmd
}

func resourceID(d Doc) string {
	return d.Info.Kind + "/" + d.Obj.GetNamespace() + "/" + d.Obj.GetName()
}

func checkDuplicates(docs []Doc) error {
	seen := map[string]Doc{}
	var errs []error
	for _, d := range docs {
		id := resourceID(d)
		if first, dup := seen[id]; dup {
			errs = append(errs, &DocError{Doc: d, Errs: []string{fmt.Sprintf("the same resource is also defined in %s document %d", first.Source, first.Index)}})
			continue
		}
		seen[id] = d
	}
	return errors.Join(errs...)
}

// plan reads the current state of every resource and decides what to do,
// reporting every conflict with the verb's rules at once.
func plan(ctx context.Context, c *datastore.Client, docs []Doc, v verb, skipExists bool) ([]step, error) {
	var steps []step
	var errs []error
	for _, d := range docs {
		existing, err := c.Get(ctx, d.Info, d.Obj.GetNamespace(), d.Obj.GetName())
		exists := err == nil
		if err != nil && !datastore.IsNotFound(err) {
			errs = append(errs, &DocError{Doc: d, Errs: []string{"read current state: " + err.Error()}})
			continue
		}
		switch {
		case v == verbCreate && exists && skipExists:
			steps = append(steps, step{d, actSkip})
		case v == verbCreate && exists:
			errs = append(errs, &DocError{Doc: d, Errs: []string{"resource already exists (use apply or replace to change it, or --skip-exists)"}})
		case v == verbReplace && !exists:
			errs = append(errs, &DocError{Doc: d, Errs: []string{"resource does not exist (use create or apply)"}})
		case !exists:
			if err := finishWrite(d, nil); err != nil {
				errs = append(errs, err)
				continue
			}
			steps = append(steps, step{d, actCreate})
		default:
			if err := finishWrite(d, existing); err != nil {
				errs = append(errs, err)
				continue
			}
			if sameContent(existing, d.Obj) {
				steps = append(steps, step{d, actUnchanged})
				continue
			}
			carryOver(existing, d.Obj)
			steps = append(steps, step{d, actUpdate})
		}
	}
	return steps, errors.Join(errs...)
}

// carryOver keeps what the server and controllers own when a resource is
// replaced: its version (for optimistic concurrency), identity and
// finalizers.
func carryOver(existing, obj v3.Object) {
	obj.SetResourceVersion(existing.GetResourceVersion())
	obj.SetUID(existing.GetUID())
	obj.SetCreationTimestamp(existing.GetCreationTimestamp())
	if len(obj.GetFinalizers()) == 0 {
		obj.SetFinalizers(existing.GetFinalizers())
	}
	if len(obj.GetOwnerReferences()) == 0 {
		obj.SetOwnerReferences(existing.GetOwnerReferences())
	}
	// kubectl's own bookkeeping (last-applied-configuration) stays, so a
	// later `kubectl apply` still computes its three-way merge correctly.
	for k, v := range existing.GetAnnotations() {
		if isToolAnnotation(k) {
			if _, set := obj.GetAnnotations()[k]; !set {
				a := obj.GetAnnotations()
				if a == nil {
					a = map[string]string{}
				}
				a[k] = v
				obj.SetAnnotations(a)
			}
		}
	}
}

// isToolAnnotation tells annotations that clients keep for themselves.
func isToolAnnotation(k string) bool {
	return strings.HasPrefix(k, "kubectl.kubernetes.io/")
}

func userAnnotations(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !isToolAnnotation(k) {
			out[k] = v
		}
	}
	return out
}

// sameContent tells whether writing obj would change nothing a user wrote:
// labels (as stored: a missing tier label is written), annotations and spec
// (both sides defaulted; obj for a write, so values Calico's writers store
// that the stored object lacks are written too).
func sameContent(existing, obj v3.Object) bool {
	e := existing.DeepCopyObject().(v3.Object)
	v3.Default(e)
	if !mapsEqual(e.GetLabels(), obj.GetLabels()) || !mapsEqual(userAnnotations(e.GetAnnotations()), userAnnotations(obj.GetAnnotations())) {
		return false
	}
	return reflect.DeepEqual(specOf(e), specOf(obj))
}

func specOf(o v3.Object) any {
	data, err := json.Marshal(o)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	return m["spec"]
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// execute carries out the steps. In a dry run every step is checked and
// every failure reported; for real, it stops at the first failure and says
// what was already written.
func execute(ctx context.Context, c *datastore.Client, steps []step, dryRun bool) error {
	var opts []datastore.WriteOption
	if dryRun {
		opts = append(opts, datastore.DryRun())
	}
	var errs []error
	for i, s := range steps {
		var err error
		switch s.act {
		case actCreate:
			_, err = c.Create(ctx, s.doc.Obj, opts...)
		case actUpdate:
			_, err = c.Update(ctx, s.doc.Obj, opts...)
		default:
			continue
		}
		if err == nil {
			continue
		}
		de := &DocError{Doc: s.doc, Errs: []string{apiError(err)}}
		if dryRun {
			errs = append(errs, de)
			continue
		}
		var done []string
		for _, p := range steps[:i] {
			if p.act == actCreate || p.act == actUpdate {
				done = append(done, resourceID(p.doc))
			}
		}
		msg := "no resources had been written before it"
		if len(done) > 0 {
			msg = fmt.Sprintf("%d resource(s) had already been written: %s", len(done), strings.Join(done, ", "))
		}
		return fmt.Errorf("%w\n%s", de, msg)
	}
	return errors.Join(errs...)
}

// apiError shortens the API server's wording for a single resource.
func apiError(err error) string {
	return err.Error()
}

func summary(v verb, steps []step) string {
	counts := map[action]int{}
	for _, s := range steps {
		counts[s.act]++
	}
	total := len(steps) - counts[actSkip]
	var parts []string
	if n := counts[actCreate]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d created", n))
	}
	if n := counts[actUpdate]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d updated", n))
	}
	if n := counts[actUnchanged]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", n))
	}
	if n := counts[actSkip]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped as existing", n))
	}
	return fmt.Sprintf("Successfully %s %d resource(s) (%s)", v.past(), total, strings.Join(parts, ", "))
}
