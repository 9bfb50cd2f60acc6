package ctl

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
)

func sortStrings(s []string) { sort.Strings(s) }

func newGetCommand(o *options) *cobra.Command {
	var (
		output        string
		namespace     string
		allNamespaces bool
		selector      string
	)
	cmd := &cobra.Command{
		Use:   "get KIND [NAME...]",
		Short: "Show resources",
		Example: `  calicoctl get globalnetworkpolicies
  calicoctl get networkpolicy -n prod web -o yaml
  calicoctl get tiers -o wide
  calicoctl get workloadendpoints -A
  calicoctl get networkpolicies -A -l projectcalico.org/tier=security`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			kind, err := kindArg(args[0])
			if err != nil {
				return err
			}
			names := args[1:]
			var sel labels.Selector
			if selector != "" {
				if len(names) > 0 {
					return errors.New("give either names or a label selector (-l), not both")
				}
				if sel, err = labels.Parse(selector); err != nil {
					return fmt.Errorf("-l %q: %w", selector, err)
				}
			}
			c, err := o.getClient()
			if err != nil {
				return err
			}
			ns := ""
			if kind.Namespaced && !allNamespaces {
				ns = namespace
				if ns == "" {
					ns = "default"
				}
			}
			var objs []v3.Object
			if len(names) == 0 {
				if objs, err = listSelected(cmd.Context(), c, kind, ns, sel); err != nil {
					return fmt.Errorf("list %s: %w", kind.Plural, err)
				}
				sort.SliceStable(objs, func(i, j int) bool {
					if objs[i].GetNamespace() != objs[j].GetNamespace() {
						return objs[i].GetNamespace() < objs[j].GetNamespace()
					}
					return objs[i].GetName() < objs[j].GetName()
				})
			} else {
				if kind.Namespaced && allNamespaces {
					return errors.New("a resource cannot be retrieved by name across all namespaces; use --namespace")
				}
				var errs []error
				for _, n := range names {
					obj, err := c.Get(cmd.Context(), kind, ns, n)
					if datastore.IsNotFound(err) {
						errs = append(errs, fmt.Errorf("%s %q not found%s", kind.Kind, n, inNamespace(kind, ns)))
						continue
					} else if err != nil {
						return err
					}
					objs = append(objs, obj)
				}
				if len(objs) > 0 {
					if err := printObjects(o.Out, kind, objs, output, len(names) == 1, allNamespaces); err != nil {
						return err
					}
				}
				return errors.Join(errs...)
			}
			return printObjects(o.Out, kind, objs, output, false, allNamespaces)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "ps", "output format: ps, wide, yaml, json or name")
	f.StringVarP(&namespace, "namespace", "n", "", "namespace of namespaced resources (default \"default\")")
	f.BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list namespaced resources in every namespace")
	f.StringVarP(&selector, "selector", "l", "", "list only resources whose labels match this Kubernetes label selector (e.g. projectcalico.org/tier=security)")
	return cmd
}

// listSelected lists a kind's resources, those whose labels match sel when
// it is not nil: stored kinds are selected by the API server (labels as
// stored), synthesised ones here.
func listSelected(ctx context.Context, c *datastore.Client, kind v3.KindInfo, ns string, sel labels.Selector) ([]v3.Object, error) {
	if sel == nil {
		return c.List(ctx, kind, ns)
	}
	if !kind.Stored {
		all, err := c.List(ctx, kind, ns)
		if err != nil {
			return nil, err
		}
		var out []v3.Object
		for _, o := range all {
			if sel.Matches(labels.Set(o.GetLabels())) {
				out = append(out, o)
			}
		}
		return out, nil
	}
	list := kind.NewList()
	if err := c.Request("GET", kind, ns).Param("labelSelector", sel.String()).Do(ctx).Into(list); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]v3.Object, 0, len(items))
	for _, it := range items {
		o, ok := it.(v3.Object)
		if !ok {
			return nil, fmt.Errorf("list %s: unexpected item %T", kind.Plural, it)
		}
		o.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
		out = append(out, o)
	}
	return out, nil
}

func inNamespace(kind v3.KindInfo, ns string) string {
	if kind.Namespaced && ns != "" {
		return " in namespace " + ns
	}
	return ""
}
