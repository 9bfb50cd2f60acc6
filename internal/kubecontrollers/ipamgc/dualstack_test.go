package ipamgc

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/kubecontrollers/lbipam"
	"github.com/calicong/calico/internal/lab/labtest"
)

// TestLoadBalancerDualStack: with dual-stack Services in the API server,
// calico-kube-controllers' service controller gives a RequireDualStack
// LoadBalancer Service one address from each family's LoadBalancer pool,
// an IPv6-only one an IPv6 address, and releases them with the Services.
func TestLoadBalancerDualStack(t *testing.T) {
	bin := labtest.Bin(t)
	ctx := context.Background()
	kube := testLab.Client.Kube
	kind, _ := v3.KindFor("KubeControllersConfiguration")
	cfg := kind.New().(*v3.KubeControllersConfiguration)
	cfg.Name = v3.DefaultConfigName
	cfg.Spec.Controllers.LoadBalancer = &v3.LoadBalancerControllerConfig{}
	v3.Default(cfg)
	if _, err := testLab.Client.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testLab.Client.Delete(ctx, kind, "", v3.DefaultConfigName, nil) })
	for name, cidr := range map[string]string{"ds-lb4": "10.251.0.0/26", "ds-lb6": "fd00:251::/122"} {
		p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.IPPoolSpec{CIDR: cidr,
			AllowedUses: []v3.IPPoolAllowedUse{v3.IPPoolAllowedUseLoadBalancer}}}
		p.SetGroupVersionKind(v3.SchemeGroupVersion.WithKind("IPPool"))
		v3.Default(p)
		if _, err := testLab.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = testLab.Client.Delete(context.Background(), ipam.KindPool, "", name, nil) })
	}
	ports, err := labtest.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "calico-kube-controllers"), "--kubeconfig", kubeControllersKubeconfig(t),
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]))
	kc := labtest.StartProcess(t, "calico-kube-controllers", cmd)
	t.Cleanup(func() { _ = kc.Stop() }) // before the kill: SIGTERM releases the Lease

	policy := func(p corev1.IPFamilyPolicy) *corev1.IPFamilyPolicy { return &p }
	for _, tc := range []struct {
		name     string
		policy   corev1.IPFamilyPolicy
		families []corev1.IPFamily
		want4    bool
		want6    bool
	}{
		{"ds-both", corev1.IPFamilyPolicyRequireDualStack, nil, true, true},
		{"ds-six", corev1.IPFamilyPolicySingleStack, []corev1.IPFamily{corev1.IPv6Protocol}, false, true},
	} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: "default"}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, IPFamilyPolicy: policy(tc.policy), IPFamilies: tc.families,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
		if _, err := kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("%s: %v (does the lab serve dual-stack Services?)", tc.name, err)
		}
		var got []netip.Addr
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			s, err := kube.CoreV1().Services("default").Get(ctx, tc.name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got = nil
			for _, in := range s.Status.LoadBalancer.Ingress {
				got = append(got, netip.MustParseAddr(in.IP))
			}
			if len(got) == btoi(tc.want4)+btoi(tc.want6) {
				break
			}
		}
		var has4, has6 bool
		for _, a := range got {
			has4 = has4 || (a.Is4() && strings.HasPrefix(a.String(), "10.251.0."))
			has6 = has6 || (a.Is6() && strings.HasPrefix(a.String(), "fd00:251::"))
		}
		if has4 != tc.want4 || has6 != tc.want6 || len(got) != btoi(tc.want4)+btoi(tc.want6) {
			t.Errorf("%s got %v; want IPv4 %v, IPv6 %v from the LoadBalancer pools", tc.name, got, tc.want4, tc.want6)
		}
		if err := kube.CoreV1().Services("default").Delete(ctx, tc.name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		var left []netip.Addr
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if left, _ = testLab.Client.IPAM().IPsByHandle(ctx, lbipam.Handle("default", tc.name)); len(left) == 0 {
				break
			}
		}
		if len(left) > 0 {
			t.Errorf("%s's addresses %v were not released with it", tc.name, left)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
