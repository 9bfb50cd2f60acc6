package crd_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/config/crd"
)

// crdValidator checks objects the way kube-apiserver does for a CRD: defaulting,
// OpenAPI schema validation and CEL rules.
type crdValidator struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

func loadValidators(t *testing.T) map[string]*crdValidator {
	t.Helper()
	out := map[string]*crdValidator{}
	for _, name := range crd.Names() {
		b, _ := crd.Get(plural(name))
		var v1crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(b, &v1crd); err != nil {
			t.Fatal(err)
		}
		apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1crd)
		var internal apiextensions.CustomResourceDefinition
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1crd, &internal, nil); err != nil {
			t.Fatal(err)
		}
		// With a single version the conversion moves the schema to the top level.
		var props *apiextensions.JSONSchemaProps
		if internal.Spec.Validation != nil {
			props = internal.Spec.Validation.OpenAPIV3Schema
		} else {
			props = internal.Spec.Versions[0].Schema.OpenAPIV3Schema
		}
		s, err := structuralschema.NewStructural(props)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sv, _, err := apiservervalidation.NewSchemaValidator(props)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[internal.Spec.Names.Kind] = &crdValidator{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
	}
	return out
}

func (c *crdValidator) validate(obj map[string]any) field.ErrorList {
	defaulting.Default(obj, c.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, c.schema)
	celErrs, _ := c.cel.Validate(context.Background(), nil, c.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

func toUnstructured(t *testing.T, doc string) map[string]any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func goValidate(t *testing.T, doc string) field.ErrorList {
	t.Helper()
	m := toUnstructured(t, doc)
	k, ok := v3.KindFor(m["kind"].(string))
	if !ok {
		t.Fatalf("unknown kind %v", m["kind"])
	}
	obj := k.New()
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		// Values a schema pattern rejects (e.g. a malformed duration) do not
		// decode at all: that is the Go side's rejection.
		return field.ErrorList{field.Invalid(nil, doc, err.Error())}
	}
	v3.Default(obj)
	return validation.Validate(obj)
}

// TestExamplesPassCRDs checks that the example manifests of api/v3/testdata,
// which the Go validator accepts, are also accepted by the CRD schemas and CEL
// rules.
func TestExamplesPassCRDs(t *testing.T) {
	vals := loadValidators(t)
	files, _ := filepath.Glob("../../api/v3/testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		obj := toUnstructured(t, string(b))
		v := vals[obj["kind"].(string)]
		if v == nil {
			t.Fatalf("%s: no CRD for kind %v", f, obj["kind"])
		}
		if errs := v.validate(obj); len(errs) > 0 {
			t.Errorf("%s: CRD rejects it: %v", filepath.Base(f), errs.ToAggregate())
		}
	}
}

const head = "apiVersion: projectcalico.org/v3\n"

// TestCRDAndGoValidatorAgree feeds objects through both the CRD (schema and CEL)
// and the Go validator: both must accept the valid ones and reject the invalid
// ones, so that a writer that bypasses the API server sees the same verdicts.
func TestCRDAndGoValidatorAgree(t *testing.T) {
	vals := loadValidators(t)
	tests := []struct {
		name  string
		doc   string
		valid bool
		crd   string // substring of the CRD's error
	}{
		{"protocol number with ports", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  ingress:\n  - {action: Allow, protocol: 6, destination: {ports: [80, '1000:2000', http]}}\n", true, ""},
		{"icmp by number", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  ingress:\n  - {action: Allow, protocol: 58, ipVersion: 6, icmp: {type: 128}}\n", true, ""},
		{"http with TCP", head + "kind: NetworkPolicy\nmetadata: {name: p, namespace: n}\nspec:\n  ingress:\n  - {action: Allow, protocol: TCP, http: {methods: [GET], paths: [{prefix: /}]}}\n", true, ""},
		{"icmp without protocol", head + "kind: NetworkPolicy\nmetadata: {name: p, namespace: n}\nspec:\n  ingress:\n  - {action: Allow, icmp: {type: 8}}\n", false, "icmp requires protocol ICMP or ICMPv6"},
		{"icmp code without type", head + "kind: NetworkPolicy\nmetadata: {name: p, namespace: n}\nspec:\n  ingress:\n  - {action: Allow, protocol: ICMP, icmp: {code: 1}}\n", false, "an ICMP code requires an ICMP type"},
		{"ICMP with ipVersion 6", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  ingress:\n  - {action: Allow, protocol: ICMP, ipVersion: 6}\n", false, "requires ipVersion 4"},
		{"ICMPv6 number with ipVersion 4", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  ingress:\n  - {action: Allow, protocol: 58, ipVersion: 4}\n", false, "requires ipVersion 6"},
		{"ports with ICMP number", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  ingress:\n  - {action: Allow, protocol: 1, destination: {ports: [80]}}\n", false, "ports and notPorts require protocol TCP, UDP or SCTP"},
		{"ports without protocol", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  egress:\n  - {action: Allow, source: {notPorts: [80]}}\n", false, "ports and notPorts require protocol"},
		{"http on Deny", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  ingress:\n  - {action: Deny, http: {methods: [GET]}}\n", true, ""},
		{"http with UDP", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  ingress:\n  - {action: Allow, protocol: UDP, http: {methods: [GET]}}\n", false, "protocol TCP or no protocol"},
		{"services and selector", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  egress:\n  - {action: Allow, destination: {selector: a == 'b', services: {name: s, namespace: n}}}\n", false, "services cannot be combined"},
		{"services and ports", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  egress:\n  - {action: Allow, protocol: TCP, destination: {ports: [53], services: {name: s, namespace: n}}}\n", false, "cannot be combined with destination services"},
		{"global() in selector", head + "kind: NetworkPolicy\nmetadata: {name: p, namespace: n}\nspec:\n  selector: global()\n", false, "global() can only be used"},
		{"global() in rule selector", head + "kind: NetworkPolicy\nmetadata: {name: p, namespace: n}\nspec:\n  ingress:\n  - {action: Allow, source: {selector: global()}}\n", false, "global() can only be used in namespaceSelector"},
		{"preDNAT without applyOnForward", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  preDNAT: true\n", false, "applyOnForward must be true"},
		{"preDNAT with egress", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  preDNAT: true\n  applyOnForward: true\n  types: [Ingress, Egress]\n  egress: [{action: Allow}]\n", false, "cannot have egress rules"},
		{"doNotTrack and preDNAT", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  preDNAT: true\n  doNotTrack: true\n  applyOnForward: true\n", false, "cannot both be true"},
		{"bad action", head + "kind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  ingress: [{action: allow}]\n", false, "Unsupported value"},
		{"kube-admin Deny", head + "kind: Tier\nmetadata: {name: kube-admin}\nspec: {order: 1000, defaultAction: Deny}\n", false, "must have defaultAction Pass"},
		{"tier Allow", head + "kind: Tier\nmetadata: {name: t}\nspec: {defaultAction: Allow}\n", false, "must be Deny or Pass"},
		{"4-byte AS number", head + "kind: BGPConfiguration\nmetadata: {name: default}\nspec: {asNumber: 4200000000}\n", true, ""},
		{"AS number too big", head + "kind: BGPPeer\nmetadata: {name: b}\nspec: {peerIP: 10.0.0.1, asNumber: 4294967296}\n", false, "less than or equal to 4294967295"},
		{"pool v4 block 33", head + "kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, blockSize: 33}\n", false, "blockSize must be 20-32"},
		{"pool v6 block 64", head + "kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 'fd00::/48', blockSize: 64}\n", false, "blockSize must be 116-128"},
		{"pool smaller than block", head + "kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/28, blockSize: 26}\n", false, "at least as large as one block"},
		{"pool ipip and vxlan", head + "kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, ipipMode: Always, vxlanMode: Always}\n", false, "cannot both be enabled"},
		{"pool bad cidr", head + "kind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.1}\n", false, "CIDR notation"},
		{"hep without node", head + "kind: HostEndpoint\nmetadata: {name: h}\nspec: {interfaceName: eth0}\n", false, "node must be set"},
		{"bgppeer node and selector", head + "kind: BGPPeer\nmetadata: {name: b}\nspec: {node: n, nodeSelector: all(), peerIP: 10.0.0.1, asNumber: 1}\n", false, "cannot both be set"},
		{"bgppeer selector and AS", head + "kind: BGPPeer\nmetadata: {name: b}\nspec: {peerSelector: all(), asNumber: 64512}\n", false, "asNumber must be empty"},
		{"bgpfilter operations on Reject", head + "kind: BGPFilter\nmetadata: {name: f}\nspec:\n  exportV4:\n  - {action: Reject, operations: [{setPriority: {value: 5}}]}\n", false, "only allowed with action Accept"},
		{"bgpfilter cidr without operator", head + "kind: BGPFilter\nmetadata: {name: f}\nspec:\n  importV4:\n  - {action: Accept, cidr: 10.0.0.0/8}\n", false, "must be set together"},
		{"felix nodeSelector on default", head + "kind: FelixConfiguration\nmetadata: {name: default}\nspec: {nodeSelector: all()}\n", false, "nodeSelector is not allowed"},
		{"felix v6 NAT address", head + "kind: FelixConfiguration\nmetadata: {name: default}\nspec: {natOutgoingAddress: 'fd00::1'}\n", false, "must be an IPv4 address"},
		{"felix bad duration", head + "kind: FelixConfiguration\nmetadata: {name: default}\nspec: {routeRefreshInterval: soon}\n", false, "should match"},
		{"felix route tables", head + "kind: FelixConfiguration\nmetadata: {name: default}\nspec: {routeTableRange: {min: 0, max: 10}}\n", false, "within 1..250"},
		{"bgpconfig mesh password without mesh", head + "kind: BGPConfiguration\nmetadata: {name: default}\nspec: {nodeToNodeMeshEnabled: false, nodeMeshPassword: {secretKeyRef: {name: s, key: k}}}\n", false, "nodeToNodeMeshEnabled is false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := toUnstructured(t, tt.doc)
			crdErrs := vals[obj["kind"].(string)].validate(obj)
			goErrs := goValidate(t, tt.doc)
			if tt.valid {
				if len(crdErrs) > 0 {
					t.Errorf("CRD rejects a valid object: %v", crdErrs.ToAggregate())
				}
				if len(goErrs) > 0 {
					t.Errorf("Go validator rejects a valid object: %v", goErrs.ToAggregate())
				}
				return
			}
			if crdErrs == nil || !strings.Contains(crdErrs.ToAggregate().Error(), tt.crd) {
				t.Errorf("CRD: want an error containing %q, got %v", tt.crd, crdErrs.ToAggregate())
			}
			if len(goErrs) == 0 {
				t.Errorf("Go validator accepts what the CRD rejects (%v)", crdErrs.ToAggregate())
			}
		})
	}
}

// TestIPPoolCIDRImmutable checks the CRD's transition rule: the pool's range
// cannot change, but writing it in canonical form (as Default does) is not a
// change.
func TestIPPoolCIDRImmutable(t *testing.T) {
	v := loadValidators(t)["IPPool"]
	pool := func(cidr string) map[string]any {
		return toUnstructured(t, head+"kind: IPPool\nmetadata: {name: p}\nspec: {cidr: '"+cidr+"'}\n")
	}
	for _, tt := range []struct {
		old, new string
		ok       bool
	}{
		{"10.0.0.0/16", "10.0.0.0/16", true},
		{"10.0.0.1/16", "10.0.0.0/16", true},
		{"10.0.0.0/16", "10.1.0.0/16", false},
		{"10.0.0.0/16", "10.0.0.0/15", false},
		{"FD00::/48", "fd00::/48", true},
	} {
		oldObj, newObj := pool(tt.old), pool(tt.new)
		defaulting.Default(oldObj, v.structural)
		defaulting.Default(newObj, v.structural)
		errs, _ := v.cel.Validate(context.Background(), nil, v.structural, newObj, oldObj, celconfig.RuntimeCELCostBudget)
		if ok := len(errs) == 0; ok != tt.ok {
			t.Errorf("%s -> %s: accepted %v, want %v (%v)", tt.old, tt.new, ok, tt.ok, errs.ToAggregate())
		}
	}
}
