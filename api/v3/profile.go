package v3

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Profile is a set of rules and labels that endpoints inherit by listing it. Its
// rules are evaluated after every tier. Profiles are synthesised, never stored:
// "kns.<namespace>" for each Namespace (allow all, labels pcns.*),
// "ksa.<namespace>.<serviceaccount>" for each ServiceAccount (no rules, labels
// pcsa.*), and the built-in "projectcalico-default-allow".
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type Profile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec ProfileSpec `json:"spec"`
}

// ProfileSpec holds the profile's rules and inherited labels.
type ProfileSpec struct {
	// Ingress rules, evaluated in order.
	// +optional
	Ingress []Rule `json:"ingress,omitempty"`
	// Egress rules, evaluated in order.
	// +optional
	Egress []Rule `json:"egress,omitempty"`
	// LabelsToApply are added to endpoints that list the profile; the endpoint's
	// own labels win.
	// +optional
	LabelsToApply map[string]string `json:"labelsToApply,omitempty"`
}

// ProfileList is a list of Profiles.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type ProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []Profile `json:"items"`
}
