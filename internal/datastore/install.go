package datastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	v3 "github.com/calicong/calico/api/v3"
)

// FieldManager names this project in server-side apply.
const FieldManager = "calico"

// Apply server-side-applies every document of the given YAML manifests
// (multi-document streams are fine), forcing ownership of the fields they
// set. It is idempotent.
func (c *Client) Apply(ctx context.Context, manifests ...[]byte) error {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	force := true
	for _, m := range manifests {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(m), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("decode manifest: %w", err)
			}
			if len(u.Object) == 0 {
				continue
			}
			gvk := u.GroupVersionKind()
			mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				return fmt.Errorf("%s %s: %w", gvk.Kind, u.GetName(), err)
			}
			ri := dyn.Resource(mapping.Resource)
			var r dynamic.ResourceInterface = ri
			if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				r = ri.Namespace(u.GetNamespace())
			}
			data, err := u.MarshalJSON()
			if err != nil {
				return err
			}
			if _, err := r.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
				return fmt.Errorf("apply %s %s: %w", gvk.Kind, u.GetName(), err)
			}
		}
	}
	return nil
}

// InstallCRDs applies the CRD manifests and waits until the API server
// serves every one of them.
func (c *Client) InstallCRDs(ctx context.Context, crds [][]byte) error {
	if err := c.Apply(ctx, crds...); err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	crdRes := apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
	for _, m := range crds {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(m), 4096).Decode(&crd); err != nil {
			return fmt.Errorf("decode CRD: %w", err)
		}
		err := pollUntil(ctx, 60*time.Second, func() (bool, error) {
			u, err := dyn.Resource(crdRes).Get(ctx, crd.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			} else if err != nil {
				return false, err
			}
			var got apiextensionsv1.CustomResourceDefinition
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &got); err != nil {
				return false, err
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", crd.Name, err)
		}
		// Established is set before every API server handler serves the
		// resource; wait until it is actually served.
		err = pollUntil(ctx, 60*time.Second, func() (bool, error) {
			err := c.REST.Get().Resource(crd.Spec.Names.Plural).Param("limit", "1").Do(ctx).Error()
			return err == nil, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not served: %w", crd.Name, err)
		}
	}
	return nil
}

// pollUntil calls f every 100ms until it returns true or an error, or the
// timeout passes.
func pollUntil(ctx context.Context, timeout time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := f()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// WaitForAdmissionPolicies waits until the API server enforces the admission
// policies in config/admission: policy types are defaulted on every policy
// kind and a built-in tier cannot be deleted. The API server loads new
// policies (and the schemas of new CRDs they act on) asynchronously, so
// "created" is not yet "in force"; this probes with dry-run requests.
func (c *Client) WaitForAdmissionPolicies(ctx context.Context) error {
	for _, kindName := range []string{"GlobalNetworkPolicy", "NetworkPolicy", "StagedGlobalNetworkPolicy", "StagedNetworkPolicy"} {
		kind, _ := v3.KindFor(kindName)
		var last error
		err := pollUntil(ctx, 60*time.Second, func() (bool, error) {
			probe := kind.New()
			probe.SetName("admission-probe")
			if kind.Namespaced {
				probe.SetNamespace("default")
			}
			setProbeRules(probe)
			out, err := c.Create(ctx, probe, DryRun())
			if err != nil {
				last = err
				return false, nil
			}
			if types := policyTypes(out); len(types) == 0 {
				last = fmt.Errorf("types not defaulted yet")
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("policy defaulting for %s not in force: %v", kindName, last)
		}
	}
	tier, _ := v3.KindFor("Tier")
	err := pollUntil(ctx, 60*time.Second, func() (bool, error) {
		err := c.Delete(ctx, tier, "", v3.DefaultTierName, nil, DryRun())
		return apierrors.IsForbidden(err) || apierrors.IsInvalid(err), nil
	})
	if err != nil {
		return fmt.Errorf("built-in tier protection not in force: %w", err)
	}
	return nil
}

func setProbeRules(o v3.Object) {
	rules := []v3.Rule{{Action: v3.Allow}}
	switch p := o.(type) {
	case *v3.GlobalNetworkPolicy:
		p.Spec.Egress = rules
	case *v3.NetworkPolicy:
		p.Spec.Egress = rules
	case *v3.StagedGlobalNetworkPolicy:
		p.Spec.Egress = rules
	case *v3.StagedNetworkPolicy:
		p.Spec.Egress = rules
	}
}

func policyTypes(o v3.Object) []v3.PolicyType {
	switch p := o.(type) {
	case *v3.GlobalNetworkPolicy:
		return p.Spec.Types
	case *v3.NetworkPolicy:
		return p.Spec.Types
	case *v3.StagedGlobalNetworkPolicy:
		return p.Spec.Types
	case *v3.StagedNetworkPolicy:
		return p.Spec.Types
	}
	return nil
}
