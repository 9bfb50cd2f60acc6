package lab

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/typha/discovery"
)

// Typha in the lab: the first TyphaReplicas nodes run calico-typha in
// their namespace, as a hostNetwork Deployment would, and their agents
// publish it as the endpoints of the selector-less Service
// kube-system/calico-typha (one EndpointSlice per replica, ready while
// Typha's readiness says so; endpoints.go). Every calico-node finds it there and
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

// typhaService is the Service calico-node finds Typha by: selector-less,
// its endpoints published by the agents of the nodes that run a replica.
func typhaServiceObject() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: typhaService, Namespace: typhaNS, Labels: map[string]string{"k8s-app": typhaService}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: discovery.PortName, Port: discovery.DefaultPort, Protocol: corev1.ProtocolTCP}}},
	}
}
