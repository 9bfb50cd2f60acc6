// Package kcconfig turns KubeControllersConfiguration into the settings
// calico-kube-controllers runs with. A controller runs when its section
// of spec.controllers is present (as in Calico); the ENABLED_CONTROLLERS
// environment variable, when set, decides instead which ones run. The
// default configuration, written when none exists, enables the
// controllers a Kubernetes-datastore cluster uses: node and loadBalancer.
package kcconfig

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

// Controllers this build implements, by their ENABLED_CONTROLLERS names.
const (
	ControllerNode         = "node"
	ControllerLoadBalancer = "loadbalancer"
)

// Ignored are controllers Calico has that only matter with an etcd
// datastore (or that migrate from one); naming them is not an error.
var Ignored = []string{"policy", "namespace", "serviceaccount", "workloadendpoint", "migration"}

// Defaults of the node controller's periods.
const (
	DefaultReconcilerPeriod = 5 * time.Minute
	DefaultLeakGracePeriod  = 15 * time.Minute
)

// Settings are what the controllers run with. A nil section is a
// controller that does not run.
type Settings struct {
	Node         *Node
	LoadBalancer *LoadBalancer
	LogSeverity  string
}

// Node is the node controller's settings.
type Node struct {
	ReconcilerPeriod time.Duration
	// LeakGracePeriod is how long an address without a pod is kept; 0
	// turns IPAM garbage collection off.
	LeakGracePeriod time.Duration
	// AutoHostEndpoints makes a <node>-auto-hep for every node.
	AutoHostEndpoints bool
}

// LoadBalancer is the service controller's settings.
type LoadBalancer struct{ AssignIPs v3.AssignIPs }

// DefaultSpec is the configuration written when none exists.
func DefaultSpec() v3.KubeControllersConfigurationSpec {
	return v3.KubeControllersConfigurationSpec{
		LogSeverityScreen: "Info",
		HealthChecks:      "Enabled",
		Controllers: v3.ControllersConfig{
			Node: &v3.NodeControllerConfig{
				ReconcilerPeriod: &metav1.Duration{Duration: DefaultReconcilerPeriod},
				SyncLabels:       "Enabled",
				HostEndpoint:     &v3.AutoHostEndpointConfig{AutoCreate: "Disabled"},
			},
			LoadBalancer: &v3.LoadBalancerControllerConfig{AssignIPs: v3.AllServices},
		},
	}
}

// Resolve computes the settings from a configuration's spec and the
// ENABLED_CONTROLLERS value ("" when unset).
func Resolve(spec v3.KubeControllersConfigurationSpec, enabledEnv string) (Settings, error) {
	c := spec.Controllers
	node, lb := c.Node != nil, c.LoadBalancer != nil
	if strings.TrimSpace(enabledEnv) != "" {
		node, lb = false, false
		for _, name := range strings.Split(enabledEnv, ",") {
			switch name = strings.ToLower(strings.TrimSpace(name)); {
			case name == ControllerNode:
				node = true
			case name == ControllerLoadBalancer:
				lb = true
			case slices.Contains(Ignored, name), name == "":
			default:
				return Settings{}, fmt.Errorf("ENABLED_CONTROLLERS: unknown controller %q (known: node, loadbalancer; ignored with the Kubernetes datastore: %s)",
					name, strings.Join(Ignored, ", "))
			}
		}
	}
	s := Settings{LogSeverity: spec.LogSeverityScreen}
	if node {
		n := &Node{ReconcilerPeriod: DefaultReconcilerPeriod, LeakGracePeriod: DefaultLeakGracePeriod}
		if nc := c.Node; nc != nil {
			if nc.ReconcilerPeriod != nil && nc.ReconcilerPeriod.Duration > 0 {
				n.ReconcilerPeriod = nc.ReconcilerPeriod.Duration
			}
			if nc.LeakGracePeriod != nil {
				if nc.LeakGracePeriod.Duration < 0 {
					return Settings{}, fmt.Errorf("controllers.node.leakGracePeriod: %s is negative", nc.LeakGracePeriod.Duration)
				}
				n.LeakGracePeriod = nc.LeakGracePeriod.Duration
			}
			if h := nc.HostEndpoint; h != nil {
				switch h.AutoCreate {
				case "Enabled":
					n.AutoHostEndpoints = true
				case "Disabled", "":
				default:
					return Settings{}, fmt.Errorf("controllers.node.hostEndpoint.autoCreate: %q is neither Enabled nor Disabled", h.AutoCreate)
				}
			}
		}
		s.Node = n
	}
	if lb {
		l := &LoadBalancer{AssignIPs: v3.AllServices}
		if c.LoadBalancer != nil && c.LoadBalancer.AssignIPs != "" {
			l.AssignIPs = c.LoadBalancer.AssignIPs
		}
		if l.AssignIPs != v3.AllServices && l.AssignIPs != v3.RequestedServicesOnly {
			return Settings{}, fmt.Errorf("controllers.loadBalancer.assignIPs: %q is neither AllServices nor RequestedServicesOnly", l.AssignIPs)
		}
		s.LoadBalancer = l
	}
	return s, nil
}

// Equal tells whether two settings run the same controllers the same way.
func (s Settings) Equal(o Settings) bool {
	return s.LogSeverity == o.LogSeverity && (s.Node == nil) == (o.Node == nil) && (s.LoadBalancer == nil) == (o.LoadBalancer == nil) &&
		(s.Node == nil || *s.Node == *o.Node) && (s.LoadBalancer == nil || *s.LoadBalancer == *o.LoadBalancer)
}

// String is a one-line summary for logs.
func (s Settings) String() string {
	var b strings.Builder
	if n := s.Node; n != nil {
		fmt.Fprintf(&b, "node(reconcilerPeriod=%s leakGracePeriod=%s autoHostEndpoints=%t) ", n.ReconcilerPeriod, n.LeakGracePeriod, n.AutoHostEndpoints)
	}
	if l := s.LoadBalancer; l != nil {
		fmt.Fprintf(&b, "loadbalancer(assignIPs=%s) ", l.AssignIPs)
	}
	fmt.Fprintf(&b, "logSeverity=%s", s.LogSeverity)
	return b.String()
}

// RunningSpec is the configuration the settings amount to, for
// status.runningConfig.
func (s Settings) RunningSpec() *v3.KubeControllersConfigurationSpec {
	out := &v3.KubeControllersConfigurationSpec{LogSeverityScreen: s.LogSeverity}
	if n := s.Node; n != nil {
		auto := "Disabled"
		if n.AutoHostEndpoints {
			auto = "Enabled"
		}
		out.Controllers.Node = &v3.NodeControllerConfig{
			ReconcilerPeriod: &metav1.Duration{Duration: n.ReconcilerPeriod},
			LeakGracePeriod:  &metav1.Duration{Duration: n.LeakGracePeriod},
			HostEndpoint:     &v3.AutoHostEndpointConfig{AutoCreate: auto},
		}
	}
	if l := s.LoadBalancer; l != nil {
		out.Controllers.LoadBalancer = &v3.LoadBalancerControllerConfig{AssignIPs: l.AssignIPs}
	}
	return out
}
