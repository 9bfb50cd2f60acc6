package lab

import (
	"context"
	"reflect"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/calicong/calico/internal/typha/discovery"
)

// Typha in the lab: the first TyphaReplicas nodes run calico-typha in
// their namespace, as a hostNetwork Deployment would, and their agents
// publish it as the endpoints of the selector-less Service
// kube-system/calico-typha (one EndpointSlice per replica, ready while
// Typha's readiness says so). Every calico-node finds it there and
// connects with mutual TLS using certificates from the lab's CA.
const (
	typhaServerCN = "calico-typha"
	typhaClientCN = "calico-node"
	typhaService  = "calico-typha"
	typhaNS       = "kube-system"
	typhaHealth   = "127.0.0.1:9098"
)

// typhaEnv is calico-typha's configuration on a lab node.
func (a *agent) typhaEnv() []string {
	return []string{
		"KUBECONFIG=" + a.cfg.componentKubeconfig(typhaIdentity.file),
		"TYPHA_CAFILE=" + a.cfg.pkiPath("ca.crt"),
		"TYPHA_SERVERCERTFILE=" + a.cfg.pkiPath("typha-server.crt"),
		"TYPHA_SERVERKEYFILE=" + a.cfg.pkiPath("typha-server.key"),
		"TYPHA_CLIENTCN=" + typhaClientCN,
		"TYPHA_HEALTHHOST=127.0.0.1",
		"TYPHA_PROMETHEUSMETRICSENABLED=true",
		"TYPHA_K8SSERVICENAME=" + typhaService, "TYPHA_K8SNAMESPACE=" + typhaNS,
		// A lab replica stopping sheds its clients within seconds.
		"TYPHA_SHUTDOWNTIMEOUTSECS=3",
	}
}

// typhaClientEnv points calico-node at the lab's Typha.
func (a *agent) typhaClientEnv() []string {
	if a.cfg.TyphaReplicas == 0 {
		return nil
	}
	return []string{
		"FELIX_TYPHAK8SSERVICENAME=" + typhaService, "FELIX_TYPHAK8SNAMESPACE=" + typhaNS,
		"FELIX_TYPHACAFILE=" + a.cfg.pkiPath("ca.crt"),
		"FELIX_TYPHACERTFILE=" + a.cfg.pkiPath("typha-client.crt"),
		"FELIX_TYPHAKEYFILE=" + a.cfg.pkiPath("typha-client.key"),
		"FELIX_TYPHACN=" + typhaServerCN,
	}
}

// typhaSlice is the EndpointSlice publishing this node's replica.
func (a *agent) typhaSlice(ready bool) *discoveryv1.EndpointSlice {
	name, port, proto := discovery.PortName, int32(discovery.DefaultPort), corev1.ProtocolTCP
	node := a.host.Name
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: typhaService + "-" + node, Namespace: typhaNS, Labels: map[string]string{
			discoveryv1.LabelServiceName: typhaService, discoveryv1.LabelManagedBy: "calico-lab"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{a.host.IP.Addr().String()}, NodeName: &node,
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}
}

// publishTypha keeps the Service and this replica's EndpointSlice true:
// ready exactly while Typha's readiness endpoint says so.
func (a *agent) publishTypha(ctx context.Context, kube kubernetes.Interface) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: typhaService, Namespace: typhaNS, Labels: map[string]string{"k8s-app": typhaService}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: discovery.PortName, Port: discovery.DefaultPort, Protocol: corev1.ProtocolTCP}}},
	}
	slices := kube.DiscoveryV1().EndpointSlices(typhaNS)
	var published *discoveryv1.EndpointSlice
	t := time.NewTicker(time.Second)
	defer t.Stop()
	svcDone := false
	for {
		if !svcDone {
			_, err := kube.CoreV1().Services(typhaNS).Create(ctx, svc, metav1.CreateOptions{})
			if svcDone = err == nil || apierrors.IsAlreadyExists(err); !svcDone {
				a.log.Warn("creating the calico-typha Service", "err", err)
			}
		}
		want := a.typhaSlice(a.healthy(ctx, "calico-typha", "http://"+typhaHealth+"/readiness") == nil)
		if published == nil || !reflect.DeepEqual(published.Endpoints, want.Endpoints) {
			cur, err := slices.Get(ctx, want.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				_, err = slices.Create(ctx, want, metav1.CreateOptions{})
			case err == nil:
				cur.Labels, cur.Ports, cur.Endpoints, cur.AddressType = want.Labels, want.Ports, want.Endpoints, want.AddressType
				_, err = slices.Update(ctx, cur, metav1.UpdateOptions{})
			}
			if err != nil {
				a.log.Warn("publishing calico-typha's endpoint", "err", err)
			} else {
				published = want
				a.log.Info("calico-typha endpoint", "ready", strconv.FormatBool(*want.Endpoints[0].Conditions.Ready))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
