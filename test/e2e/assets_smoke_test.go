//go:build e2e

// Package e2e holds end-to-end tests that run against a real kube-apiserver
// and etcd started by envtest. The binaries come from hack/e2e-assets.sh:
//
//	KUBEBUILDER_ASSETS=$(hack/e2e-assets.sh) go test -tags e2e ./test/e2e/ -v
package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// expectedKubeVersion is the kube-apiserver version pinned in tools/go.mod.
const expectedKubeVersion = "v1.37.2"

// TestAssetsSmoke starts a real control plane from KUBEBUILDER_ASSETS and
// checks that it is the pinned Kubernetes version.
func TestAssetsSmoke(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set; run: KUBEBUILDER_ASSETS=$(hack/e2e-assets.sh) go test -tags e2e ./test/e2e/")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			t.Fatalf("missing %s in KUBEBUILDER_ASSETS=%s (run hack/e2e-assets.sh): %v", bin, assets, err)
		}
	}

	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		// Cold starts on small CI machines can exceed envtest's 20s default.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest control plane: %v", err)
		}
	})

	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatalf("discovery client: %v", err)
	}
	info, err := dc.ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	t.Logf("server version: %s (major=%s minor=%s commit=%s built=%s)",
		info.GitVersion, info.Major, info.Minor, info.GitCommit, info.BuildDate)
	if info.GitVersion != expectedKubeVersion {
		t.Errorf("server gitVersion = %q, want %q", info.GitVersion, expectedKubeVersion)
	}
	if info.Major != "1" || info.Minor != "37" {
		t.Errorf("server major/minor = %q/%q, want 1/37", info.Major, info.Minor)
	}

	// The apps/v1 group must be served (the webhook's fixtures rely on it).
	if _, err := dc.ServerResourcesForGroupVersion("apps/v1"); err != nil {
		t.Errorf("apps/v1 not served: %v", err)
	}
}
