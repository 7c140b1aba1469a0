package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/metrics"
	"github.com/driftguard/driftguard/internal/owners"
)

type clusterFlags struct {
	audit         bool
	auditInterval time.Duration
	leaderElect   bool
	leaseNS       string
}

func restConfig() (*rest.Config, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("--cluster: no kubeconfig or in-cluster config: %w", err)
	}
	return cfg, nil
}

func newClusterParents(ctx context.Context, log logr.Logger, cfg *rest.Config) (*owners.ClusterLookup, error) {
	log.Info("looking up controlling owners in the cluster", "host", cfg.Host)
	return owners.NewClusterLookup(ctx, cfg)
}

// startAudit runs the drift audit in a controller-runtime manager, on the
// leader only when leader election is on. The manager serves no metrics
// or probes of its own: driftguard's endpoints do.
func startAudit(ctx context.Context, log logr.Logger, cfg *rest.Config, f clusterFlags, e *admit.Engine, m *metrics.Metrics) error {
	ns := f.leaseNS
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if f.leaderElect && ns == "" {
		return fmt.Errorf("--leader-elect needs --leader-election-namespace or POD_NAMESPACE")
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          f.leaderElect,
		LeaderElectionID:        "driftguard-audit",
		LeaderElectionNamespace: ns,
		Logger:                  log.WithName("audit-manager"),
	})
	if err != nil {
		return fmt.Errorf("audit manager: %w", err)
	}
	a := &audit.Auditor{Engine: e, Reader: mgr.GetCache(), Metrics: m, Log: log.WithName("audit"), Interval: f.auditInterval}
	if err := mgr.Add(a); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			log.Error(err, "audit manager stopped")
		}
	}()
	log.Info("drift audit started", "leaderElection", f.leaderElect)
	return nil
}
