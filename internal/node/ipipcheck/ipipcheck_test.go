package ipipcheck

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/model"
)

func pool(name, cidr string, ipip v3.EncapMode) model.Update {
	p := &v3.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.IPPoolSpec{CIDR: cidr, IPIPMode: ipip}}
	return model.Update{KVPair: model.KVPair{Key: model.Key{Kind: "IPPool", Name: name}, Value: p}}
}

// TestPoolsAskingForIPIPAreNamed: readiness detail and the condition
// name every pool with ipipMode Always or CrossSubnet, stay ready, and
// clear when the pools change or go.
func TestPoolsAskingForIPIPAreNamed(t *testing.T) {
	agg := health.New(nil)
	c := New(agg)
	detail := func() string { return agg.Status().Parts[HealthPart].Detail }
	if d := detail(); d != "" || c.Condition().Status != metav1.ConditionFalse {
		t.Fatalf("no pools: detail %q, condition %+v", d, c.Condition())
	}
	c.OnUpdates([]model.Update{pool("plain", "10.1.0.0/16", ""), pool("never", "10.2.0.0/16", v3.EncapNever),
		pool("always", "10.3.0.0/16", v3.EncapAlways), pool("cross", "10.4.0.0/16", v3.EncapCrossSubnet)})
	d := detail()
	for _, want := range []string{"IP pool always (10.3.0.0/16) has ipipMode Always", "IP pool cross (10.4.0.0/16) has ipipMode CrossSubnet", "vxlanMode"} {
		if !strings.Contains(d, want) {
			t.Errorf("detail %q lacks %q", d, want)
		}
	}
	if strings.Contains(d, "plain") || strings.Contains(d, "never") {
		t.Errorf("detail names pools without IPIP: %q", d)
	}
	if st := agg.Status(); !st.Ready || !st.Parts[HealthPart].Ready {
		t.Errorf("an IPIP pool made the node unready: %+v", st)
	}
	if cond := c.Condition(); cond.Type != ConditionType || cond.Status != metav1.ConditionTrue || cond.Message != d {
		t.Errorf("condition %+v", cond)
	}
	// One pool switches to VXLAN, the other is deleted.
	c.OnUpdates([]model.Update{pool("always", "10.3.0.0/16", v3.EncapNever), {KVPair: model.KVPair{Key: model.Key{Kind: "IPPool", Name: "cross"}}}})
	if d := detail(); d != "" || c.Condition().Status != metav1.ConditionFalse {
		t.Errorf("after the change: detail %q, condition %+v", d, c.Condition())
	}
}
