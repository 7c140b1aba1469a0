package baseline

import (
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/driftguard/driftguard/internal/input"
)

// Keeper is the input.BaselineLookup of serve --cluster.
var _ input.BaselineLookup = (*Keeper)(nil)

func TestKeeperDependentsAreInputNeeds(t *testing.T) {
	k := &Keeper{}
	if got := k.Dependents("ClusterRole", "", "argo"); got != nil {
		t.Fatalf("before the first refresh: %v, want nil", got)
	}
	k.index.Store(BuildIndex(argoNeeds, RBAC{
		ClusterRoles:        []rbacv1.ClusterRole{cr("argo", workflows)},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("argo", "argo", argoSA)},
	}))
	// sorted by text: list before watch
	want := []input.BaselineNeed{
		{ServiceAccount: "kubeflow/argo", Verb: "list", Group: "argoproj.io", Resource: "workflows",
			Text: "list workflows.argoproj.io cluster-wide for kubeflow/argo"},
		{ServiceAccount: "kubeflow/argo", Verb: "watch", Group: "argoproj.io", Resource: "workflows",
			Text: "watch workflows.argoproj.io cluster-wide for kubeflow/argo"},
	}
	if got := k.Dependents("ClusterRole", "", "argo"); !reflect.DeepEqual(got, want) {
		t.Errorf("Dependents = %#v\nwant %#v", got, want)
	}
	if got := k.Dependents("ClusterRole", "", "other"); got != nil {
		t.Errorf("an object nothing depends on: %v, want nil", got)
	}
}
