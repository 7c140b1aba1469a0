package report

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/metrics"
)

// TestWriterWithoutCRDs: against a real kube-apiserver without the
// OpenReports CRDs (what the server's client meets), a pass is no error,
// the absence is logged once and the gauge is set. Needs KUBEBUILDER_ASSETS
// (hack/e2e-assets.sh); skipped without.
func TestWriterWithoutCRDs(t *testing.T) {
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
	sch := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	if err := AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: sch, Mapper: mapper})
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	m := metrics.New(prometheus.NewRegistry())
	w := &Writer{Client: c, Config: config.Default, Metrics: m,
		Log: funcr.New(func(_, args string) { logged = append(logged, args) }, funcr.Options{})}
	res := audit.Result{Findings: []audit.Finding{finding("default", "Deployment", "api", "spec.replicas")}}
	for range 2 {
		if err := w.Publish(context.Background(), res); err != nil {
			t.Fatalf("a pass without the CRDs failed: %v", err)
		}
	}
	n := 0
	for _, l := range logged {
		if strings.Contains(l, "not installed") {
			n++
		}
	}
	if n != 1 || testutil.ToFloat64(m.Reports.CRDMissing) != 1 {
		t.Fatalf("logged %d times %v, gauge %v", n, logged, testutil.ToFloat64(m.Reports.CRDMissing))
	}
}
