package kcconfig

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
)

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestResolve(t *testing.T) {
	def := DefaultSpec()
	nodeOnly := v3.KubeControllersConfigurationSpec{Controllers: v3.ControllersConfig{
		Node: &v3.NodeControllerConfig{LeakGracePeriod: dur(3 * time.Second), HostEndpoint: &v3.AutoHostEndpointConfig{AutoCreate: "Enabled"}}}}
	for _, tc := range []struct {
		name    string
		spec    v3.KubeControllersConfigurationSpec
		env     string
		want    Settings
		wantErr string
	}{
		{name: "defaults run node and loadbalancer", spec: def,
			want: Settings{LogSeverity: "Info", Node: &Node{ReconcilerPeriod: 5 * time.Minute, LeakGracePeriod: 15 * time.Minute},
				LoadBalancer: &LoadBalancer{AssignIPs: v3.AllServices}}},
		{name: "a missing section is a controller that does not run", spec: nodeOnly,
			want: Settings{Node: &Node{ReconcilerPeriod: 5 * time.Minute, LeakGracePeriod: 3 * time.Second, AutoHostEndpoints: true}}},
		{name: "ENABLED_CONTROLLERS decides instead of the sections", spec: nodeOnly, env: " LoadBalancer , policy,",
			want: Settings{LoadBalancer: &LoadBalancer{AssignIPs: v3.AllServices}}},
		{name: "leakGracePeriod 0 is kept (garbage collection off)",
			spec: v3.KubeControllersConfigurationSpec{Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{LeakGracePeriod: dur(0), ReconcilerPeriod: dur(time.Minute)}}},
			want: Settings{Node: &Node{ReconcilerPeriod: time.Minute, LeakGracePeriod: 0}}},
		{name: "unknown controller name", spec: def, env: "node,nodes", wantErr: `unknown controller "nodes"`},
		{name: "negative grace period",
			spec:    v3.KubeControllersConfigurationSpec{Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{LeakGracePeriod: dur(-time.Second)}}},
			wantErr: "controllers.node.leakGracePeriod"},
		{name: "bad autoCreate",
			spec:    v3.KubeControllersConfigurationSpec{Controllers: v3.ControllersConfig{Node: &v3.NodeControllerConfig{HostEndpoint: &v3.AutoHostEndpointConfig{AutoCreate: "yes"}}}},
			wantErr: "controllers.node.hostEndpoint.autoCreate"},
		{name: "bad assignIPs",
			spec:    v3.KubeControllersConfigurationSpec{Controllers: v3.ControllersConfig{LoadBalancer: &v3.LoadBalancerControllerConfig{AssignIPs: "Some"}}},
			wantErr: "controllers.loadBalancer.assignIPs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.spec, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Errorf("got %+v (node %+v, lb %+v), want %+v", got, got.Node, got.LoadBalancer, tc.want)
			}
		})
	}
}

// RunningSpec resolves back to the same settings: status.runningConfig
// describes exactly what runs.
func TestRunningSpecRoundTrips(t *testing.T) {
	for _, env := range []string{"", "node", "loadbalancer"} {
		s, err := Resolve(DefaultSpec(), env)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Resolve(*s.RunningSpec(), "")
		if err != nil {
			t.Fatal(err)
		}
		if !back.Equal(s) {
			t.Errorf("env %q: running spec resolves to %+v, want %+v", env, back, s)
		}
	}
}

func TestEqual(t *testing.T) {
	a, _ := Resolve(DefaultSpec(), "")
	b, _ := Resolve(DefaultSpec(), "")
	if !a.Equal(b) {
		t.Fatal("the same configuration resolved twice differs")
	}
	b.Node.AutoHostEndpoints = true
	if a.Equal(b) {
		t.Error("turning on automatic host endpoints is not a change")
	}
	c, _ := Resolve(DefaultSpec(), "node")
	if a.Equal(c) || c.Equal(a) {
		t.Error("stopping the loadbalancer controller is not a change")
	}
}
