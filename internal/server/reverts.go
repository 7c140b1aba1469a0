package server

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/metrics"
	"github.com/driftguard/driftguard/internal/report"
	"github.com/driftguard/driftguard/internal/revert"
)

// revertRetain is how long an observed revert stays a report finding.
const revertRetain = time.Hour

// newReverts makes the revert watcher of the audit leader (nil when
// audit.reverts.enabled is false) and the source of its findings. The
// bound, kinds and reverters are read from the config at start, the
// window at every sweep.
func newReverts(log logr.Logger, mgr ctrl.Manager, e *admit.Engine, m *metrics.Metrics) (*revert.Watcher, audit.FindingSource) {
	cfg := e.State().Config
	rc := cfg.Audit.Reverts
	if !rc.On() {
		return nil, nil
	}
	var kinds []schema.GroupVersionKind
	for _, k := range cfg.Audit.Kinds {
		if !k.MetadataOnly { // a metadata-only informer has no values to compare
			kinds = append(kinds, schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind})
		}
	}
	labels := newRevertLabels(rc.Reverters, cfg.Audit.MaxNamespaceLabels)
	recent := &revert.Recent{Retain: revertRetain, Max: 1000}
	outcome := func(o revert.Outcome, _ revert.Ref, _ string) {
		if m != nil {
			m.Reverts.Predictions.WithLabelValues(string(o)).Inc()
		}
	}
	isOwner := func(manager string) bool {
		for _, o := range cfg.Owners {
			for _, m := range o.Managers {
				if config.ManagerMatches(m, manager) {
					return true
				}
			}
		}
		return false
	}
	d := revert.New(revert.Options{Window: rc.Window.Duration, MaxTracked: rc.MaxTracked, HandEditManagers: cfg.HandEditManagers, IsOwner: isOwner},
		revert.EnginePredictor(e), outcome)
	log = log.WithName("reverts")
	w := &revert.Watcher{
		Informers: mgr.GetCache(), Kinds: kinds, Detector: d, Log: log,
		OnRevert: func(_ context.Context, r revert.Revert) {
			st := e.State()
			msg, suggestion := revert.Message(r), ""
			if r.Predicted == "" {
				suggestion = revert.Suggest(st.Config, r)
				msg += ". Config that would have predicted it: " + suggestion
			}
			recent.Add(r, time.Now(), msg)
			// the Trail's recorder is set before the manager starts
			if e.Trail != nil && e.Trail.Events != nil {
				e.Trail.Events.Emit(admit.Event{
					Regarding: corev1.ObjectReference{APIVersion: r.Object.APIVersion, Kind: r.Object.Kind,
						Namespace: r.Object.Namespace, Name: r.Object.Name, UID: types.UID(r.Object.UID)},
					Type: corev1.EventTypeWarning, Reason: revert.EventReason, Action: "Reverted", Note: msg,
				})
			}
			if m != nil {
				ns, reverter := labels.of(r.Object.Namespace, r.RevertedBy)
				m.Reverts.Observed.WithLabelValues(ns, admit.KindLabel(st, r.Object.Kind), reverter,
					strconv.FormatBool(r.Predicted != ""), strconv.FormatBool(r.OlderImage)).Inc()
			}
			log.Info("revert observed", "kind", r.Object.Kind, "namespace", r.Object.Namespace, "name", r.Object.Name,
				"field", r.Field, "editedBy", r.EditedBy, "revertedBy", r.RevertedBy, "after", r.After.Round(time.Millisecond).String(),
				"predicted", r.Predicted, "olderImage", r.OlderImage, "suggestion", suggestion)
		},
		Window: func() time.Duration { return e.State().Config.Audit.Reverts.Window.Duration },
		Tracked: func(n int) {
			if m != nil {
				m.Reverts.Tracked.Set(float64(n))
			}
		},
	}
	log.Info("revert detection on", "window", rc.Window.Duration.String(), "maxTracked", rc.MaxTracked, "kinds", len(kinds))
	return w, recent
}

// revertLabels bounds the namespace and reverter label values of
// driftguard_reverts_total.
type revertLabels struct {
	mu        sync.Mutex
	reverters map[string]string // folded -> as configured
	ns        map[string]bool
	maxNS     int
}

func newRevertLabels(reverters []string, maxNS int) *revertLabels {
	l := &revertLabels{reverters: map[string]string{}, ns: map[string]bool{}, maxNS: maxNS}
	for _, r := range reverters {
		l.reverters[config.FoldManager(r)] = r
	}
	return l
}

func (l *revertLabels) of(ns, reverter string) (string, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ns[ns] {
		if len(l.ns) >= l.maxNS {
			ns = audit.OtherNamespace
		} else {
			l.ns[ns] = true
		}
	}
	r, ok := l.reverters[config.FoldManager(reverter)]
	if !ok {
		r = "other"
	}
	return ns, r
}

// revertHistory feeds the History behind input.reverts from driftguard's
// Reports (every replica: each answers its own reviews). It runs a cache
// of its own that holds only Reports labelled as driftguard's, so other
// tools' reports (which can be many and large) never fill its memory, and
// so that the manager starts whether or not the OpenReports CRDs exist.
// Without them there is no history, and admission works as before.
type revertHistory struct {
	mgr     ctrl.Manager
	history *revert.History
	log     logr.Logger
}

func (h *revertHistory) NeedLeaderElection() bool { return false }

func (h *revertHistory) Start(ctx context.Context) error {
	c, err := cache.New(h.mgr.GetConfig(), cache.Options{
		Scheme: h.mgr.GetScheme(), Mapper: h.mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{
			&orv1.Report{}: {Label: labels.SelectorFromSet(labels.Set{report.ManagedByLabel: report.ManagedBy})},
		},
	})
	if err == nil {
		var inf cache.Informer
		if inf, err = c.GetInformer(ctx, &orv1.Report{}); err == nil {
			return h.run(ctx, c, inf)
		}
	}
	h.log.Info("no revert history for admission warnings: the OpenReports Report kind is not served", "error", err.Error())
	return nil
}

func (h *revertHistory) run(ctx context.Context, c cache.Cache, inf cache.Informer) error {
	go func() {
		if err := c.Start(ctx); err != nil && ctx.Err() == nil {
			h.log.Error(err, "revert history cache stopped")
		}
	}()
	set := func(obj any) {
		rep, ok := obj.(*orv1.Report)
		if !ok || rep.Name != report.Name {
			return
		}
		var fs []audit.Finding
		for _, r := range rep.Results {
			if f, ok := report.FindingOf(r); ok && f.Policy == revert.FindingPolicy {
				fs = append(fs, f)
			}
		}
		h.history.SetNamespace(rep.Namespace, fs)
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { set(o) },
		UpdateFunc: func(_, o any) { set(o) },
		DeleteFunc: func(o any) {
			if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if rep, ok := o.(*orv1.Report); ok && rep.Name == report.Name {
				h.history.SetNamespace(rep.Namespace, nil)
			}
		},
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	_ = inf.RemoveEventHandler(reg)
	return nil
}
