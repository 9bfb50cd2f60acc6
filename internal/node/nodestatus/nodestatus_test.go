package nodestatus_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/node/nodestatus"
	"github.com/calicong/calico/internal/poll"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

type brokenBGP struct{ nodestatus.WithoutBGP }

func (brokenBGP) BGP(context.Context) (v3.CalicoNodeBGPStatus, error) {
	return v3.CalicoNodeBGPStatus{}, errors.New("birdc: no socket")
}

// TestReportsRequestedClasses runs the reporter against a real API server:
// objects naming this node get the classes they ask for, refreshed every
// period; objects for other nodes are not touched.
func TestReportsRequestedClasses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := testLab.Client
	kind, _ := v3.KindFor("CalicoNodeStatus")
	one, zero := uint32(1), uint32(0)
	mk := func(name, node string, period *uint32, classes ...v3.NodeStatusClassType) {
		t.Helper()
		st := &v3.CalicoNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v3.CalicoNodeStatusSpec{Node: node, Classes: classes, UpdatePeriodSeconds: period}}
		if _, err := c.Create(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	mk("mine", "ns-node", &one, v3.NodeStatusClassTypeAgent, v3.NodeStatusClassTypeRoutes, v3.NodeStatusClassTypeBGP)
	mk("theirs", "other-node", &one, v3.NodeStatusClassTypeAgent)
	mk("paused", "ns-node", &zero, v3.NodeStatusClassTypeAgent)

	src := brokenBGP{nodestatus.WithoutBGP{KernelRoutes: func() ([]v3.CalicoNodeRoute, error) {
		return []v3.CalicoNodeRoute{{Destination: "10.65.0.1/32", Interface: "cali1"}, {Destination: "fd00::1/128", Interface: "cali1"}}, nil
	}}}
	var problem atomic.Bool
	problem.Store(true)
	conditions := func() []metav1.Condition {
		if problem.Load() {
			return []metav1.Condition{{Type: "IPIPUnsupported", Status: metav1.ConditionTrue, Reason: "IPIPPoolNotEncapsulated", Message: "IP pool p (10.0.0.0/16) has ipipMode Always"}}
		}
		return []metav1.Condition{{Type: "IPIPUnsupported", Status: metav1.ConditionFalse, Reason: "NoIPIPPool", Message: "no IP pool asks for IPIP"}}
	}
	done := make(chan error, 1)
	go func() {
		done <- nodestatus.Run(ctx, nodestatus.Config{Node: "ns-node", Informer: c.NewInformer(kind, "", 0), Writer: c, Source: src, Conditions: conditions})
	}()

	get := func(name string) *v3.CalicoNodeStatus {
		obj, err := c.Get(ctx, kind, "", name)
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*v3.CalicoNodeStatus)
	}
	var first time.Time
	poll.Until(t, 20*time.Second, "the first report", func() bool {
		first = get("mine").Status.LastUpdated.Time
		return !first.IsZero()
	})
	st := get("mine").Status
	if st.Agent.BIRDV4.State != nodestatus.NotReady || st.Agent.BIRDV6.State != nodestatus.NotReady {
		t.Errorf("agent = %+v", st.Agent)
	}
	want4 := v3.CalicoNodeRoute{Type: "FIB", Destination: "10.65.0.1/32", Interface: "cali1", LearnedFrom: v3.CalicoNodeRouteLearnedFrom{SourceType: "Kernel"}}
	if len(st.Routes.RoutesV4) != 1 || st.Routes.RoutesV4[0] != want4 || len(st.Routes.RoutesV6) != 1 {
		t.Errorf("routes = %+v", st.Routes)
	}
	if len(st.Conditions) != 1 || st.Conditions[0].Status != metav1.ConditionTrue || !strings.Contains(st.Conditions[0].Message, "10.0.0.0/16") ||
		st.Conditions[0].LastTransitionTime.IsZero() {
		t.Errorf("conditions = %+v", st.Conditions)
	}
	since := st.Conditions[0].LastTransitionTime
	// The period is one second: lastUpdated moves on, and a condition that
	// stays keeps its transition time.
	poll.Until(t, 20*time.Second, "a second report", func() bool {
		return get("mine").Status.LastUpdated.After(first)
	})
	if c := get("mine").Status.Conditions; len(c) != 1 || !c[0].LastTransitionTime.Equal(&since) {
		t.Errorf("a condition that stayed moved its transition time: %+v", c)
	}
	problem.Store(false)
	poll.Until(t, 20*time.Second, "the condition to clear", func() bool {
		c := get("mine").Status.Conditions
		return len(c) == 1 && c[0].Status == metav1.ConditionFalse && c[0].Reason == "NoIPIPPool"
	})
	// All three arrived together; two reports on ours mean the others
	// were passed over, not merely not reached yet.
	if st := get("theirs").Status; !st.LastUpdated.IsZero() || st.Agent.BIRDV4.State != "" {
		t.Errorf("another node's object was written: %+v", st)
	}
	if st := get("paused").Status; !st.LastUpdated.IsZero() {
		t.Errorf("an object with updatePeriodSeconds 0 was written: %+v", st)
	}

	// Dropping a class from the spec drops it from the status.
	obj := get("mine")
	obj.Spec.Classes = []v3.NodeStatusClassType{v3.NodeStatusClassTypeAgent}
	if _, err := c.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "routes to leave the status", func() bool {
		st := get("mine").Status
		return len(st.Routes.RoutesV4) == 0 && st.Agent.BIRDV4.State == nodestatus.NotReady
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
