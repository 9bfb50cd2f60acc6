package crd_test

import (
	"context"
	"testing"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/config/crd"
)

// TestCRDsAcceptedByAPIServer runs the checks kube-apiserver runs when a CRD is
// created: structural schema, defaults, list types, and compilation and cost
// estimation of every CEL rule.
func TestCRDsAcceptedByAPIServer(t *testing.T) {
	for _, name := range crd.Names() {
		t.Run(name, func(t *testing.T) {
			b, err := crd.Get(plural(name))
			if err != nil {
				t.Fatal(err)
			}
			var v1crd apiextensionsv1.CustomResourceDefinition
			if err := yaml.UnmarshalStrict(b, &v1crd); err != nil {
				t.Fatalf("decode: %v", err)
			}
			apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1crd)
			var internal apiextensions.CustomResourceDefinition
			if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1crd, &internal, nil); err != nil {
				t.Fatalf("convert: %v", err)
			}
			if errs := validation.ValidateCustomResourceDefinition(context.Background(), &internal); len(errs) > 0 {
				for _, e := range errs {
					t.Error(e)
				}
			}
		})
	}
}

// TestCRDsMatchRegistry checks that every stored kind of the registry has a CRD
// with the same names and scope, and that there is no other CRD.
func TestCRDsMatchRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range v3.Kinds() {
		if !k.Stored {
			if _, err := crd.Get(k.Plural); err == nil {
				t.Errorf("%s is synthesised but has a CRD", k.Kind)
			}
			continue
		}
		b, err := crd.Get(k.Plural)
		if err != nil {
			t.Errorf("%s: %v", k.Kind, err)
			continue
		}
		seen[k.Plural] = true
		var c apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", k.Kind, err)
		}
		if c.Name != k.CRDName() || c.Spec.Names.Kind != k.Kind || c.Spec.Names.Singular != k.Singular {
			t.Errorf("%s: CRD names %s/%s/%s, registry %s/%s/%s", k.Kind, c.Name, c.Spec.Names.Kind, c.Spec.Names.Singular, k.CRDName(), k.Kind, k.Singular)
		}
		wantScope := apiextensionsv1.ClusterScoped
		if k.Namespaced {
			wantScope = apiextensionsv1.NamespaceScoped
		}
		if c.Spec.Scope != wantScope {
			t.Errorf("%s: CRD scope %s, registry says %s", k.Kind, c.Spec.Scope, wantScope)
		}
		if len(c.Spec.Names.ShortNames) != len(k.ShortNames) {
			t.Errorf("%s: CRD short names %v, registry %v", k.Kind, c.Spec.Names.ShortNames, k.ShortNames)
		}
		for _, s := range c.Spec.Names.ShortNames {
			if builtinShortNames[s] {
				t.Errorf("%s: short name %q clashes with a built-in Kubernetes resource", k.Kind, s)
			}
		}
	}
	for _, n := range crd.Names() {
		if !seen[plural(n)] {
			t.Errorf("CRD file %s has no stored kind in the registry", n)
		}
	}
}

// builtinShortNames are the short names of Kubernetes' built-in resources.
var builtinShortNames = map[string]bool{
	"cs": true, "cm": true, "ep": true, "ev": true, "limits": true, "ns": true, "no": true,
	"pvc": true, "pv": true, "po": true, "rc": true, "quota": true, "sa": true, "svc": true,
	"crd": true, "crds": true, "ds": true, "deploy": true, "rs": true, "sts": true,
	"hpa": true, "cj": true, "csr": true, "ing": true, "netpol": true, "pdb": true,
	"pc": true, "sc": true, "ingclass": true, "eps": true, "va": true, "vac": true,
}

func plural(file string) string {
	const prefix, suffix = "projectcalico.org_", ".yaml"
	return file[len(prefix) : len(file)-len(suffix)]
}

// TestValidatorCatchesBadCEL makes sure the check above really compiles CEL and
// estimates its cost, by feeding it rules that must fail.
func TestValidatorCatchesBadCEL(t *testing.T) {
	for name, rule := range map[string]string{
		"syntax": "self.a ==",
		// An unbounded list of unbounded strings, each scanned: over budget.
		"cost": "self.l.all(x, self.l.all(y, x.contains(y)))",
	} {
		t.Run(name, func(t *testing.T) {
			doc := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec:
  group: example.com
  names: {kind: Thing, listKind: ThingList, plural: things, singular: thing}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              a: {type: string}
              l: {type: array, items: {type: string}}
            x-kubernetes-validations:
            - rule: "` + rule + `"
`
			var v1crd apiextensionsv1.CustomResourceDefinition
			if err := yaml.UnmarshalStrict([]byte(doc), &v1crd); err != nil {
				t.Fatal(err)
			}
			apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1crd)
			var internal apiextensions.CustomResourceDefinition
			if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1crd, &internal, nil); err != nil {
				t.Fatal(err)
			}
			if errs := validation.ValidateCustomResourceDefinition(context.Background(), &internal); len(errs) == 0 {
				t.Fatalf("rule %q was accepted", rule)
			} else {
				t.Log(errs.ToAggregate())
			}
		})
	}
}
