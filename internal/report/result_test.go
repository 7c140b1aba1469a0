package report

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftguard/driftguard/internal/audit"
)

func TestResultRoundTrip(t *testing.T) {
	f := audit.Finding{
		Object: audit.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "tenant-a", Name: "api", UID: "u1"},
		Policy: "owned_fields", Field: "spec.replicas", Owner: "terraform", Msg: "spec.replicas is owned by kubectl-edit",
	}
	r := ResultOf(f, metav1.Timestamp{Seconds: 100})
	if r.Source != Source || r.Result != "fail" || r.Timestamp.Seconds != 100 || r.Severity == "" {
		t.Fatalf("result %+v", r)
	}
	back, ok := FindingOf(r)
	if !ok || back != f {
		t.Fatalf("read back %+v (ok %v), want %+v", back, ok, f)
	}
	f.Policy, f.Count = "observed_revert", 3
	if back, ok := FindingOf(ResultOf(f, metav1.Timestamp{})); !ok || back != f {
		t.Fatalf("a revert finding read back as %+v (ok %v), want %+v", back, ok, f)
	}
	r.Source = "kyverno"
	if _, ok := FindingOf(r); ok {
		t.Fatal("another engine's result read as driftguard's")
	}
}
