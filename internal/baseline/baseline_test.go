package baseline

import (
	"fmt"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftguard/driftguard/internal/config"
)

var argoNeeds = Needs(&config.Config{PermissionBaseline: []config.Baseline{{
	ServiceAccount: "kubeflow/argo",
	Permissions:    []config.Permission{{Verbs: []string{"list", "watch"}, Group: "argoproj.io", Resource: "workflows"}},
}}})

func crb(name, role string, subjects ...rbacv1.Subject) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: role}, Subjects: subjects}
}

func cr(name string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

var (
	argoSA    = rbacv1.Subject{Kind: "ServiceAccount", Namespace: "kubeflow", Name: "argo"}
	workflows = rbacv1.PolicyRule{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"argoproj.io"}, Resources: []string{"workflows"}}
)

func TestSingleGrantIsCritical(t *testing.T) {
	idx := BuildIndex(argoNeeds, RBAC{
		ClusterRoles:        []rbacv1.ClusterRole{cr("argo", workflows), cr("other", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}})},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("argo", "argo", argoSA), crb("other", "other", argoSA)},
	})
	if len(idx.Unsatisfied) != 0 {
		t.Fatalf("unsatisfied %v", idx.Unsatisfied)
	}
	for _, k := range []ObjectKey{{"ClusterRoleBinding", "", "argo"}, {"ClusterRole", "", "argo"}} {
		if got := fmt.Sprint(idx.Critical[k]); len(idx.Critical[k]) != 2 {
			t.Fatalf("%v: %s, want list and watch", k, got)
		}
	}
	if len(idx.Critical[ObjectKey{"ClusterRoleBinding", "", "other"}]) != 0 {
		t.Fatal("a binding granting nothing needed is critical")
	}
	if s := idx.Critical[ObjectKey{"ClusterRoleBinding", "", "argo"}][0].String(); s != "list workflows.argoproj.io cluster-wide for kubeflow/argo" {
		t.Fatalf("need text %q", s)
	}
}

func TestRedundantGrantsAreNotCritical(t *testing.T) {
	idx := BuildIndex(argoNeeds, RBAC{
		ClusterRoles: []rbacv1.ClusterRole{cr("argo", workflows), cr("admin", rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}})},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("argo", "argo", argoSA),
			crb("all-sas", "admin", rbacv1.Subject{Kind: "Group", Name: "system:serviceaccounts:kubeflow"})},
	})
	if len(idx.Critical) != 0 {
		t.Fatalf("with two grants nothing is critical: %v", idx.Critical)
	}
}

func TestUnsatisfiedAndNonMatching(t *testing.T) {
	named := workflows
	named.ResourceNames = []string{"one"}
	idx := BuildIndex(argoNeeds, RBAC{
		ClusterRoles: []rbacv1.ClusterRole{cr("argo", named)},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{crb("argo", "argo", argoSA),
			crb("wrong-sa", "argo", rbacv1.Subject{Kind: "ServiceAccount", Namespace: "other", Name: "argo"})},
		// a RoleBinding cannot grant a cluster-wide need
		RoleBindings: []rbacv1.RoleBinding{{ObjectMeta: metav1.ObjectMeta{Name: "rb", Namespace: "kubeflow"},
			RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "argo"}, Subjects: []rbacv1.Subject{argoSA}}},
	})
	if len(idx.Unsatisfied) != 2 || len(idx.Critical) != 0 {
		t.Fatalf("unsatisfied %v critical %v", idx.Unsatisfied, idx.Critical)
	}
}

func TestNamespacedNeedThroughRoleBinding(t *testing.T) {
	needs := []Need{{ServiceAccount: "kubeflow/argo", Verb: "create", Group: "", Resource: "pods", Namespace: "kubeflow"}}
	idx := BuildIndex(needs, RBAC{
		Roles: []rbacv1.Role{{ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: "kubeflow"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}},
		RoleBindings: []rbacv1.RoleBinding{{ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: "kubeflow"},
			RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "pods"}, Subjects: []rbacv1.Subject{argoSA}}},
	})
	if len(idx.Critical[ObjectKey{"RoleBinding", "kubeflow", "pods"}]) != 1 || len(idx.Critical[ObjectKey{"Role", "kubeflow", "pods"}]) != 1 {
		t.Fatalf("critical %v", idx.Critical)
	}
}
