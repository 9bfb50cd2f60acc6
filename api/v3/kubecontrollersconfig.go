package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// KubeControllersConfiguration configures calico-kube-controllers; the object is
// named "default".
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName={kcc,kccs}
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KubeControllersConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec KubeControllersConfigurationSpec `json:"spec"`
	// +optional
	Status KubeControllersConfigurationStatus `json:"status,omitempty"`
}

// KubeControllersConfigurationSpec is the specification of the controllers.
type KubeControllersConfigurationSpec struct {
	// LogSeverityScreen is the minimum severity logged. [Default: Info]
	// +kubebuilder:validation:Enum=None;Debug;Info;Warning;Error;Fatal;Panic
	// +optional
	LogSeverityScreen string `json:"logSeverityScreen,omitempty"`

	// HealthChecks turns the health endpoints on or off. [Default: Enabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +kubebuilder:default=Enabled
	// +optional
	HealthChecks string `json:"healthChecks,omitempty"`

	// EtcdV3CompactionPeriod is the interval between etcd compactions; 0
	// disables. Only used with the etcd datastore. [Default: 10m]
	// +optional
	EtcdV3CompactionPeriod *metav1.Duration `json:"etcdV3CompactionPeriod,omitempty"`

	// PrometheusMetricsPort is the metrics port; 0 disables. [Default: 9094]
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	// +optional
	PrometheusMetricsPort *int `json:"prometheusMetricsPort,omitempty"`

	// Controllers turns individual controllers on (present) or off (absent) and
	// configures them.
	Controllers ControllersConfig `json:"controllers"`

	// DebugProfilePort serves CPU and memory profiles on this port when set.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	// +optional
	DebugProfilePort *int32 `json:"debugProfilePort,omitempty"`
}

// ControllersConfig holds one entry per controller; a nil entry disables it.
type ControllersConfig struct {
	// +optional
	Node *NodeControllerConfig `json:"node,omitempty"`
	// +optional
	Policy *PolicyControllerConfig `json:"policy,omitempty"`
	// +optional
	WorkloadEndpoint *WorkloadEndpointControllerConfig `json:"workloadEndpoint,omitempty"`
	// +optional
	ServiceAccount *ServiceAccountControllerConfig `json:"serviceAccount,omitempty"`
	// +optional
	Namespace *NamespaceControllerConfig `json:"namespace,omitempty"`
	// +optional
	LoadBalancer *LoadBalancerControllerConfig `json:"loadBalancer,omitempty"`
	// Migration configures the controllers that migrate stored data between
	// Calico versions.
	// +optional
	Migration *MigrationControllerConfig `json:"policyMigration,omitempty"`
}

// NodeControllerConfig configures the node controller: it cleans up after
// deleted nodes, garbage-collects IPAM and can create host endpoints.
type NodeControllerConfig struct {
	// ReconcilerPeriod is the full resync interval. [Default: 5m]
	// +optional
	ReconcilerPeriod *metav1.Duration `json:"reconcilerPeriod,omitempty"`
	// SyncLabels copies Kubernetes node labels to Calico nodes. [Default: Enabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +optional
	SyncLabels string `json:"syncLabels,omitempty"`
	// HostEndpoint configures automatic host endpoints.
	// +optional
	HostEndpoint *AutoHostEndpointConfig `json:"hostEndpoint,omitempty"`
	// LeakGracePeriod is how long an allocation must look leaked before it is
	// released; 0 disables IPAM garbage collection. [Default: 15m]
	// +optional
	LeakGracePeriod *metav1.Duration `json:"leakGracePeriod,omitempty"`
}

// AutoHostEndpointConfig configures automatic host endpoints.
type AutoHostEndpointConfig struct {
	// AutoCreate creates host endpoints for nodes. [Default: Disabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +optional
	AutoCreate string `json:"autoCreate,omitempty"`
	// CreateDefaultHostEndpoint creates the "<node>-auto-hep" all-interfaces
	// endpoint. [Default: Enabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +optional
	CreateDefaultHostEndpoint string `json:"createDefaultHostEndpoint,omitempty"`
	// Templates describe additional generated host endpoints.
	// +listType=atomic
	// +optional
	Templates []AutoHostEndpointTemplate `json:"templates,omitempty"`
}

// AutoHostEndpointTemplate describes host endpoints generated for the nodes it
// selects.
type AutoHostEndpointTemplate struct {
	// GenerateName is appended to the generated endpoint names.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	GenerateName string `json:"generateName,omitempty"`
	// InterfaceCIDRs keeps only node addresses in these ranges as expected IPs.
	// +listType=atomic
	// +optional
	InterfaceCIDRs []string `json:"interfaceCIDRs,omitempty"`
	// InterfacePattern is a regex of interfaces that each get an endpoint.
	// +optional
	InterfacePattern string `json:"interfacePattern,omitempty"`
	// Labels are added to the generated endpoints, overriding node labels.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are added to the generated endpoints.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// NodeSelector picks the nodes the template applies to.
	// +optional
	NodeSelector string `json:"nodeSelector,omitempty"`
}

// PolicyControllerConfig configures the policy controller (etcd datastore only).
type PolicyControllerConfig struct {
	// +optional
	ReconcilerPeriod *metav1.Duration `json:"reconcilerPeriod,omitempty"`
}

// WorkloadEndpointControllerConfig configures the workload endpoint controller
// (etcd datastore only).
type WorkloadEndpointControllerConfig struct {
	// +optional
	ReconcilerPeriod *metav1.Duration `json:"reconcilerPeriod,omitempty"`
}

// ServiceAccountControllerConfig configures the service account controller (etcd
// datastore only).
type ServiceAccountControllerConfig struct {
	// +optional
	ReconcilerPeriod *metav1.Duration `json:"reconcilerPeriod,omitempty"`
}

// NamespaceControllerConfig configures the namespace controller (etcd datastore
// only).
type NamespaceControllerConfig struct {
	// +optional
	ReconcilerPeriod *metav1.Duration `json:"reconcilerPeriod,omitempty"`
}

// LoadBalancerControllerConfig configures LoadBalancer IP assignment.
type LoadBalancerControllerConfig struct {
	// AssignIPs assigns addresses to all LoadBalancer Services or only to those
	// that ask for a Calico pool. [Default: AllServices]
	// +kubebuilder:validation:Enum=AllServices;RequestedServicesOnly
	// +kubebuilder:default=AllServices
	// +optional
	AssignIPs AssignIPs `json:"assignIPs,omitempty"`
}

// AssignIPs says which LoadBalancer Services get Calico IPs.
type AssignIPs string

const (
	AllServices           AssignIPs = "AllServices"
	RequestedServicesOnly AssignIPs = "RequestedServicesOnly"
)

// MigrationControllerConfig configures the data migration controllers.
type MigrationControllerConfig struct {
	// PolicyNameMigrator renames policies stored under old-style names.
	// [Default: Enabled]
	// +kubebuilder:validation:Enum=Enabled;Disabled
	// +kubebuilder:default=Enabled
	// +optional
	PolicyNameMigrator string `json:"enabled,omitempty"`
}

// KubeControllersConfigurationStatus shows the configuration actually running,
// after environment variables were merged in.
type KubeControllersConfigurationStatus struct {
	// +optional
	RunningConfig *KubeControllersConfigurationSpec `json:"runningConfig,omitempty"`
	// +optional
	EnvironmentVars map[string]string `json:"environmentVars,omitempty"`
}

// KubeControllersConfigurationList is a list of KubeControllersConfigurations.
// +kubebuilder:object:root=true
type KubeControllersConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []KubeControllersConfiguration `json:"items"`
}
