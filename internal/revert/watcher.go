package revert

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// Watcher feeds a Detector the updates of the audited kinds from the
// manager's informers (the ones the audit lists from) and hands each
// revert to OnRevert. It runs on the audit leader only.
type Watcher struct {
	Informers cache.Informers
	// Kinds are the kinds watched (the audit's kinds whose bodies are
	// cached: a metadata-only informer has no spec to compare).
	Kinds    []schema.GroupVersionKind
	Detector *Detector
	OnRevert func(ctx context.Context, r Revert)
	Log      logr.Logger
	// SweepEvery resolves expired edits when updates stop (default 10s).
	SweepEvery time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Window, when set, is read before each sweep (config reloads).
	Window func() time.Duration
	// Tracked, when set, is told the number of tracked edits after each
	// sweep.
	Tracked func(n int)
}

// NeedLeaderElection: one detector per cluster, beside the audit.
func (w *Watcher) NeedLeaderElection() bool { return true }

// Start registers the update handlers and sweeps until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	now := w.Now
	if now == nil {
		now = time.Now
	}
	unregister, err := w.register(ctx, now)
	defer unregister()
	if err != nil {
		return err
	}
	every := w.SweepEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if w.Window != nil {
				w.Detector.SetWindow(w.Window())
			}
			w.Detector.Sweep(now())
			if w.Tracked != nil {
				w.Tracked(w.Detector.Tracked())
			}
		}
	}
}

// register adds the update handlers; unregister removes them.
func (w *Watcher) register(ctx context.Context, now func() time.Time) (unregister func(), err error) {
	var regs []func()
	unregister = func() {
		for _, r := range regs {
			r()
		}
	}
	for _, gvk := range w.Kinds {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		inf, err := w.Informers.GetInformer(ctx, u)
		if err != nil {
			return unregister, fmt.Errorf("revert detection: informer for %s: %w", gvk, err)
		}
		h, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			UpdateFunc: func(oldObj, newObj any) {
				o, ok1 := oldObj.(*unstructured.Unstructured)
				n, ok2 := newObj.(*unstructured.Unstructured)
				if !ok1 || !ok2 {
					return
				}
				for _, r := range w.Detector.Observe(ctx, o.Object, n.Object, now()) {
					if w.OnRevert != nil {
						w.OnRevert(ctx, r)
					}
				}
			},
		})
		if err != nil {
			return unregister, fmt.Errorf("revert detection: handler for %s: %w", gvk, err)
		}
		regs = append(regs, func() { _ = inf.RemoveEventHandler(h) })
	}
	return unregister, nil
}
