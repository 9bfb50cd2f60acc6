package main

import (
	"context"
	"log/slog"
	"reflect"
	"time"

	"k8s.io/client-go/tools/cache"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/kubecontrollers/kcconfig"
)

// follower watches KubeControllersConfiguration "default" and, on the
// leader, runs the controllers it asks for, restarting them when it
// changes.
type follower struct {
	c        *datastore.Client
	kind     v3.KindInfo
	env      string
	log      *slog.Logger
	informer cache.SharedIndexInformer
	changed  chan struct{}
}

func newFollower(c *datastore.Client, env string, log *slog.Logger) *follower {
	kind, _ := v3.KindFor("KubeControllersConfiguration")
	f := &follower{c: c, kind: kind, env: env, log: log, informer: c.NewInformer(kind, "", 0), changed: make(chan struct{}, 1)}
	poke := func() {
		select {
		case f.changed <- struct{}{}:
		default:
		}
	}
	_, _ = f.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { poke() }, UpdateFunc: func(_, _ any) { poke() }, DeleteFunc: func(any) { poke() },
	})
	return f
}

// lead runs the controllers until ctx ends (leadership lost or shutdown).
func (f *follower) lead(ctx context.Context, d *deps) {
	if !cache.WaitForCacheSync(ctx.Done(), f.informer.HasSynced) {
		return
	}
	var (
		running *kcconfig.Settings
		cancel  context.CancelFunc
		done    chan struct{}
	)
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
		}
	}
	defer stop()
	apply := func() {
		obj, ok, _ := f.informer.GetStore().GetByKey(v3.DefaultConfigName)
		if !ok {
			f.createDefault(ctx)
			if running != nil {
				return // the new object's event brings its settings
			}
			obj = &v3.KubeControllersConfiguration{Spec: kcconfig.DefaultSpec()}
		}
		cfg := obj.(*v3.KubeControllersConfiguration)
		s, err := kcconfig.Resolve(cfg.Spec, f.env)
		if err != nil {
			if running != nil {
				f.log.Error("KubeControllersConfiguration default is not valid; the controllers keep their settings", "err", err)
				return
			}
			f.log.Error("KubeControllersConfiguration default is not valid; running with the defaults", "err", err)
			s, _ = kcconfig.Resolve(kcconfig.DefaultSpec(), f.env)
		}
		if running == nil || !running.Equal(s) {
			if running != nil {
				f.log.Info("KubeControllersConfiguration changed; restarting the controllers with the new settings")
			}
			stop()
			f.log.Info("running controllers", "settings", s.String())
			var runCtx context.Context
			runCtx, cancel = context.WithCancel(ctx)
			done = make(chan struct{})
			go func() { defer close(done); runControllers(runCtx, d, s) }()
			running = &s
		}
		if ok {
			f.writeStatus(ctx, cfg, s)
		}
	}
	apply()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.changed:
		case <-time.After(time.Minute):
		}
		apply()
	}
}

// createDefault writes the default configuration, as Calico does when
// there is none.
func (f *follower) createDefault(ctx context.Context) {
	cfg := f.kind.New().(*v3.KubeControllersConfiguration)
	cfg.Name, cfg.Spec = v3.DefaultConfigName, kcconfig.DefaultSpec()
	v3.Default(cfg)
	if _, err := f.c.Create(ctx, cfg); err != nil && !datastore.IsAlreadyExists(err) {
		f.log.Warn("creating the default KubeControllersConfiguration", "err", err)
		return
	}
	f.log.Info("created the default KubeControllersConfiguration")
}

// writeStatus records the running settings in status.runningConfig (and
// ENABLED_CONTROLLERS in status.environmentVars) when they differ.
func (f *follower) writeStatus(ctx context.Context, cfg *v3.KubeControllersConfiguration, s kcconfig.Settings) {
	want := v3.KubeControllersConfigurationStatus{RunningConfig: s.RunningSpec()}
	if f.env != "" {
		want.EnvironmentVars = map[string]string{"ENABLED_CONTROLLERS": f.env}
	}
	if reflect.DeepEqual(cfg.Status, want) {
		return
	}
	out := cfg.DeepCopy()
	out.Status = want
	if _, err := f.c.UpdateStatus(ctx, out); err != nil && !datastore.IsConflict(err) {
		f.log.Warn("writing KubeControllersConfiguration status", "err", err)
	}
}
