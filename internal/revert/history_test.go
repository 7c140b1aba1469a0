package revert

import (
	"testing"

	"github.com/driftguard/driftguard/internal/audit"
)

func TestHistoryFromFindings(t *testing.T) {
	h := &History{}
	obj := audit.Ref{Kind: "Deployment", Namespace: "admin", Name: "ui"}
	h.SetNamespace("admin", []audit.Finding{
		{Object: obj, Policy: FindingPolicy, Field: imageField, Owner: "metacontroller,acme", Count: 3},
		{Object: obj, Policy: "owned_fields", Field: "spec.replicas", Owner: "terraform"},
	})
	got := h.Reverts("admin", "Deployment", "ui")
	if len(got) != 1 || got[0].Field != imageField || got[0].Count != 3 || len(got[0].By) != 2 {
		t.Fatalf("reverts %+v", got)
	}
	if got := h.Reverts("admin", "Deployment", "other"); len(got) != 0 {
		t.Fatalf("another object's reverts %+v", got)
	}
	h.SetNamespace("admin", nil)
	if got := h.Reverts("admin", "Deployment", "ui"); len(got) != 0 {
		t.Fatalf("reverts after the report went away: %+v", got)
	}
}
