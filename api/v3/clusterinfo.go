package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ClusterInformation holds cluster-wide facts written by Calico itself; the
// object is named "default". Felix waits until DatastoreReady is true.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,path=clusterinformations,singular=clusterinformation,shortName={clusterinfo}
// +kubebuilder:printcolumn:name="GUID",type=string,JSONPath=`.spec.clusterGUID`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.calicoVersion`
// +kubebuilder:printcolumn:name="Ready",type=boolean,JSONPath=`.spec.datastoreReady`
type ClusterInformation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	// +optional
	Spec ClusterInformationSpec `json:"spec,omitempty"`
}

// ClusterInformationSpec holds the cluster facts.
type ClusterInformationSpec struct {
	// ClusterGUID identifies the cluster.
	// +optional
	ClusterGUID string `json:"clusterGUID,omitempty"`
	// ClusterType is a comma-separated list of deployment traits, e.g. "k8s,bgp".
	// +optional
	ClusterType string `json:"clusterType,omitempty"`
	// CalicoVersion is the version of the running Calico.
	// +optional
	CalicoVersion string `json:"calicoVersion,omitempty"`
	// DatastoreReady gates Felix: while false, it does not program the dataplane.
	// +optional
	DatastoreReady *bool `json:"datastoreReady,omitempty"`
	// Variant is the product variant, e.g. "Calico".
	// +optional
	Variant string `json:"variant,omitempty"`
}

// ClusterInformationList is a list of ClusterInformations.
// +kubebuilder:object:root=true
type ClusterInformationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []ClusterInformation `json:"items"`
}
