package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/calicong/calico/api/v3"
)

// rbac is a table of what each user may do: "verb resource name ns".
type rbac map[string][]string

func (r rbac) Allowed(_ context.Context, u authenticationv1.UserInfo, a Access) (bool, error) {
	for _, g := range r[u.Username] {
		f := strings.Fields(g)
		if (f[0] == a.Verb || f[0] == "*") && f[1] == a.Resource && (f[2] == a.Name || f[2] == "*") && (len(f) < 4 || f[3] == a.Namespace) {
			return true, nil
		}
	}
	return false, nil
}

type counts map[string]int

func (c counts) InTier(_ context.Context, t string) (int, error) { return c[t], nil }

func request(t *testing.T, op admissionv1.Operation, user string, obj, old runtime.Object) *admissionv1.AdmissionRequest {
	t.Helper()
	req := &admissionv1.AdmissionRequest{UID: "u1", Operation: op, UserInfo: authenticationv1.UserInfo{Username: user}}
	for _, o := range []struct {
		obj runtime.Object
		ext *runtime.RawExtension
	}{{obj, &req.Object}, {old, &req.OldObject}} {
		if o.obj == nil {
			continue
		}
		b, err := json.Marshal(o.obj)
		if err != nil {
			t.Fatal(err)
		}
		o.ext.Raw = b
		m := o.obj.(metav1.Object)
		req.Name, req.Namespace = m.GetName(), m.GetNamespace()
		req.Kind = metav1.GroupVersionKind{Group: v3.GroupName, Version: "v3", Kind: o.obj.GetObjectKind().GroupVersionKind().Kind}
	}
	return req
}

func policy(ns, name, tier, selector string) *v3.NetworkPolicy {
	p := &v3.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v3.NetworkPolicySpec{Tier: tier, Selector: selector, Ingress: []v3.Rule{{Action: "Allow"}}}}
	p.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("NetworkPolicy"))
	return p
}

// What kubectl stores after the mutating hook equals what calicoctl
// stores after v3.DefaultForWrite: the defaults, a policy's tier label,
// the client-side defaults of Felix's and kube-controllers' configuration.
func TestMutateMatchesCalicoctl(t *testing.T) {
	h := &Handler{}
	for _, obj := range []v3.Object{
		policy("app", "web", "", "app == 'web'"),
		func() v3.Object {
			g := &v3.GlobalNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "egress-only"},
				Spec: v3.GlobalNetworkPolicySpec{Egress: []v3.Rule{{Action: "Deny"}}}}
			g.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("GlobalNetworkPolicy"))
			return g
		}(),
		func() v3.Object {
			p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v3.IPPoolSpec{CIDR: "10.1.2.3/16"}}
			p.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPPool"))
			return p
		}(),
		func() v3.Object {
			p := policy("app", "labelled", "app", "all()")
			p.Labels = map[string]string{"team": "a"}
			return p
		}(),
		func() v3.Object {
			f := &v3.FelixConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "node.n1"}}
			f.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("FelixConfiguration"))
			return f
		}(),
		func() v3.Object {
			k := &v3.KubeControllersConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "default"},
				Spec: v3.KubeControllersConfigurationSpec{Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{}}}}
			k.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("KubeControllersConfiguration"))
			return k
		}(),
	} {
		req := request(t, admissionv1.Create, "alice", obj, nil)
		resp := h.Mutate(context.Background(), req)
		if !resp.Allowed {
			t.Fatalf("%s: %v", obj.GetName(), resp.Result)
		}
		stored := req.Object.Raw
		if resp.Patch != nil {
			p, err := jsonpatch.DecodePatch(resp.Patch)
			if err != nil {
				t.Fatal(err)
			}
			if stored, err = p.Apply(req.Object.Raw); err != nil {
				t.Fatal(err)
			}
		}
		want := obj.DeepCopyObject().(v3.Object)
		v3.DefaultForWrite(want, nil)
		wantJSON, _ := json.Marshal(want)
		if !jsonEqual(t, stored, wantJSON) {
			t.Errorf("%s: kubectl would store\n%s\ncalicoctl stores\n%s", obj.GetName(), stored, wantJSON)
		}
		// Defaulting is idempotent: a second pass changes nothing.
		again := h.Mutate(context.Background(), request(t, admissionv1.Create, "alice", want, nil))
		if again.Patch != nil {
			t.Errorf("%s: defaulting a defaulted object patched it: %s", obj.GetName(), again.Patch)
		}
	}
}

// mutated is the object a mutating review stores.
func mutated(t *testing.T, h *Handler, req *admissionv1.AdmissionRequest) []byte {
	t.Helper()
	resp := h.Mutate(context.Background(), req)
	if !resp.Allowed {
		t.Fatalf("mutate refused: %v", resp.Result)
	}
	if resp.Patch == nil {
		return req.Object.Raw
	}
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(req.Object.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tierLabelOf(t *testing.T, raw []byte) (string, bool) {
	t.Helper()
	var o metav1.PartialObjectMetadata
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	v, ok := o.Labels[v3.LabelTier]
	return v, ok
}

// The tier label through the webhooks: set on create, following spec.tier
// on an update that leaves it as stored, and refused, with the field and
// the tier named, when the write itself sets it to another tier.
func TestTierLabel(t *testing.T) {
	h := &Handler{Authz: rbac{"admin": {"* tiers *", "* tier.networkpolicies *"}}}
	ctx := context.Background()

	created := policy("app", "web", "app", "all()")
	if v, _ := tierLabelOf(t, mutated(t, h, request(t, admissionv1.Create, "admin", created, nil))); v != "app" {
		t.Errorf("create: tier label %q, want app", v)
	}
	unset := policy("app", "web", "", "all()")
	if v, _ := tierLabelOf(t, mutated(t, h, request(t, admissionv1.Create, "admin", unset, nil))); v != "default" {
		t.Errorf("create without a tier: tier label %q, want default", v)
	}

	// A patch of spec.tier: the label, as stored, follows.
	stored := policy("app", "web", "default", "all()")
	v3.DefaultForWrite(stored, nil)
	stored.ResourceVersion = "1"
	moved := stored.DeepCopy()
	moved.Spec.Tier = "app"
	if v, _ := tierLabelOf(t, mutated(t, h, request(t, admissionv1.Update, "admin", moved, stored))); v != "app" {
		t.Errorf("update of spec.tier: tier label %q, want app", v)
	}

	// A contradicting label set by the write: kept by /mutate, refused by
	// /validate.
	wrong := policy("app", "web", "app", "all()")
	wrong.Labels = map[string]string{v3.LabelTier: "default"}
	raw := mutated(t, h, request(t, admissionv1.Create, "admin", wrong, nil))
	if v, _ := tierLabelOf(t, raw); v != "default" {
		t.Fatalf("create with a contradicting label: /mutate changed it to %q", v)
	}
	v3.Default(wrong)
	resp := h.Validate(ctx, request(t, admissionv1.Create, "admin", wrong, nil))
	if resp.Allowed || resp.Result.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(resp.Result.Message, `metadata.labels[projectcalico.org/tier]: Invalid value: "default": the tier label must name the policy's tier "app"`) {
		t.Errorf("create with a contradicting label: %+v", resp.Result)
	}
	relabelled := stored.DeepCopy()
	relabelled.Labels = map[string]string{v3.LabelTier: "app"}
	if resp := h.Validate(ctx, request(t, admissionv1.Update, "admin", relabelled, stored)); resp.Allowed {
		t.Error("an update setting the label to another tier than spec.tier was admitted")
	}
	// A label already right needs no patch.
	right := policy("app", "web", "app", "all()")
	v3.DefaultForWrite(right, nil)
	if resp := h.Mutate(ctx, request(t, admissionv1.Create, "admin", right, nil)); resp.Patch != nil {
		t.Errorf("patched a defaulted policy: %s", resp.Patch)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		t.Fatal("bad JSON")
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestValidateNamesTheFieldAndPosition(t *testing.T) {
	h := &Handler{Authz: rbac{"admin": {"* tiers *", "* tier.networkpolicies *"}}}
	p := policy("app", "web", "default", "app == 'web' &&")
	v3.Default(p)
	resp := h.Validate(context.Background(), request(t, admissionv1.Create, "admin", p, nil))
	if resp.Allowed || resp.Result.Code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid selector: %+v", resp.Result)
	}
	if msg := resp.Result.Message; !strings.Contains(msg, "spec.selector") || !strings.Contains(msg, `"web" is invalid`) {
		t.Errorf("message does not name the field: %s", msg)
	}
}

func TestTierRBAC(t *testing.T) {
	authz := rbac{
		"dev":   {"get tiers app", "create tier.networkpolicies app.* app", "delete tier.networkpolicies app.* app", "update tier.networkpolicies app.* app"},
		"one":   {"get tiers security", "create tier.networkpolicies only-this app"},
		"admin": {"* tiers *", "* tier.networkpolicies *"},
	}
	h := &Handler{Authz: authz}
	ctx := context.Background()
	for _, tc := range []struct {
		user, tier, name string
		op               admissionv1.Operation
		want             string // "" = allowed
	}{
		{"dev", "app", "web", admissionv1.Create, ""},
		{"dev", "app", "web", admissionv1.Delete, ""},
		{"dev", "security", "web", admissionv1.Create, `User "dev" cannot get tiers.projectcalico.org "security"`},
		{"one", "security", "only-this", admissionv1.Create, ""},
		{"one", "security", "other", admissionv1.Create, `User "one" cannot create networkpolicies.projectcalico.org in tier "security" in namespace "app"`},
		{"admin", "security", "web", admissionv1.Create, ""},
	} {
		p := policy("app", tc.name, tc.tier, "all()")
		v3.Default(p)
		var req *admissionv1.AdmissionRequest
		if tc.op == admissionv1.Delete {
			req = request(t, tc.op, tc.user, nil, p)
		} else {
			req = request(t, tc.op, tc.user, p, nil)
		}
		resp := h.Validate(ctx, req)
		if tc.want == "" {
			if !resp.Allowed {
				t.Errorf("%s %s in %s: refused: %s", tc.user, tc.op, tc.tier, resp.Result.Message)
			}
			continue
		}
		if resp.Allowed || resp.Result.Code != http.StatusForbidden || !strings.Contains(resp.Result.Message, tc.want) {
			t.Errorf("%s %s in %s: %+v, want forbidden mentioning %q", tc.user, tc.op, tc.tier, resp.Result, tc.want)
		}
	}
	// Moving a policy from app to security needs both tiers.
	old, moved := policy("app", "web", "app", "all()"), policy("app", "web", "security", "all()")
	v3.Default(old)
	v3.Default(moved)
	if resp := h.Validate(ctx, request(t, admissionv1.Update, "dev", moved, old)); resp.Allowed {
		t.Error("dev moved a policy into a tier it has no access to")
	}
}

func TestTierDeletion(t *testing.T) {
	h := &Handler{Policies: counts{"busy": 2}}
	tier := func(name string) *v3.Tier {
		tr := &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: name}}
		tr.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("Tier"))
		return tr
	}
	for name, want := range map[string]string{"default": "built in", "kube-admin": "built in", "busy": "still has 2 policies", "empty": ""} {
		resp := h.Validate(context.Background(), request(t, admissionv1.Delete, "admin", nil, tier(name)))
		if want == "" {
			if !resp.Allowed {
				t.Errorf("deleting %s: %s", name, resp.Result.Message)
			}
		} else if resp.Allowed || !strings.Contains(resp.Result.Message, want) {
			t.Errorf("deleting %s: %+v, want %q", name, resp.Result, want)
		}
	}
}

func TestServeHTTP(t *testing.T) {
	srv := httptest.NewServer(&Handler{Authz: rbac{}})
	defer srv.Close()
	p := policy("app", "web", "", "all()")
	review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: request(t, admissionv1.Create, "nobody", p, nil)}
	body, _ := json.Marshal(review)
	resp, err := http.Post(srv.URL+PathMutate, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil || out.Response.UID != "u1" || !out.Response.Allowed || out.Response.Patch == nil {
		t.Fatalf("mutate over HTTP: %v %+v", err, out.Response)
	}
	resp.Body.Close()
	for path, want := range map[string]int{PathValidate: 400, "/nowhere": 404} {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s with an empty review: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// An accepted object that asks for what this dataplane does not honour is
// admitted with warnings (kubectl prints "Warning: ..."); a refused one and
// one without such fields carry none.
func TestValidateWarns(t *testing.T) {
	h := &Handler{Authz: rbac{"admin": {"* tiers *", "* tier.networkpolicies *", "* tier.globalnetworkpolicies *"}}}
	ctx := context.Background()

	p := policy("app", "web", "default", "app == 'web'")
	p.Spec.Ingress = append(p.Spec.Ingress, v3.Rule{Action: v3.Deny, HTTP: &v3.HTTPMatch{Paths: []v3.HTTPPath{{Prefix: "/admin"}}}})
	v3.Default(p)
	for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
		var old *v3.NetworkPolicy
		if op == admissionv1.Update {
			old = p.DeepCopy()
			old.ResourceVersion, p.ResourceVersion = "1", "1"
		}
		var resp *admissionv1.AdmissionResponse
		if old != nil {
			resp = h.Validate(ctx, request(t, op, "admin", p, old))
		} else {
			resp = h.Validate(ctx, request(t, op, "admin", p, nil))
		}
		want := []string{"spec.ingress[1].http: HTTP matches are not enforced by this dataplane (no L7 proxy); the rule applies to its L3/L4 part only"}
		if !resp.Allowed || !reflect.DeepEqual(resp.Warnings, want) {
			t.Errorf("%s: allowed %v, warnings %q; want allowed with %q", op, resp.Allowed, resp.Warnings, want)
		}
	}

	pool := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "ipip"}, Spec: v3.IPPoolSpec{CIDR: "10.20.0.0/16", IPIPMode: v3.EncapAlways}}
	pool.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPPool"))
	v3.Default(pool)
	resp := h.Validate(ctx, request(t, admissionv1.Create, "admin", pool, nil))
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "spec.ipipMode: IPIP is not implemented; pool 10.20.0.0/16 is routed without encapsulation") {
		t.Errorf("IPIP pool: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}

	plain := policy("app", "plain", "default", "all()")
	v3.Default(plain)
	if resp := h.Validate(ctx, request(t, admissionv1.Create, "admin", plain, nil)); !resp.Allowed || resp.Warnings != nil {
		t.Errorf("plain policy: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}
	bad := policy("app", "bad", "default", "all(")
	bad.Spec.Ingress[0].HTTP = &v3.HTTPMatch{Methods: []string{"GET"}}
	v3.Default(bad)
	if resp := h.Validate(ctx, request(t, admissionv1.Create, "admin", bad, nil)); resp.Allowed || resp.Warnings != nil {
		t.Errorf("invalid policy: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}
}
