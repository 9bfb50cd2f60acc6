package ctl

import (
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
)

func sortStrings(s []string) { sort.Strings(s) }

func newGetCommand(o *options) *cobra.Command {
	var (
		output        string
		namespace     string
		allNamespaces bool
	)
	cmd := &cobra.Command{
		Use:   "get KIND [NAME...]",
		Short: "Show resources",
		Example: `  calicoctl get globalnetworkpolicies
  calicoctl get networkpolicy -n prod web -o yaml
  calicoctl get tiers -o wide
  calicoctl get workloadendpoints -A`,
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
				if objs, err = c.List(cmd.Context(), kind, ns); err != nil {
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
	return cmd
}

func inNamespace(kind v3.KindInfo, ns string) string {
	if kind.Namespaced && ns != "" {
		return " in namespace " + ns
	}
	return ""
}
