package snapshot

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/calicong/calico/internal/compliance/replay"
)

func doc(t *testing.T, apiVersion, kind string, items ...string) *Doc {
	t.Helper()
	d := &Doc{APIVersion: apiVersion, Kind: kind}
	for _, it := range items {
		d.Items = append(d.Items, json.RawMessage(it))
	}
	return d
}

// TestFingerprint: what changes without meaning (resourceVersion, pod
// conditions, order) leaves the fingerprint; a label does not.
func TestFingerprint(t *testing.T) {
	a := doc(t, "v1", "PodList",
		`{"metadata":{"name":"db-0","namespace":"demo","resourceVersion":"1","labels":{"app":"db"}},"status":{"phase":"Running","podIP":"10.0.0.1","conditions":[{"type":"Ready","lastProbeTime":"2026-01-01T00:00:00Z"}]}}`,
		`{"metadata":{"name":"web-0","namespace":"demo","resourceVersion":"2"},"status":{"phase":"Running","podIP":"10.0.0.2"}}`)
	b := doc(t, "v1", "PodList",
		`{"metadata":{"name":"web-0","namespace":"demo","resourceVersion":"7"},"status":{"phase":"Running","podIP":"10.0.0.2"}}`,
		`{"metadata":{"name":"db-0","namespace":"demo","resourceVersion":"9","labels":{"app":"db"}},"status":{"phase":"Running","podIP":"10.0.0.1","conditions":[{"type":"Ready","lastProbeTime":"2026-01-01T00:05:00Z"}]}}`)
	c := doc(t, "v1", "PodList",
		`{"metadata":{"name":"web-0","namespace":"demo"},"status":{"phase":"Running","podIP":"10.0.0.2"}}`,
		`{"metadata":{"name":"db-0","namespace":"demo","labels":{"app":"cache"}},"status":{"phase":"Running","podIP":"10.0.0.1"}}`)
	fa, _ := a.Fingerprint()
	fb, _ := b.Fingerprint()
	fc, _ := c.Fingerprint()
	if fa != fb {
		t.Error("resource versions, probe times or the order changed the fingerprint")
	}
	if fa == fc {
		t.Error("a changed label left the fingerprint")
	}
}

// TestReplayFromSnapshotAndAudit: a snapshot and the audit events after
// it, read as a replay's input, give the endpoints their policies: the
// policy created in the interval protects db only from then on.
func TestReplayFromSnapshotAndAudit(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	docs := []*Doc{
		doc(t, "v1", "NamespaceList", `{"metadata":{"name":"demo"}}`),
		doc(t, "v1", "PodList", `{"metadata":{"name":"db-0","namespace":"demo","labels":{"app":"db"}},"spec":{"nodeName":"node-1"},"status":{"phase":"Running","podIP":"10.0.0.1","podIPs":[{"ip":"10.0.0.1"}]}}`),
		doc(t, "projectcalico.org/v3", "GlobalNetworkPolicyList",
			`{"metadata":{"name":"default.egress"},"spec":{"tier":"default","selector":"all()","types":["Egress"],"egress":[{"action":"Allow"}]}}`),
	}
	var initial []any
	for _, d := range docs {
		objs, err := d.Objects()
		if err != nil {
			t.Fatal(err)
		}
		initial = append(initial, objs...)
	}
	at := func(m int) string { return t0.Add(time.Duration(m) * time.Minute).Format(time.RFC3339Nano) }
	events := []string{
		// A policy for db, created 10 minutes in.
		`{"verb":"create","stage":"ResponseComplete","objectRef":{"resource":"networkpolicies","namespace":"demo","name":"db","apiGroup":"projectcalico.org","apiVersion":"v3"},` +
			`"responseStatus":{"code":201},"stageTimestamp":"` + at(10) + `","responseObject":{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy",` +
			`"metadata":{"name":"db","namespace":"demo"},"spec":{"tier":"default","selector":"app == 'db'","types":["Ingress"],"ingress":[{"action":"Allow"}]}}}`,
		// Refused, dry-run, read-only and other resources change nothing.
		`{"verb":"create","stage":"ResponseComplete","requestURI":"/apis/projectcalico.org/v3/namespaces/demo/networkpolicies?dryRun=All","objectRef":{"resource":"networkpolicies","namespace":"demo","name":"probe","apiGroup":"projectcalico.org","apiVersion":"v3"},` +
			`"responseStatus":{"code":201},"stageTimestamp":"` + at(15) + `","responseObject":{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy",` +
			`"metadata":{"name":"probe","namespace":"demo"},"spec":{"tier":"default","selector":"all()","types":["Egress"],"egress":[{"action":"Allow"}]}}}`,
		`{"verb":"delete","stage":"ResponseComplete","objectRef":{"resource":"networkpolicies","namespace":"demo","name":"db","apiGroup":"projectcalico.org"},"responseStatus":{"code":403},"stageTimestamp":"` + at(20) + `"}`,
		`{"verb":"delete","stage":"ResponseComplete","requestURI":"/apis/projectcalico.org/v3/namespaces/demo/networkpolicies/db","objectRef":{"resource":"networkpolicies","namespace":"demo","name":"db","apiGroup":"projectcalico.org"},` +
			`"requestObject":{"kind":"DeleteOptions","apiVersion":"meta.k8s.io/v1","dryRun":["All"]},"responseStatus":{"code":200},"stageTimestamp":"` + at(20) + `"}`,
		`{"verb":"get","stage":"ResponseComplete","objectRef":{"resource":"pods","namespace":"demo","name":"db-0"},"stageTimestamp":"` + at(21) + `"}`,
		`{"verb":"create","stage":"ResponseComplete","objectRef":{"resource":"configmaps","namespace":"demo","name":"x"},"responseStatus":{"code":201},"stageTimestamp":"` + at(22) + `","responseObject":{}}`,
	}
	var changes []replay.Change
	for _, e := range events {
		c, ok, err := Change([]byte(e))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			changes = append(changes, c)
		}
	}
	if len(changes) != 1 {
		t.Fatalf("%d changes, want the create only", len(changes))
	}
	got, err := replay.Run(initial, changes, t0, t0.Add(time.Hour), replay.Scope{}, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("%+v %v", got, err)
	}
	if db := got[0]; db.IngressProtected || !db.EgressProtected || len(db.AppliedPolicies) != 2 || !db.IngressFromInternet {
		t.Errorf("db over the hour: %+v", db)
	}
	// From the create on, db is protected.
	got, _ = replay.Run(initial, changes, t0.Add(15*time.Minute), t0.Add(time.Hour), replay.Scope{}, nil)
	if !got[0].IngressProtected {
		t.Errorf("db after the policy was created: %+v", got[0])
	}
	// A delete removes it again.
	del, ok, err := Change([]byte(`{"verb":"delete","stage":"ResponseComplete","objectRef":{"resource":"networkpolicies","namespace":"demo","name":"db","apiGroup":"projectcalico.org"},` +
		`"responseStatus":{"code":200},"stageTimestamp":"` + at(30) + `"}`))
	if err != nil || !ok || !del.Deleted {
		t.Fatalf("delete: %+v %v %v", del, ok, err)
	}
	got, _ = replay.Run(initial, append(changes, del), t0.Add(15*time.Minute), t0.Add(time.Hour), replay.Scope{}, nil)
	if got[0].IngressProtected {
		t.Errorf("db with its policy deleted half-way: %+v", got[0])
	}
}
