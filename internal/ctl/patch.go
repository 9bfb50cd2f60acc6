package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	k8svalidation "k8s.io/apimachinery/pkg/util/validation"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/manifest"
)

// maxConflictRetries bounds read-modify-write retries on conflicts.
const maxConflictRetries = 5

// modify reads a resource, changes it with f, defaults and validates the
// result and writes it back, retrying if someone else wrote in between.
func modify(ctx context.Context, c *datastore.Client, kind v3.KindInfo, ns, name, what string, f func(v3.Object) (v3.Object, error)) (changed bool, err error) {
	if !kind.Stored {
		return false, fmt.Errorf("%s resources are derived from Kubernetes objects and cannot be changed; change the Kubernetes object instead", kind.Kind)
	}
	for range maxConflictRetries {
		cur, err := c.Get(ctx, kind, ns, name)
		if datastore.IsNotFound(err) {
			return false, fmt.Errorf("%s %q not found%s", kind.Kind, name, inNamespace(kind, ns))
		} else if err != nil {
			return false, err
		}
		next, err := f(cur.DeepCopyObject().(v3.Object))
		if err != nil {
			return false, err
		}
		d := Doc{Doc: manifest.Doc{Source: what, Index: 1}, Info: kind, Obj: next}
		if err := prepare([]Doc{d}, ns, true); err != nil {
			return false, fmt.Errorf("%w\nnothing was written", err)
		}
		if err := finishWrite(d, cur); err != nil {
			return false, fmt.Errorf("%w\nnothing was written", err)
		}
		if sameContent(cur, next) {
			return false, nil
		}
		carryOver(cur, next)
		_, err = c.Update(ctx, next)
		if datastore.IsConflict(err) {
			continue
		}
		return err == nil, err
	}
	return false, fmt.Errorf("%s %q kept changing; gave up after %d attempts", kind.Kind, name, maxConflictRetries)
}

func newPatchCommand(o *options) *cobra.Command {
	var (
		patch     string
		patchType string
		namespace string
	)
	cmd := &cobra.Command{
		Use:   "patch KIND NAME -p PATCH",
		Short: "Change fields of a resource with a JSON merge patch or a JSON patch",
		Example: `  calicoctl patch ippool default-ipv4-ippool -p '{"spec":{"natOutgoing":true}}'
  calicoctl patch gnp allow-dns -t json -p '[{"op":"replace","path":"/spec/order","value":10}]'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := kindArg(args[0])
			if err != nil {
				return err
			}
			if patch == "" {
				return errors.New("no patch: give one with -p")
			}
			var apply func(doc []byte) ([]byte, error)
			switch patchType {
			case "merge":
				if !json.Valid([]byte(patch)) {
					return fmt.Errorf("patch is not valid JSON: %s", patch)
				}
				apply = func(doc []byte) ([]byte, error) { return jsonpatch.MergePatch(doc, []byte(patch)) }
			case "json":
				p, err := jsonpatch.DecodePatch([]byte(patch))
				if err != nil {
					return fmt.Errorf("patch is not a valid JSON patch: %w", err)
				}
				apply = p.Apply
			default:
				return fmt.Errorf("unknown patch type %q; use merge or json", patchType)
			}
			c, err := o.getClient()
			if err != nil {
				return err
			}
			ns := namespaceFor(kind, namespace)
			changed, err := modify(cmd.Context(), c, kind, ns, args[1], "patch", func(cur v3.Object) (v3.Object, error) {
				cur.SetManagedFields(nil)
				doc, err := json.Marshal(cur)
				if err != nil {
					return nil, err
				}
				patched, err := apply(doc)
				if err != nil {
					return nil, fmt.Errorf("apply patch: %w", err)
				}
				docs, err := parseDocuments("patched "+kind.Singular, patched)
				if err != nil {
					return nil, err
				}
				if len(docs) != 1 || docs[0].Obj.GetName() != cur.GetName() {
					return nil, errors.New("a patch cannot rename a resource or change its kind")
				}
				return docs[0].Obj, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "Successfully patched 1 '%s' resource%s\n", kind.Kind, unchangedNote(changed))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&patch, "patch", "p", "", "the patch")
	f.StringVarP(&patchType, "type", "t", "merge", "patch type: merge (RFC 7386) or json (RFC 6902)")
	f.StringVarP(&namespace, "namespace", "n", "", "namespace of a namespaced resource (default \"default\")")
	return cmd
}

func unchangedNote(changed bool) string {
	if changed {
		return ""
	}
	return " (unchanged)"
}

func namespaceFor(kind v3.KindInfo, ns string) string {
	if !kind.Namespaced {
		return ""
	}
	if ns == "" {
		return "default"
	}
	return ns
}

func newLabelCommand(o *options) *cobra.Command {
	var (
		overwrite bool
		remove    bool
		namespace string
	)
	cmd := &cobra.Command{
		Use:   "label KIND NAME KEY=VALUE... | label KIND NAME KEY... --remove",
		Short: "Add, change or remove labels of a resource",
		Example: `  calicoctl label globalnetworkset blocked env=prod
  calicoctl label globalnetworkset blocked env=staging --overwrite
  calicoctl label globalnetworkset blocked env --remove`,
		Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := kindArg(args[0])
			if err != nil {
				return err
			}
			set := map[string]string{}
			var del []string
			var errs []error
			for _, a := range args[2:] {
				k, v, hasValue := strings.Cut(a, "=")
				if remove == hasValue {
					if remove {
						errs = append(errs, fmt.Errorf("%q: with --remove give label keys only", a))
					} else {
						errs = append(errs, fmt.Errorf("%q: give labels as KEY=VALUE (or use --remove)", a))
					}
					continue
				}
				for _, msg := range k8svalidation.IsQualifiedName(k) {
					errs = append(errs, fmt.Errorf("label key %q: %s", k, msg))
				}
				if hasValue {
					for _, msg := range k8svalidation.IsValidLabelValue(v) {
						errs = append(errs, fmt.Errorf("label %q value %q: %s", k, v, msg))
					}
					set[k] = v
				} else {
					del = append(del, k)
				}
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			c, err := o.getClient()
			if err != nil {
				return err
			}
			changed, err := modify(cmd.Context(), c, kind, namespaceFor(kind, namespace), args[1], "label", func(cur v3.Object) (v3.Object, error) {
				labels := cur.GetLabels()
				if labels == nil {
					labels = map[string]string{}
				}
				for k, v := range set {
					if old, ok := labels[k]; ok && old != v && !overwrite {
						return nil, fmt.Errorf("label %q is already set to %q; use --overwrite to change it", k, old)
					}
					labels[k] = v
				}
				for _, k := range del {
					if _, ok := labels[k]; !ok {
						return nil, fmt.Errorf("label %q is not set", k)
					}
					delete(labels, k)
				}
				cur.SetLabels(labels)
				return cur, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "Successfully labelled 1 '%s' resource%s\n", kind.Kind, unchangedNote(changed))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&overwrite, "overwrite", false, "change labels that are already set")
	f.BoolVar(&remove, "remove", false, "remove the given label keys")
	f.StringVarP(&namespace, "namespace", "n", "", "namespace of a namespaced resource (default \"default\")")
	return cmd
}

func newValidateCommand(o *options) *cobra.Command {
	var (
		files     []string
		recursive bool
	)
	cmd := &cobra.Command{
		Use:   "validate -f FILE|DIR|-",
		Short: "Check resources offline, without contacting the cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("no input: give one or more -f FILE|DIR|-")
			}
			docs, err := readInputs(files, recursive, o.In)
			if err == nil {
				err = prepare(docs, "", false)
			}
			if err == nil {
				err = checkDuplicates(docs)
			}
			if err != nil {
				return err
			}
			printWarnings(o.ErrOut, docs)
			fmt.Fprintf(o.Out, "%d resource(s) valid\n", len(docs))
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (standard input); repeatable")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	return cmd
}
