package input

import (
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// baselineIndex is a BaselineLookup keyed by kind/namespace/name.
type baselineIndex map[string][]BaselineNeed

func (x baselineIndex) Dependents(kind, namespace, name string) []BaselineNeed {
	return x[kind+"/"+namespace+"/"+name]
}

func TestBaselineNeedsOfAnRBACObject(t *testing.T) {
	need := BaselineNeed{ServiceAccount: "argocd/app-controller", Verb: "get", Group: "apps", Resource: "deployments",
		Namespace: "tenant-a", Text: "get deployments.apps in tenant-a for argocd/app-controller"}
	b := defaultBuilder(nil).WithBaseline(baselineIndex{"RoleBinding/tenant-a/argocd": {need}})
	rb := metav1.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"}
	in := build(t, b, request{op: admissionv1.Delete, gvk: rb, ns: "tenant-a", name: "argocd", user: alice,
		old: `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"argocd","namespace":"tenant-a"}}`})
	want := []any{map[string]any{"serviceAccount": "argocd/app-controller", "verb": "get", "group": "apps",
		"resource": "deployments", "namespace": "tenant-a", "text": "get deployments.apps in tenant-a for argocd/app-controller"}}
	if got := in.Doc["baseline"]; !reflect.DeepEqual(got, want) {
		t.Errorf("input.baseline = %#v\nwant %#v", got, want)
	}
	// an RBAC object no need depends on: no baseline
	other := build(t, b, request{op: admissionv1.Delete, gvk: rb, ns: "tenant-a", name: "other", user: alice,
		old: `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"other","namespace":"tenant-a"}}`})
	if got, ok := other.Doc["baseline"]; ok {
		t.Errorf("input.baseline of an object no need depends on = %#v, want none", got)
	}
}

// Building input is the pure request -> document step: it must not drag
// in a cluster client (the permission baseline and owner lookups are
// given to it as interfaces).
func TestInputNeedsNoClusterClient(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go not on PATH: cannot list the package's dependencies")
	}
	out, err := exec.CommandContext(context.Background(), "go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !strings.Contains(string(out), "k8s.io/api/admission/v1") {
		t.Fatalf("go list -deps listed %d packages, without k8s.io/api/admission/v1: not this package's dependencies?\n%s", len(deps), out)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "sigs.k8s.io/controller-runtime") || strings.HasSuffix(d, "/internal/baseline") || strings.HasPrefix(d, "k8s.io/client-go") {
			t.Errorf("internal/input depends on %s", d)
		}
	}
}
