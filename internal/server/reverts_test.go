package server

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/driftguard/driftguard/internal/revert"
)

// Without the OpenReports CRDs the manager still starts and the revert
// history says so and stays empty (admission goes on without it).
func TestRevertHistoryWithoutReportCRDs(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: run with KUBEBUILDER_ASSETS=$(hack/e2e-assets.sh | tail -n1)")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	mgr, err := newManager(logr.Discard(), cfg, Options{})
	if err != nil {
		t.Fatalf("the manager does not start without the OpenReports CRDs: %v", err)
	}
	h := &revertHistory{mgr: mgr, history: &revert.History{}, log: logr.Discard()}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Start(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("revert history without the CRDs: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the revert history waits for a kind that is not served")
	}
}
