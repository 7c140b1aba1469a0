package server

import (
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/baseline"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
	"github.com/driftguard/driftguard/internal/metrics"
	"github.com/driftguard/driftguard/internal/owners"
	"github.com/driftguard/driftguard/internal/report"
)

func restConfig() (*rest.Config, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("--cluster: no kubeconfig or in-cluster config: %w", err)
	}
	return cfg, nil
}

// newClusterParents looks controlling owners up in the manager's cache
// (shared with the audit and the permission baseline).
func newClusterParents(log logr.Logger, mgr ctrl.Manager) *owners.ClusterLookup {
	log.Info("looking up controlling owners in the cluster", "timeout", owners.ClusterTimeout)
	return owners.NewCachedLookup(mgr.GetCache())
}

// newScaleReader reads the parents of scale requests live (uncached):
// their managedFields say who owns spec.replicas.
func newScaleReader(log logr.Logger, cfg *rest.Config) (input.ScaleReader, error) {
	r, err := owners.NewLiveReader(cfg)
	if err != nil {
		return nil, err
	}
	log.Info("reading the parents of scale requests from the cluster", "timeout", r.Timeout)
	return r, nil
}

// newManager makes the controller-runtime manager that runs the drift
// audit (on the leader only when leader election is on) and the
// permission baseline (on every replica). It serves no metrics or probes
// of its own: driftguard's endpoints do.
func newManager(log logr.Logger, cfg *rest.Config, o Options) (ctrl.Manager, error) {
	ns := o.LeaderElectionNamespace
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if o.LeaderElect && ns == "" {
		return nil, fmt.Errorf("--leader-elect needs --leader-election-namespace or POD_NAMESPACE")
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        o.LeaderElectionID,
		LeaderElectionNamespace: ns,
		Logger:                  log.WithName("manager"),
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	return mgr, nil
}

// newKeeper makes the permission-baseline keeper; config comes from the
// serving state, read at each refresh.
func newKeeper(log logr.Logger, mgr ctrl.Manager, o Options, engine func() *admit.Engine, m *metrics.Metrics) *baseline.Keeper {
	return &baseline.Keeper{
		Reader:  mgr.GetCache(),
		Client:  mgr.GetClient(),
		Config:  func() *config.Config { return engine().State().Config },
		Metrics: m,
		Log:     log.WithName("baseline"),
		Interval: func() time.Duration {
			if o.AuditInterval > 0 {
				return o.AuditInterval
			}
			return 30 * time.Second
		}(),
	}
}

// addClusterLoops adds the audit and the baseline keeper to the manager
// (the lifecycle starts it).
func addClusterLoops(log logr.Logger, mgr ctrl.Manager, o Options, e *admit.Engine, k *baseline.Keeper, m *metrics.Metrics) error {
	if o.Audit {
		a := &audit.Auditor{Engine: e, Reader: mgr.GetCache(), Metrics: m, Log: log.WithName("audit"), Interval: o.AuditInterval}
		w, err := newReportWriter(log, mgr, e, k, m)
		if err != nil {
			return err
		}
		a.Publishers = append(a.Publishers, w)
		if w, src := newReverts(log, mgr, e, m); w != nil {
			a.Sources = append(a.Sources, src)
			if err := mgr.Add(w); err != nil {
				return err
			}
		}
		if err := mgr.Add(a); err != nil {
			return err
		}
	}
	return mgr.Add(k)
}

// newScheme is the manager's scheme: the built-in kinds and the
// OpenReports reports the audit writes.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := report.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// newReportWriter writes the audit's findings as OpenReports reports
// (audit.reports.enabled is read at each pass, so a reload turns them on
// or off). Its client is uncached: a cached one would watch every report
// in the cluster, other tools' too.
func newReportWriter(log logr.Logger, mgr ctrl.Manager, e *admit.Engine, k *baseline.Keeper, m *metrics.Metrics) (*report.Writer, error) {
	c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("reports client: %w", err)
	}
	return &report.Writer{
		Client:  c,
		Config:  func() *config.Config { return e.State().Config },
		Gaps:    k.Gaps,
		Metrics: m,
		Log:     log.WithName("reports"),
	}, nil
}
