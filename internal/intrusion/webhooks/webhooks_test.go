package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/intrusion/events"
	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/linseed/linseedtest"
	"github.com/calicong/calico/internal/poll"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// receiver counts deliveries by event ID; while failing it answers 500.
type receiver struct {
	mu      sync.Mutex
	got     map[string]int
	types   map[string]int
	failing bool
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var e events.Event
	if err := json.NewDecoder(req.Body).Decode(&e); err != nil || e.ID == "" {
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		http.Error(w, "receiver down", http.StatusInternalServerError)
		return
	}
	r.got[e.ID]++
	r.types[e.Type]++
}

func (r *receiver) count() (ids, deliveries int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.got {
		ids, deliveries = ids+1, deliveries+n
	}
	return ids, deliveries
}

// TestDeliveryOnceInOrder: a Generic webhook gets each event its query
// selects once; a failing receiver is a status condition and the event
// is retried until it is taken; a new controller (a restart) goes on
// where the last stopped, sending nothing twice.
func TestDeliveryOnceInOrder(t *testing.T) {
	ctx := context.Background()
	c := testLab.Client
	ls := linseedtest.New(t)
	rcv := &receiver{got: map[string]int{}, types: map[string]int{}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	wh := &v3.SecurityEventWebhook{ObjectMeta: metav1.ObjectMeta{Name: "hook"}, Spec: v3.SecurityEventWebhookSpec{
		Consumer: Generic, State: "Enabled", Query: `type = "gtf_suspicious_flow"`,
		Config: []v3.SecurityEventWebhookConfigVar{{Name: "url", Value: hs.URL + "/in"}}}}
	if _, err := c.Create(ctx, wh); err != nil {
		t.Fatal(err)
	}
	defer c.Delete(ctx, webhookKind, "", "hook", nil)
	// A webhook in Debug: its events are logged, not sent.
	dbg := &v3.SecurityEventWebhook{ObjectMeta: metav1.ObjectMeta{Name: "debug-hook"}, Spec: v3.SecurityEventWebhookSpec{
		Consumer: Generic, State: "Debug", Query: `type = "global_alert"`,
		Config: []v3.SecurityEventWebhookConfigVar{{Name: "url", Value: hs.URL + "/debug"}}}}
	if _, err := c.Create(ctx, dbg); err != nil {
		t.Fatal(err)
	}
	defer c.Delete(ctx, webhookKind, "", "debug-hook", nil)
	writer := &events.Writer{Linseed: ls}
	write := func(n int, typ string) {
		t.Helper()
		var evs []events.Event
		for range n {
			id := fmt.Sprint(time.Now().UnixNano())
			evs = append(evs, events.Event{ID: events.ID(id), Time: time.Now().Unix(), Type: typ, Origin: "test", Severity: 10, Description: id})
		}
		if _, err := writer.Write(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	start := func() func() {
		cctx, cancel := context.WithCancel(ctx)
		ctl := &Controller{Client: c, Linseed: ls, Namespace: "default", Poll: 100 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = ctl.Run(cctx)
		}()
		return func() { cancel(); <-done }
	}
	stop := start()
	write(3, events.TypeSuspiciousFlow)
	write(2, events.TypeGlobalAlert) // not selected
	poll.Until(t, 20*time.Second, "3 deliveries", func() bool { ids, _ := rcv.count(); return ids == 3 })
	poll.Until(t, 20*time.Second, "the Debug webhook to go past its events", func() bool {
		o, err := c.Get(ctx, webhookKind, "", "debug-hook")
		return err == nil && o.(*v3.SecurityEventWebhook).Status.DeliveredUpTo > 0
	})

	// The receiver fails: the webhook's status says so, and the event
	// arrives once it recovers.
	rcv.mu.Lock()
	rcv.failing = true
	rcv.mu.Unlock()
	write(1, events.TypeSuspiciousFlow)
	poll.Until(t, 20*time.Second, "a Ready=False condition", func() bool {
		o, err := c.Get(ctx, webhookKind, "", "hook")
		if err != nil {
			return false
		}
		cs := o.(*v3.SecurityEventWebhook).Status.Conditions
		return len(cs) == 1 && cs[0].Status == metav1.ConditionFalse && cs[0].Reason == "DeliveryFailed"
	})
	rcv.mu.Lock()
	rcv.failing = false
	rcv.mu.Unlock()
	poll.Until(t, 20*time.Second, "the retried delivery", func() bool { ids, _ := rcv.count(); return ids == 4 })
	stop()

	// Restarted: only what is new.
	write(2, events.TypeSuspiciousFlow)
	stop = start()
	defer stop()
	poll.Until(t, 20*time.Second, "the new events after a restart", func() bool { ids, _ := rcv.count(); return ids == 6 })
	if ids, n := rcv.count(); n != ids {
		t.Errorf("%d deliveries of %d events: some twice", n, ids)
	}
	rcv.mu.Lock()
	if n := rcv.types[events.TypeGlobalAlert]; n != 0 {
		t.Errorf("the Debug webhook sent %d events", n)
	}
	rcv.mu.Unlock()
	o, err := c.Get(ctx, webhookKind, "", "hook")
	if err != nil {
		t.Fatal(err)
	}
	if st := o.(*v3.SecurityEventWebhook).Status; st.DeliveredUpTo == 0 || st.LastDelivery == nil || st.Conditions[0].Status != metav1.ConditionTrue {
		t.Errorf("status after delivery: %+v", st)
	}
}
