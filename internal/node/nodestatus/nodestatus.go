// Package nodestatus fills in CalicoNodeStatus objects addressed to this
// node. An operator creates one naming a node, the classes of status it
// wants (Agent, BGP, Routes) and a period; the node rewrites the object's
// status every period with fresh figures and lastUpdated. A period of 0
// stops reporting; objects for other nodes are left alone.
//
// Where the figures come from is a Source: BIRD's state once BGP runs,
// the kernel's workload routes before that.
package nodestatus

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/calicong/calico/api/v3"
)

// DefaultPeriod is the reporting period when the object does not set one.
const DefaultPeriod = 10 * time.Second

// Source provides the figures for each class.
type Source interface {
	Agent(ctx context.Context) (v3.CalicoNodeAgentStatus, error)
	BGP(ctx context.Context) (v3.CalicoNodeBGPStatus, error)
	Routes(ctx context.Context) (v3.CalicoNodeBGPRouteStatus, error)
}

// Writer writes an object's status subresource (datastore.Client does).
type Writer interface {
	UpdateStatus(ctx context.Context, obj v3.Object) (v3.Object, error)
}

// Config assembles a reporter.
type Config struct {
	Node string
	// Informer watches CalicoNodeStatus objects; Run starts it.
	Informer cache.SharedIndexInformer
	Writer   Writer
	Source   Source
	// Conditions, if set, gives the node's conditions for every object
	// (their transition times are kept while their status stays).
	Conditions func() []metav1.Condition
	Log        *slog.Logger
	// RetryInterval is the wait after a failed write (default 1s).
	RetryInterval time.Duration
}

type entry struct {
	spec v3.CalicoNodeStatusSpec
	due  time.Time
}

// Run reports until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = time.Second
	}
	var (
		mu      sync.Mutex
		changed = map[string]bool{}
		signal  = make(chan struct{}, 1)
	)
	note := func(obj any) {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err != nil {
			return
		}
		mu.Lock()
		changed[key] = true
		mu.Unlock()
		select {
		case signal <- struct{}{}:
		default:
		}
	}
	if _, err := cfg.Informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    note,
		UpdateFunc: func(_, obj any) { note(obj) },
		DeleteFunc: note,
	}); err != nil {
		return err
	}
	go cfg.Informer.RunWithContext(ctx)

	entries := map[string]*entry{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-signal:
			mu.Lock()
			keys := changed
			changed = map[string]bool{}
			mu.Unlock()
			for key := range keys {
				cfg.track(entries, key)
			}
		case <-timer.C:
			now := time.Now()
			for key, e := range entries {
				if now.Before(e.due) {
					continue
				}
				if cfg.report(ctx, key) {
					e.due = now.Add(period(e.spec))
				} else {
					e.due = now.Add(cfg.RetryInterval)
				}
			}
		}
		// Wake for the earliest due entry.
		next := time.Hour
		for _, e := range entries {
			next = min(next, time.Until(e.due))
		}
		timer.Reset(max(next, 0))
	}
}

// track brings one object's schedule up to date with its stored version.
func (cfg Config) track(entries map[string]*entry, key string) {
	obj, ok, _ := cfg.Informer.GetStore().GetByKey(key)
	var st *v3.CalicoNodeStatus
	if ok {
		st, _ = obj.(*v3.CalicoNodeStatus)
	}
	if st == nil || st.Spec.Node != cfg.Node || period(st.Spec) == 0 {
		delete(entries, key)
		return
	}
	if e, ok := entries[key]; ok && reflect.DeepEqual(e.spec, st.Spec) {
		return // our own status write, or a change that does not matter
	}
	entries[key] = &entry{spec: *st.Spec.DeepCopy(), due: time.Now()}
}

func period(spec v3.CalicoNodeStatusSpec) time.Duration {
	if spec.UpdatePeriodSeconds == nil {
		return DefaultPeriod
	}
	return time.Duration(*spec.UpdatePeriodSeconds) * time.Second
}

// report writes one object's status; false means try again soon.
func (cfg Config) report(ctx context.Context, key string) bool {
	obj, ok, _ := cfg.Informer.GetStore().GetByKey(key)
	if !ok {
		return true
	}
	st := obj.(*v3.CalicoNodeStatus).DeepCopy()
	prev := st.Status.Conditions
	st.Status = Collect(ctx, cfg.Source, st.Spec.Classes, cfg.Log)
	if cfg.Conditions != nil {
		st.Status.Conditions = prev
		for _, c := range cfg.Conditions() {
			meta.SetStatusCondition(&st.Status.Conditions, c)
		}
	}
	if _, err := cfg.Writer.UpdateStatus(ctx, st); err != nil {
		// A conflict means the informer is about to bring the newer
		// version; either way, retry shortly.
		cfg.Log.Warn("cannot write CalicoNodeStatus", "name", st.Name, "err", err)
		return false
	}
	return true
}

// Collect gathers the requested classes; a class whose source fails is
// left empty (and logged), the others are still reported.
func Collect(ctx context.Context, src Source, classes []v3.NodeStatusClassType, log *slog.Logger) v3.CalicoNodeStatusStatus {
	out := v3.CalicoNodeStatusStatus{LastUpdated: metav1.Now()}
	for _, c := range classes {
		var err error
		switch c {
		case v3.NodeStatusClassTypeAgent:
			out.Agent, err = src.Agent(ctx)
		case v3.NodeStatusClassTypeBGP:
			out.BGP, err = src.BGP(ctx)
		case v3.NodeStatusClassTypeRoutes:
			out.Routes, err = src.Routes(ctx)
		}
		if err != nil && log != nil {
			log.Warn("cannot collect node status", "class", c, "err", err)
		}
	}
	return out
}
