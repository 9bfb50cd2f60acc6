package v3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PacketCapture records the traffic of selected pods in its namespace
// into pcap files, on each node that runs one of them, between its start
// and end times (docs/packet-capture.md). It follows Calico
// Enterprise's resource.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
type PacketCapture struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec PacketCaptureSpec `json:"spec"`
	// +optional
	Status PacketCaptureStatus `json:"status,omitempty"`
}

// PacketCaptureSpec is what is captured, and when.
type PacketCaptureSpec struct {
	// Selector chooses the workload endpoints of the capture's namespace
	// whose traffic is captured. [Default: all()]
	// +optional
	Selector string `json:"selector,omitempty"`
	// Filters keep the packets that match any of them (all packets
	// without filters).
	// +listType=atomic
	// +optional
	Filters []PacketCaptureRule `json:"filters,omitempty"`
	// StartTime is when capture starts: now when unset or past. Moving
	// it to the future stops a capture until then.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// EndTime is when capture stops: never when unset. Moving it to the
	// past stops a capture.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
}

// PacketCaptureRule matches packets by protocol and ports: both must
// match when both are given.
type PacketCaptureRule struct {
	// Protocol is TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1 to
	// 255.
	// +optional
	Protocol *Protocol `json:"protocol,omitempty"`
	// Ports are port numbers and "a:b" ranges (not named ports); they
	// need a protocol with ports (TCP, UDP, SCTP, UDPLite).
	// +listType=atomic
	// +optional
	Ports []Port `json:"ports,omitempty"`
}

// PacketCaptureState is a capture's state on one node.
type PacketCaptureState string

// The states of a capture on a node, as Calico Enterprise names them.
const (
	PacketCaptureStateScheduled         PacketCaptureState = "Scheduled"
	PacketCaptureStateWaitingForTraffic PacketCaptureState = "WaitingForTraffic"
	PacketCaptureStateCapturing         PacketCaptureState = "Capturing"
	PacketCaptureStateFinished          PacketCaptureState = "Finished"
	PacketCaptureStateError             PacketCaptureState = "Error"
)

// PacketCaptureStatus is where the capture's files are, per node.
type PacketCaptureStatus struct {
	// +listType=atomic
	// +optional
	Files []PacketCaptureFile `json:"files,omitempty"`
}

// PacketCaptureFile is one node's files of a capture.
type PacketCaptureFile struct {
	Node string `json:"node"`
	// Directory holds the files on the node.
	Directory string `json:"directory,omitempty"`
	// FileNames are the capture's files there: <endpoint>_<interface>.pcap,
	// and rotated ones with an index.
	// +listType=atomic
	// +optional
	FileNames []string `json:"fileNames,omitempty"`
	// +optional
	State PacketCaptureState `json:"state,omitempty"`
}

// PacketCaptureList is a list of PacketCaptures.
// +kubebuilder:object:root=true
type PacketCaptureList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []PacketCapture `json:"items"`
}
