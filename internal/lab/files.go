package lab

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/calicong/calico/internal/chserver"
	"github.com/calicong/calico/internal/manifests"
	"github.com/calicong/calico/internal/pki"
)

// identity is a client certificate the lab issues and a kubeconfig for it.
type identity struct {
	file         string // kubeconfig file name (without extension for components)
	commonName   string
	organization []string
}

var (
	adminIdentity             = identity{file: "kubeconfig", commonName: "lab-admin", organization: []string{"system:masters"}}
	controllerManagerIdentity = identity{file: "controller-manager", commonName: "system:kube-controller-manager"}
	schedulerIdentity         = identity{file: "scheduler", commonName: "system:kube-scheduler"}
	// Calico's components act as their manifests' ServiceAccounts, with
	// exactly those roles (installed by install): a certificate's common
	// name is its user name, which is what RBAC matches a ServiceAccount
	// subject against.
	calicoNodeIdentity      = serviceAccountIdentity(manifests.NodeName)
	kubeControllersIdentity = serviceAccountIdentity(manifests.KubeControllersName)
	typhaIdentity           = serviceAccountIdentity(manifests.TyphaName)
	apiServerIdentity       = serviceAccountIdentity(manifests.APIServerName)
	linseedIdentity         = serviceAccountIdentity(manifests.LinseedName)
	intrusionIdentity       = serviceAccountIdentity(manifests.IntrusionDetectionName)
	// The Prometheus API service's; Prometheus's own is a certificate
	// (prometheus.crt), as Prometheus takes no kubeconfig.
	prometheusServiceIdentity = serviceAccountIdentity(manifests.PrometheusServiceName)
	prometheusIdentity        = serviceAccountIdentity(manifests.PrometheusName)
	managerIdentity           = serviceAccountIdentity(manifests.ManagerName)
)

func serviceAccountIdentity(name string) identity {
	return identity{file: name, commonName: "system:serviceaccount:" + manifests.Namespace + ":" + name,
		organization: []string{"system:serviceaccounts", "system:serviceaccounts:" + manifests.Namespace}}
}

// auditPolicy records who changed what. Writes to Calico resources, network
// policies, namespaces, service accounts, pods (and their status, where
// their addresses arrive) and RBAC are kept with their request and
// response bodies: compliance reports replay them. Service and
// EndpointSlice writes are kept with metadata only; reads and the control
// plane's own chatter are not recorded.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"]
  verbs: ["get", "list", "watch", "update", "patch"]
  resources:
  - group: "coordination.k8s.io"
    resources: ["leases"]
- level: None
  verbs: ["get", "list", "watch"]
- level: None
  resources:
  - group: ""
    resources: ["events"]
  - group: "events.k8s.io"
    resources: ["events"]
- level: RequestResponse
  resources:
  - group: "projectcalico.org"
  - group: "networking.k8s.io"
    resources: ["networkpolicies"]
  - group: "policy.networking.k8s.io"
  - group: ""
    resources: ["namespaces", "serviceaccounts", "pods", "pods/status"]
  - group: "rbac.authorization.k8s.io"
- level: Metadata
  resources:
  - group: ""
    resources: ["services"]
  - group: "discovery.k8s.io"
    resources: ["endpointslices"]
- level: None
`

// generateFiles creates the lab's PKI, kubeconfigs and audit policy.
func generateFiles(cfg Config) error {
	ca, caKey, err := pki.NewAuthority("calico-lab-ca")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		cfg.pkiPath("ca.crt"): ca.CertPEM,
		cfg.pkiPath("ca.key"): caKey,
	}
	_, svcNet, _ := net.ParseCIDR(cfg.ServiceCIDR)
	kubernetesSvcIP := nextIP(svcNet.IP)
	host := net.ParseIP(cfg.Host)
	serving := []struct {
		name string
		req  pki.Request
	}{
		{"apiserver", pki.Request{
			CommonName: "kube-apiserver",
			DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPs:        uniqueIPs(host, net.IPv4(127, 0, 0, 1), kubernetesSvcIP),
			Server:     true,
		}},
		{"controller-manager-serving", pki.Request{CommonName: "kube-controller-manager", DNSNames: []string{"localhost"}, IPs: uniqueIPs(host, net.IPv4(127, 0, 0, 1)), Server: true}},
		{"scheduler-serving", pki.Request{CommonName: "kube-scheduler", DNSNames: []string{"localhost"}, IPs: uniqueIPs(host, net.IPv4(127, 0, 0, 1)), Server: true}},
		// calico-apiserver's webhooks, called by the API server.
		{"calico-apiserver", pki.Request{CommonName: "calico-apiserver", DNSNames: []string{"localhost"}, IPs: uniqueIPs(host, net.IPv4(127, 0, 0, 1)), Server: true}},
		// Typha and its clients (calico-node) authenticate each other.
		{"typha-server", pki.Request{CommonName: typhaServerCN, Server: true}},
		{"typha-client", pki.Request{CommonName: typhaClientCN, Client: true}},
		// The API server's identity towards kubelets and webhooks.
		{"apiserver-client", pki.Request{CommonName: "kube-apiserver-client", Organization: []string{"system:masters"}, Client: true}},
		// The log API, and the certificates its clients present.
		{"linseed", pki.Request{CommonName: manifests.LinseedName, DNSNames: []string{"localhost"}, IPs: uniqueIPs(host, net.IPv4(127, 0, 0, 1)), Server: true}},
		{"log-shipper", pki.Request{CommonName: manifests.LogShipperName, Client: true}},
		{"linseed-user", pki.Request{CommonName: "calico-lab-user", Client: true}},
		// Prometheus's identity towards the API server, and the
		// Prometheus API service's serving certificate.
		{"prometheus", pki.Request{CommonName: prometheusIdentity.commonName, Organization: prometheusIdentity.organization, Client: true}},
		{"prometheus-service", pki.Request{CommonName: manifests.PrometheusServiceName, DNSNames: []string{"localhost"}, IPs: uniqueIPs(host, net.IPv4(127, 0, 0, 1)), Server: true}},
		// The console, and its client certificate towards Linseed.
		{"manager", pki.Request{CommonName: manifests.ManagerName, DNSNames: []string{"localhost"}, IPs: uniqueIPs(host, net.IPv4(127, 0, 0, 1)), Server: true}},
		{"manager-client", pki.Request{CommonName: manifests.ManagerName, Client: true}},
		// calico-intrusion-detection's client certificate towards Linseed.
		{"intrusion-detection-client", pki.Request{CommonName: manifests.IntrusionDetectionName, Client: true}},
		// Compliance's components' and report jobs' (compliance.go).
		{"compliance-client", pki.Request{CommonName: "calico-compliance", Client: true}},
		// Packet capture (packetcapture.go): the nodes' file services,
		// the API's serving certificate and its client certificate
		// towards the nodes.
		{"capture-files", pki.Request{CommonName: manifests.NodeCaptureFilesCN, Server: true}},
		{"packetcapture", pki.Request{CommonName: manifests.PacketCaptureName, DNSNames: []string{"localhost"}, IPs: uniqueIPs(host, net.IPv4(127, 0, 0, 1)), Server: true}},
		{"packetcapture-client", pki.Request{CommonName: manifests.PacketCaptureName, Client: true}},
	}
	for _, s := range serving {
		crt, key, err := ca.Issue(s.req)
		if err != nil {
			return err
		}
		files[cfg.pkiPath(s.name+".crt")] = crt
		files[cfg.pkiPath(s.name+".key")] = key
	}

	saKey, err := pki.NewKey()
	if err != nil {
		return fmt.Errorf("generate service-account signing key: %w", err)
	}
	saKeyPEM, err := pki.EncodeKey(saKey)
	if err != nil {
		return err
	}
	files[cfg.pkiPath("sa.key")] = saKeyPEM

	for _, id := range []identity{adminIdentity, controllerManagerIdentity, schedulerIdentity, calicoNodeIdentity, kubeControllersIdentity, typhaIdentity, apiServerIdentity, linseedIdentity,
		prometheusServiceIdentity, managerIdentity, intrusionIdentity, packetCaptureIdentity,
		complianceSnapshotterIdentity, complianceControllerIdentity, complianceBenchmarkerIdentity} {
		crt, key, err := ca.Issue(pki.Request{CommonName: id.commonName, Organization: id.organization, Client: true})
		if err != nil {
			return err
		}
		kc, err := kubeconfig(cfg, ca.CertPEM, crt, key, id.commonName)
		if err != nil {
			return err
		}
		path := cfg.componentKubeconfig(id.file)
		if id.file == adminIdentity.file {
			path = cfg.KubeconfigPath()
		}
		files[path] = kc
	}
	files[cfg.path("audit-policy.yaml")] = []byte(auditPolicy)

	for path, data := range files {
		if err := writeFile(path, data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if cfg.LinseedStore == "clickhouse" {
		if _, err := chserver.WriteConfig(filepath.Dir(cfg.clickHouseConfig()), cfg.ClickHousePort, cfg.ClickHouseHTTPPort); err != nil {
			return fmt.Errorf("clickhouse-server's configuration: %w", err)
		}
	}
	return os.MkdirAll(cfg.path("audit"), 0o700)
}

// kubeconfig renders a kubeconfig with embedded credentials, so it stays
// valid wherever it is copied.
func kubeconfig(cfg Config, caPEM, certPEM, keyPEM []byte, user string) ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["calico-lab"] = &clientcmdapi.Cluster{Server: cfg.APIServerURL(), CertificateAuthorityData: caPEM}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	kc.Contexts["calico-lab"] = &clientcmdapi.Context{Cluster: "calico-lab", AuthInfo: user}
	kc.CurrentContext = "calico-lab"
	return clientcmd.Write(*kc)
}

func nextIP(ip net.IP) net.IP {
	out := make(net.IP, len(ip.To4()))
	copy(out, ip.To4())
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			break
		}
	}
	return out
}

func uniqueIPs(ips ...net.IP) []net.IP {
	var out []net.IP
	for _, ip := range ips {
		dup := false
		for _, o := range out {
			if o.Equal(ip) {
				dup = true
			}
		}
		if !dup {
			out = append(out, ip)
		}
	}
	return out
}
