package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/calicong/calico/internal/ipam"
	"github.com/calicong/calico/internal/lab/probe"
)

// A Deployment on two lab nodes, through the real scheduler and
// controllers: the node runtimes register the nodes, wire the pods the
// scheduler binds to them through the CNI plugin and report them Running
// and Ready; the Service's EndpointSlice lists them; every pod answers on
// its containerPort with its name, from pods on either node; scaling down
// unwires the removed pods and releases their addresses.
func TestDeploymentAcrossNodes(t *testing.T) {
	c := newCluster(t, clusterOpts{hosts: 2, runtimes: true})
	makePool(t, "e2e-deploy", "10.79.0.0/16")
	ctx := context.Background()
	kube := testLab.Client.Kube
	for _, h := range c.hosts {
		until(t, 30*time.Second, h.Name+" Ready", func() bool {
			n, err := kube.CoreV1().Nodes().Get(ctx, h.Name, metav1.GetOptions{})
			if err != nil {
				return false
			}
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					return cond.Status == corev1.ConditionTrue
				}
			}
			return false
		})
	}
	ns := "e2e-deploy"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	replicas := int32(4)
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				// Spread for certain: the scheduler's default spreading is a
				// preference, and its view of a just-Ready node can lag.
				Spec: corev1.PodSpec{TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1,
					TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.DoNotSchedule,
					LabelSelector: &metav1.LabelSelector{MatchLabels: labels}}},
					Containers: []corev1.Container{{Name: "web", Image: "web:1",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 5353, Protocol: corev1.ProtocolUDP}}}}}}}}
	if _, err := kube.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	if _, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var pods []corev1.Pod
	until(t, 60*time.Second, "4 pods Running and Ready", func() bool {
		l, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		pods = pods[:0]
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && podReady(&p) && p.DeletionTimestamp == nil {
				pods = append(pods, p)
			}
		}
		return len(pods) == 4
	})
	nodesUsed := map[string]bool{}
	for _, p := range pods {
		nodesUsed[p.Spec.NodeName] = true
	}
	if len(nodesUsed) != 2 {
		t.Errorf("the scheduler put all pods on %v", nodesUsed)
	}
	until(t, 30*time.Second, "the EndpointSlice lists the 4 pods", func() bool {
		l, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			return false
		}
		n := 0
		for _, es := range l.Items {
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					n++
				}
			}
		}
		return n == 4
	})
	// Every pod answers with its name, from every other pod.
	for _, from := range pods {
		src, ok := c.runtimes[from.Spec.NodeName].Pod(ns, from.Name)
		if !ok {
			t.Fatalf("no sandbox for %s", from.Name)
		}
		for _, to := range pods {
			if to.Name == from.Name {
				continue
			}
			var r probe.Result
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				if r, _ = probe.Connect(src.NS, "TCP", to.Status.PodIP, 8080, time.Second); r.Connected {
					break
				}
			}
			if !r.Connected || r.Reply != to.Name {
				t.Errorf("%s → %s (%s on %s): %+v", from.Name, to.Name, to.Status.PodIP, to.Spec.NodeName, r)
			}
		}
	}

	// Scale down: the removed pods are unwired and their addresses go.
	one := int32(1)
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Replicas = &one
	if _, err := kube.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	until(t, 60*time.Second, "3 pods gone", func() bool {
		l, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 1
	})
	until(t, 30*time.Second, "their addresses released", func() bool {
		all, err := testLab.Client.IPAM().Allocations(ctx)
		if err != nil {
			return false
		}
		n := 0
		for _, a := range all {
			if a.Attrs[ipam.AttrNamespace] == ns {
				n++
			}
		}
		return n == 1
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
