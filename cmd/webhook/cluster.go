package main

import (
	"context"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/driftguard/driftguard/internal/owners"
)

func newClusterParents(ctx context.Context, log logr.Logger) (*owners.ClusterLookup, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, err
	}
	log.Info("looking up controlling owners in the cluster", "host", cfg.Host)
	return owners.NewClusterLookup(ctx, cfg)
}
