package conversion

import (
	"crypto/sha1"
	"encoding/hex"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

func TestWorkloadEndpointName(t *testing.T) {
	if got := WorkloadEndpointName("node-1", "web-7d9", "eth0"); got != "node--1-k8s-web--7d9-eth0" {
		t.Errorf("got %q", got)
	}
}

func TestVethName(t *testing.T) {
	sum := sha1.Sum([]byte("prod.web-1"))
	want := "cali" + hex.EncodeToString(sum[:])[:11]
	if got := VethName("prod", "web-1"); got != want || len(got) != 15 {
		t.Errorf("VethName = %q, want %q (15 chars, the kernel's limit)", got, want)
	}
}

func TestWorkloadEndpointFromPod(t *testing.T) {
	base := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "prod", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				NodeName:           "node-1",
				ServiceAccountName: "frontend",
				Containers: []corev1.Container{{Ports: []corev1.ContainerPort{
					{Name: "http", ContainerPort: 8080},
					{ContainerPort: 9000},
					{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
				}}},
			},
			Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.9"}}},
		}
	}

	t.Run("fields and labels", func(t *testing.T) {
		wep, ok := WorkloadEndpoint(base())
		if !ok {
			t.Fatal("not converted")
		}
		wantLabels := map[string]string{"app": "web", v3.LabelNamespace: "prod", v3.LabelOrchestrator: "k8s", v3.LabelServiceAccount: "frontend"}
		if !reflect.DeepEqual(wep.Labels, wantLabels) {
			t.Errorf("labels %v, want %v", wep.Labels, wantLabels)
		}
		if !reflect.DeepEqual(wep.Spec.Profiles, []string{"kns.prod", "ksa.prod.frontend"}) {
			t.Errorf("profiles %v", wep.Spec.Profiles)
		}
		if !reflect.DeepEqual(wep.Spec.IPNetworks, []string{"10.0.0.9/32"}) {
			t.Errorf("ipNetworks %v (from pod status)", wep.Spec.IPNetworks)
		}
		if len(wep.Spec.Ports) != 2 || wep.Spec.Ports[1].Protocol.String() != "UDP" || wep.Spec.Ports[0].Protocol.String() != "TCP" {
			t.Errorf("ports %+v, want the two named ones with protocols", wep.Spec.Ports)
		}
	})
	t.Run("annotations win over status and are dual-stack", func(t *testing.T) {
		p := base()
		p.Annotations = map[string]string{v3.AnnotationPodIPs: "10.0.0.10/32,fd00::a/128", v3.AnnotationContainerID: "abc"}
		wep, _ := WorkloadEndpoint(p)
		if !reflect.DeepEqual(wep.Spec.IPNetworks, []string{"10.0.0.10/32", "fd00::a/128"}) || wep.Spec.ContainerID != "abc" {
			t.Errorf("ipNetworks %v containerID %q", wep.Spec.IPNetworks, wep.Spec.ContainerID)
		}
	})
	t.Run("finished pods lose their addresses", func(t *testing.T) {
		p := base()
		p.Status.Phase = corev1.PodSucceeded
		wep, ok := WorkloadEndpoint(p)
		if !ok || len(wep.Spec.IPNetworks) != 0 {
			t.Errorf("ok=%v ipNetworks=%v", ok, wep.Spec.IPNetworks)
		}
	})
	t.Run("host-networked and unscheduled pods are skipped", func(t *testing.T) {
		p := base()
		p.Spec.HostNetwork = true
		if _, ok := WorkloadEndpoint(p); ok {
			t.Error("host-networked pod converted")
		}
		p = base()
		p.Spec.NodeName = ""
		if _, ok := WorkloadEndpoint(p); ok {
			t.Error("unscheduled pod converted")
		}
	})
	t.Run("default service account", func(t *testing.T) {
		p := base()
		p.Spec.ServiceAccountName = ""
		wep, _ := WorkloadEndpoint(p)
		if wep.Spec.Profiles[1] != "ksa.prod.default" {
			t.Errorf("profiles %v", wep.Spec.Profiles)
		}
	})
}

func TestProfiles(t *testing.T) {
	ns := NamespaceProfile(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"team": "a"}}})
	if ns.Name != "kns.prod" || ns.Spec.LabelsToApply["pcns.team"] != "a" || ns.Spec.LabelsToApply["pcns.projectcalico.org/name"] != "prod" {
		t.Errorf("namespace profile %+v", ns)
	}
	if len(ns.Spec.Ingress) != 1 || ns.Spec.Ingress[0].Action != v3.Allow || len(ns.Spec.Egress) != 1 {
		t.Errorf("namespace profile must allow all both ways: %+v", ns.Spec)
	}
	sa := ServiceAccountProfile(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "prod", Labels: map[string]string{"role": "x"}}})
	if sa.Name != "ksa.prod.api" || sa.Spec.LabelsToApply["pcsa.role"] != "x" || len(sa.Spec.Ingress)+len(sa.Spec.Egress) != 0 {
		t.Errorf("service account profile %+v", sa)
	}
}
