// Package typhatest has what Typha's tests share: generated syncer values
// and a recorder of what a syncer consumer was told.
package typhatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/pki"
	"github.com/calicong/calico/internal/poll"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

// WEP returns workload endpoint i of a synthetic cluster (namespace
// ns-<i%ns>, node node-<i%nodes>), labelled with gen so a new gen is a
// real change.
func WEP(i, namespaces, nodes int, gen string, rev int) model.Update {
	ns := fmt.Sprintf("ns-%d", i%namespaces)
	node := fmt.Sprintf("node-%d", i%nodes)
	pod := fmt.Sprintf("pod-%d", i)
	name := node + "-k8s-" + pod + "-eth0"
	w := &v3.WorkloadEndpoint{
		TypeMeta: metav1.TypeMeta{Kind: "WorkloadEndpoint", APIVersion: v3.SchemeGroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, ResourceVersion: fmt.Sprint(rev),
			Labels: map[string]string{
				"app": fmt.Sprintf("app-%d", i%50), "tier": []string{"web", "api", "db"}[i%3], "gen": gen,
				v3.LabelNamespace: ns, v3.LabelOrchestrator: v3.OrchestratorKubernetes, v3.LabelServiceAccount: "default",
			}},
		Spec: v3.WorkloadEndpointSpec{
			Orchestrator: v3.OrchestratorKubernetes, Node: node, Pod: pod, Endpoint: "eth0",
			ServiceAccountName: "default",
			Profiles:           []string{"kns." + ns, "ksa." + ns + ".default"},
			InterfaceName:      fmt.Sprintf("cali%011x", i),
			IPNetworks:         []string{fmt.Sprintf("10.%d.%d.%d/32", (i>>16)&255, (i>>8)&255, i&255)},
		},
	}
	return model.Update{KVPair: model.KVPair{Key: model.Key{Kind: model.KindWorkloadEndpoint, Namespace: ns, Name: name}, Value: w, Revision: fmt.Sprint(rev)}, UpdateType: model.UpdateTypeUpdated}
}

// Delete is a delete of key.
func Delete(k model.Key, rev int) model.Update {
	return model.Update{KVPair: model.KVPair{Key: k, Revision: fmt.Sprint(rev)}, UpdateType: model.UpdateTypeDeleted}
}

// State is a consumer's view: key → value encoded without its
// resourceVersion (nil for a key sent without a value).
type State map[model.Key][]byte

// Apply applies updates to s.
func (s State) Apply(us []model.Update) {
	for _, u := range us {
		if u.UpdateType == model.UpdateTypeDeleted {
			delete(s, u.Key)
			continue
		}
		s[u.Key] = Canonical(u.Value)
	}
}

// Canonical is v's whole JSON but for its resourceVersion (nil for nil):
// what two consumers must agree on.
func Canonical(v any) []byte {
	if v == nil {
		return nil
	}
	if o, ok := v.(runtime.Object); ok {
		if _, err := meta.Accessor(o); err == nil {
			o = o.DeepCopyObject()
			m, _ := meta.Accessor(o)
			m.SetResourceVersion("")
			v = o
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Diff describes how s and o differ, "" when they are equal.
func (s State) Diff(o State) string {
	var out []string
	for k, v := range s {
		w, ok := o[k]
		switch {
		case !ok:
			out = append(out, "only left: "+k.String())
		case !bytes.Equal(v, w):
			out = append(out, fmt.Sprintf("differs: %s: %s vs %s", k, v, w))
		}
	}
	for k := range o {
		if _, ok := s[k]; !ok {
			out = append(out, "only right: "+k.String())
		}
	}
	sort.Strings(out)
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("… %d differences", len(out)))
	}
	return fmt.Sprint(out)[1 : len(fmt.Sprint(out))-1]
}

// Recorder is a syncer consumer that keeps what it was told.
type Recorder struct {
	mu       sync.Mutex
	state    State
	statuses []model.SyncStatus
	updates  int
	deletes  int
	perKey   map[model.Key]int
	queued   [][]model.Update
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{state: State{}, perKey: map[model.Key]int{}} }

func (r *Recorder) OnStatusUpdated(s model.SyncStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, s)
}

// OnUpdates keeps us, as a consumer that queues its updates would, and
// applies it later: a sender that reuses the slice is caught.
func (r *Recorder) OnUpdates(us []model.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queued = append(r.queued, us)
}

func (r *Recorder) applyLocked() {
	for _, us := range r.queued {
		r.apply(us)
	}
	r.queued = nil
}

func (r *Recorder) apply(us []model.Update) {
	for _, u := range us {
		r.updates++
		r.perKey[u.Key]++
		if u.UpdateType == model.UpdateTypeDeleted {
			r.deletes++
		}
	}
	r.state.Apply(us)
}

// State is a copy of the recorded state.
func (r *Recorder) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applyLocked()
	out := make(State, len(r.state))
	for k, v := range r.state {
		out[k] = v
	}
	return out
}

// Len is the number of keys recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applyLocked()
	return len(r.state)
}

// Statuses are the statuses in the order told.
func (r *Recorder) Statuses() []model.SyncStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]model.SyncStatus(nil), r.statuses...)
}

// Counts are the updates and deletes told so far.
func (r *Recorder) Counts() (updates, deletes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applyLocked()
	return r.updates, r.deletes
}

// UpdatesOf is the number of updates told for one key.
func (r *Recorder) UpdatesOf(k model.Key) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applyLocked()
	return r.perKey[k]
}

// Certs issues a certificate from ca into dir (name.crt, name.key, and
// the CA as ca.crt) and returns the files.
func Certs(t testing.TB, dir string, ca *pki.Authority, name string, req pki.Request) tlsauth.Files {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	f := tlsauth.Files{CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	for p, b := range map[string][]byte{f.CAFile: ca.CertPEM, f.CertFile: crt, f.KeyFile: key} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// Eventually is poll.Until for a condition that says what is still
// wrong ("" when nothing is): the failure carries its last answer.
func Eventually(t testing.TB, d time.Duration, cond func() string) {
	t.Helper()
	var why string
	poll.Until(t, d, "the condition", func() bool { why = cond(); return why == "" }, &why)
}
