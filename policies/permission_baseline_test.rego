package driftguard.policies.permission_baseline_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.permission_baseline

need := {"serviceAccount": "kubeflow/argo", "verb": "list", "group": "argoproj.io", "resource": "workflows", "namespace": "", "text": "list workflows.argoproj.io cluster-wide for kubeflow/argo"}

crb := {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "argo"}}

req(op, deps, changes) := {
	"request": fx.request("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", "", "argo", op),
	"oldObject": crb, "object": crb, "actor": fx.alice, "changes": changes, "baseline": deps,
}

test_delete_of_critical_binding_denied if {
	ds := permission_baseline.deny with input as req("DELETE", [need], [])
	count(ds) == 1
	some d in ds
	contains(d.msg, "ClusterRoleBinding argo")
	contains(d.msg, "list workflows.argoproj.io cluster-wide for kubeflow/argo")
}

test_delete_of_unneeded_binding_allowed if {
	count(permission_baseline.deny) == 0 with input as req("DELETE", [], [])
}

test_subject_change_denied if {
	ch := [{"path": "subjects", "op": "replace", "managers": [], "owner": "", "via": ""}]
	count(permission_baseline.deny) == 1 with input as req("UPDATE", [need], ch)
}

test_label_change_allowed if {
	ch := [{"path": "metadata.labels.team", "op": "add", "managers": [], "owner": "", "via": ""}]
	count(permission_baseline.deny) == 0 with input as req("UPDATE", [need], ch)
}
