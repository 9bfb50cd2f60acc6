package ctl

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
)

type target struct {
	doc       Doc // Source and Index set when the target came from a file
	kind      v3.KindInfo
	namespace string
	name      string
}

func (t target) where() string {
	if t.doc.Source != "" {
		return t.doc.where()
	}
	n := t.name
	if t.kind.Namespaced {
		n = t.namespace + "/" + n
	}
	return fmt.Sprintf("%s %q", t.kind.Kind, n)
}

func newDeleteCommand(o *options) *cobra.Command {
	var (
		files         []string
		recursive     bool
		namespace     string
		skipNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "delete (-f FILE|DIR|- | KIND NAME...)",
		Short: "Delete resources by file or by kind and name",
		Long: `Delete resources by file or by kind and name.

Every target is checked (it exists, it may be deleted, the API server would
allow it) before anything is deleted; if one fails, nothing is deleted.`,
		Example: `  calicoctl delete -f policies.yaml
  calicoctl delete globalnetworkpolicy allow-dns
  calicoctl delete networkpolicy -n prod web api`,
		RunE: func(cmd *cobra.Command, args []string) error {
			targets, err := deleteTargets(o, files, recursive, namespace, args)
			if err != nil {
				return fmt.Errorf("%w\nnothing was deleted", err)
			}
			c, err := o.getClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var errs []error
			var present []target
			for _, t := range targets {
				if bt, ok := v3.BuiltinTierFor(t.name); ok && t.kind.Kind == "Tier" {
					errs = append(errs, fmt.Errorf("%s: tier %s is built in and cannot be deleted", t.where(), bt.Name))
					continue
				}
				_, err := c.Get(ctx, t.kind, t.namespace, t.name)
				switch {
				case datastore.IsNotFound(err) && skipNotExists:
				case datastore.IsNotFound(err):
					errs = append(errs, fmt.Errorf("%s: resource does not exist (use --skip-not-exists to ignore)", t.where()))
				case err != nil:
					errs = append(errs, fmt.Errorf("%s: %w", t.where(), err))
				default:
					present = append(present, t)
				}
			}
			// A tier goes after its policies: deleted last, and checked
			// here, since the API server refuses a tier that still has
			// policies and a dry run cannot see the ones deleted first.
			sort.SliceStable(present, func(i, j int) bool { return present[i].kind.Kind != "Tier" && present[j].kind.Kind == "Tier" })
			going := map[string]bool{}
			for _, t := range present {
				going[t.kind.Kind+"/"+t.namespace+"/"+t.name] = true
			}
			for _, t := range present {
				if t.kind.Kind != "Tier" {
					if err := c.Delete(ctx, t.kind, t.namespace, t.name, nil, datastore.DryRun()); err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", t.where(), err))
					}
					continue
				}
				ps, err := c.PoliciesInTier(ctx, t.name)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", t.where(), err))
					continue
				}
				var staying []string
				for _, p := range ps {
					id := p.GetObjectKind().GroupVersionKind().Kind + "/" + p.GetNamespace() + "/" + p.GetName()
					if !going[id] {
						staying = append(staying, id)
					}
				}
				if len(staying) > 0 {
					errs = append(errs, fmt.Errorf("%s: tier %s still has policies that are not being deleted: %s", t.where(), t.name, strings.Join(staying, ", ")))
				}
			}
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("%w\nnothing was deleted", err)
			}
			deleted := 0
			for _, t := range present {
				err := c.Delete(ctx, t.kind, t.namespace, t.name, nil)
				if datastore.IsNotFound(err) {
					continue // deleted by someone else meanwhile: the goal holds
				}
				if err != nil {
					return fmt.Errorf("%s: %w\n%d resource(s) had already been deleted", t.where(), err, deleted)
				}
				deleted++
			}
			fmt.Fprintf(o.Out, "Successfully deleted %d resource(s)\n", deleted)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (standard input) naming the resources; repeatable")
	f.BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	f.StringVarP(&namespace, "namespace", "n", "", "namespace of namespaced resources (default \"default\")")
	f.BoolVarP(&skipNotExists, "skip-not-exists", "s", false, "ignore resources that do not exist")
	return cmd
}

func deleteTargets(o *options, files []string, recursive bool, namespace string, args []string) ([]target, error) {
	var targets []target
	switch {
	case len(files) > 0 && len(args) > 0:
		return nil, errors.New("give either -f or KIND NAME..., not both")
	case len(files) > 0:
		docs, err := readInputs(files, recursive, o.In)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			ns := d.Obj.GetNamespace()
			if d.Info.Namespaced && ns == "" {
				ns = namespace
				if ns == "" {
					ns = "default"
				}
			}
			if !d.Info.Namespaced {
				ns = ""
			}
			targets = append(targets, target{doc: d, kind: d.Info, namespace: ns, name: d.Obj.GetName()})
		}
	case len(args) >= 2:
		kind, err := kindArg(args[0])
		if err != nil {
			return nil, err
		}
		ns := ""
		if kind.Namespaced {
			ns = namespace
			if ns == "" {
				ns = "default"
			}
		}
		for _, n := range args[1:] {
			targets = append(targets, target{kind: kind, namespace: ns, name: n})
		}
	default:
		return nil, errors.New("give -f FILE, or a kind and one or more names")
	}
	return targets, nil
}
