// Package leader runs a function on the one replica of a controller that
// holds its Lease, as Kubernetes' own controllers do: the others wait,
// ready to take over when the leader goes.
package leader

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Run takes part in the election for the Lease namespace/name until ctx
// ends, running lead while this replica leads (its context ends when it
// stops leading); the Lease is released when ctx ends.
func Run(ctx context.Context, kube kubernetes.Interface, namespace, name string, log *slog.Logger, lead func(context.Context)) {
	host, _ := os.Hostname()
	id := fmt.Sprintf("%s_%d", host, os.Getpid())
	lock := &resourcelock.LeaseLock{LeaseMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Client: kube.CoordinationV1(), LockConfig: resourcelock.ResourceLockConfig{Identity: id}}
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("leading", "identity", id)
				lead(ctx)
			},
			OnStoppedLeading: func() { log.Info("no longer leading", "identity", id) },
			OnNewLeader: func(l string) {
				if l != id {
					log.Info("another replica leads", "leader", l)
				}
			},
		},
	})
}
