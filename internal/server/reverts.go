package server

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/metrics"
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
	d := revert.New(revert.Options{Window: rc.Window.Duration, MaxTracked: rc.MaxTracked, HandEditManagers: cfg.HandEditManagers},
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
