// Package ipipcheck makes IP pools that ask for IPIP visible. This
// calico-node does not implement IPIP encapsulation (the kernels it is
// tested on have no ipip module), so a pool with ipipMode Always or
// CrossSubnet is routed without encapsulation, which breaks where nodes
// sit in different L3 subnets. Rather than let that pass silently, the
// checker follows the pools in the datastore stream and says which ones
// ask for IPIP: in calico-node's readiness detail (still ready: traffic
// within one subnet flows) and as a CalicoNodeStatus condition.
package ipipcheck

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/model"
)

// HealthPart is the readiness part the checker reports.
const HealthPart = "ipip"

// ConditionType is the CalicoNodeStatus condition: True while some pool
// asks for IPIP.
const ConditionType = "IPIPUnsupported"

// Checker follows IP pools (a model.SyncerCallbacks consumer).
type Checker struct {
	health *health.Aggregator

	mu    sync.Mutex
	pools map[string]string // pool name → what it asks for, for pools asking for IPIP
}

// New makes a checker reporting to agg (nil: no health part).
func New(agg *health.Aggregator) *Checker {
	c := &Checker{health: agg, pools: map[string]string{}}
	if agg != nil {
		agg.Register(HealthPart, 0)
		c.report()
	}
	return c
}

// OnStatusUpdated is part of model.SyncerCallbacks.
func (c *Checker) OnStatusUpdated(model.SyncStatus) {}

// OnUpdates follows the IP pools.
func (c *Checker) OnUpdates(us []model.Update) {
	c.mu.Lock()
	changed := false
	for _, u := range us {
		if u.Key.Kind != "IPPool" {
			continue
		}
		p, _ := u.Value.(*v3.IPPool)
		before, had := c.pools[u.Key.Name]
		if p == nil || p.Spec.IPIPMode == "" || p.Spec.IPIPMode == v3.EncapNever {
			delete(c.pools, u.Key.Name)
			changed = changed || had
			continue
		}
		now := fmt.Sprintf("IP pool %s (%s) has ipipMode %s", p.Name, p.Spec.CIDR, p.Spec.IPIPMode)
		c.pools[u.Key.Name] = now
		changed = changed || now != before
	}
	c.mu.Unlock()
	if changed {
		c.report()
	}
}

// Problem says which pools ask for IPIP and what that means; "" when none
// does.
func (c *Checker) Problem() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pools) == 0 {
		return ""
	}
	var descs []string
	for _, name := range slices.Sorted(maps.Keys(c.pools)) {
		descs = append(descs, c.pools[name])
	}
	return strings.Join(descs, "; ") + ": IPIP is not implemented by this calico-node, so that traffic is routed without " +
		"encapsulation (it fails between nodes in different subnets); use vxlanMode Always or CrossSubnet instead"
}

// Condition is the CalicoNodeStatus condition (without its transition
// time, which the writer keeps from the previous report).
func (c *Checker) Condition() metav1.Condition {
	if p := c.Problem(); p != "" {
		return metav1.Condition{Type: ConditionType, Status: metav1.ConditionTrue, Reason: "IPIPPoolNotEncapsulated", Message: p}
	}
	return metav1.Condition{Type: ConditionType, Status: metav1.ConditionFalse, Reason: "NoIPIPPool", Message: "no IP pool asks for IPIP"}
}

func (c *Checker) report() {
	if c.health == nil {
		return
	}
	c.health.Report(HealthPart, health.Report{Live: true, Ready: true, Detail: c.Problem()})
}
