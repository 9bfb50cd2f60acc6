package noderuntime

import (
	"context"
	"fmt"
	"runtime"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// What the node offers the scheduler: enough for hundreds of pods without
// requests, as a small real node would.
var capacity = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("8"),
	corev1.ResourceMemory: resource.MustParse("16Gi"),
	corev1.ResourcePods:   resource.MustParse("250"),
}

// nodeStatus is the node's status as a healthy kubelet reports it.
func (r *Runtime) nodeStatus(now metav1.Time) corev1.NodeStatus {
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: r.since}
	}
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "the lab's node runtime is running"),
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", ""),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", ""),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", ""),
		},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: r.cfg.Host.IP.Addr().String()}, {Type: corev1.NodeHostName, Address: r.cfg.Host.Name}},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.36.3-calico-lab", OperatingSystem: "linux", Architecture: runtime.GOARCH,
			ContainerRuntimeVersion: "calico-lab://1"},
	}
}

// register creates the node's Node (or takes over an existing one), with
// a healthy status.
func (r *Runtime) register(ctx context.Context) error {
	name := r.cfg.Host.Name
	now := metav1.Now()
	nodes := r.cfg.Kube.CoreV1().Nodes()
	n, err := nodes.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: runtime.GOARCH,
		}}, Status: r.nodeStatus(now)}
		if _, err := nodes.Create(ctx, n, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("registering node %s: %w", name, err)
		}
		return r.heartbeat(ctx, true)
	}
	if err != nil {
		return fmt.Errorf("reading node %s: %w", name, err)
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	changed := false
	for k, v := range map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: runtime.GOARCH} {
		if n.Labels[k] != v {
			n.Labels[k], changed = v, true
		}
	}
	if changed {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := nodes.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			for k, v := range map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: runtime.GOARCH} {
				n.Labels[k] = v
			}
			_, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("labelling node %s: %w", name, err)
		}
	}
	return r.heartbeat(ctx, true)
}

// heartbeat renews the node's Lease (what the node lifecycle controller
// watches) and, with status, rewrites the node's status too (as a kubelet
// does only now and then once the lease carries its liveness).
func (r *Runtime) heartbeat(ctx context.Context, status bool) error {
	name := r.cfg.Host.Name
	now := metav1.NewMicroTime(time.Now())
	leases := r.cfg.Kube.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	dur := int32(40)
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &dur, RenewTime: &now}}
		if _, err := leases.Create(ctx, l, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("node lease: %w", err)
		}
	case err != nil:
		return fmt.Errorf("node lease: %w", err)
	default:
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &name, &dur, &now
		if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node lease: %w", err)
		}
	}
	if !status {
		return nil
	}
	// Others write the Node too (calico-node its annotations): retry on
	// a conflict from a fresh read.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := r.cfg.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status = r.nodeStatus(metav1.Now())
		_, err = r.cfg.Kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("node %s status: %w", name, err)
	}
	return nil
}
