# Unit tests of revert_warning: image changes that the controlling
# owner's reconciler (metacontroller parent Namespace, Deployment) or a
# GitOps controller (Flux, Argo CD) will revert get a warning naming the
# owner and the real source; none when the parent's settings rule the
# revert out or the owner's identity writes. docs/scenarios.md S8, S9.
package driftguard.policies.revert_warning_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.revert_warning

warns(inp) := r if {
	r := revert_warning.warn with input as inp with data.driftguard.params as fx.default_params
}

# ---------------------------------------------------------------------
# S8: Deployment admin/ml-pipeline-ui-artifact rendered by
# metacontroller for the profile Namespace admin (its controlling owner).

kfp_image_path := "spec.template.spec.containers[ml-pipeline-ui-artifact].image"

kfp_old := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {
		"name": "ml-pipeline-ui-artifact",
		"namespace": "admin",
		"uid": "0d0c6b2e-0000-4000-8000-0000000000b8",
		"ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": "admin", "uid": "0d0c6b2e-0000-4000-8000-0000000000a0", "controller": true, "blockOwnerDeletion": true}],
		"managedFields": [{
			"manager": "metacontroller",
			"operation": "Update",
			"apiVersion": "apps/v1",
			"fieldsType": "FieldsV1",
			"fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"ml-pipeline-ui-artifact\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}},
		}],
	},
	"spec": {
		"replicas": 1,
		"selector": {"matchLabels": {"app": "ml-pipeline-ui-artifact"}},
		"template": {
			"metadata": {"labels": {"app": "ml-pipeline-ui-artifact"}},
			"spec": {"containers": [{"name": "ml-pipeline-ui-artifact", "image": "ghcr.io/kubeflow/kfp-frontend:2.5.0"}]},
		},
	},
}

kfp_new := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": object.remove(kfp_old.metadata, ["managedFields"]),
	"spec": object.union(kfp_old.spec, {"template": {
		"metadata": {"labels": {"app": "ml-pipeline-ui-artifact"}},
		"spec": {"containers": [{"name": "ml-pipeline-ui-artifact", "image": "ghcr.io/kubeflow/kfp-frontend:2.6.0"}]},
	}}),
}

namespace_owner := {
	"reference": {"apiVersion": "v1", "kind": "Namespace", "name": "admin", "uid": "0d0c6b2e-0000-4000-8000-0000000000a0"},
	"group": "",
	"reconciler": {
		"name": "the Kubeflow profile controller (metacontroller CompositeController)",
		"source": "its inputs: the kubeflow/pipeline-install-config ConfigMap (appVersion) and the labels of Namespace admin",
		"reconciles": true,
		"known": false,
	},
}

kfp_image_update := {
	"request": fx.request("apps", "Deployment", "deployments", "admin", "ml-pipeline-ui-artifact", "UPDATE"),
	"object": kfp_new,
	"oldObject": kfp_old,
	"actor": fx.alice,
	"changes": [{"path": kfp_image_path, "op": "replace", "managers": ["metacontroller"], "owner": "profile-controller", "via": "managedFields"}],
	"owners": fx.owners("Deployment", "admin", "ml-pipeline-ui-artifact", "admin"),
	"objectOwner": {"name": "profile-controller", "via": "managedFields"},
	"owner": namespace_owner,
}

test_s8_namespace_parent_warns if {
	ws := warns(kfp_image_update)
	count(ws) == 1
	some w in ws
	w.field == kfp_image_path
	w.owner == "Namespace/admin"
	contains(w.msg, "spec.template.spec.containers[ml-pipeline-ui-artifact].image of Deployment admin/ml-pipeline-ui-artifact will be reverted")
	contains(w.msg, "its controlling owner is Namespace/admin")
	contains(w.msg, "reconciled by the Kubeflow profile controller (metacontroller CompositeController)")
	contains(w.msg, "Change its inputs: the kubeflow/pipeline-install-config ConfigMap (appVersion) and the labels of Namespace admin instead.")
}

# The parent looked up and found not enrolled (or paused): no revert claimed.
test_s8_no_warning_when_parent_does_not_reconcile if {
	inp := object.union(kfp_image_update, {"owner": {"reconciler": {"known": true, "reconciles": false, "notEnrolled": "app.kubernetes.io/part-of"}}})
	count(warns(inp)) == 0
}

test_s8_warns_when_parent_known_and_reconciling if {
	inp := object.union(kfp_image_update, {"owner": {"reconciler": {"known": true}}})
	count(warns(inp)) == 1
}

test_s8_non_image_change_no_warning if {
	inp := object.union(kfp_image_update, {"changes": [{"path": "spec.replicas", "op": "replace", "managers": [], "owner": "", "via": ""}]})
	count(warns(inp)) == 0
}

test_s8_init_container_image_warns if {
	p := "spec.template.spec.initContainers[init-wait].image"
	inp := object.union(kfp_image_update, {"changes": [{"path": p, "op": "replace", "managers": ["metacontroller"], "owner": "profile-controller", "via": "managedFields"}]})
	ws := warns(inp)
	count(ws) == 1
	some w in ws
	w.field == p
}

# One warning per changed image.
test_s8_each_image_change_warns if {
	inp := object.union(kfp_image_update, {"changes": [
		{"path": kfp_image_path, "op": "replace", "managers": ["metacontroller"], "owner": "profile-controller", "via": "managedFields"},
		{"path": "spec.template.spec.containers[sidecar].image", "op": "replace", "managers": ["metacontroller"], "owner": "profile-controller", "via": "managedFields"},
		{"path": "spec.template.spec.containers[sidecar].imagePullPolicy", "op": "replace", "managers": [], "owner": "", "via": ""},
	]})
	ws := warns(inp)
	count(ws) == 2
	{w.field | some w in ws} == {kfp_image_path, "spec.template.spec.containers[sidecar].image"}
}

# ---------------------------------------------------------------------
# S9: alice edits the pod template image of a ReplicaSet owned by
# Deployment tenant-a/api.

rs_old := {
	"apiVersion": "apps/v1",
	"kind": "ReplicaSet",
	"metadata": {
		"name": "api-7d9f8c6b5",
		"namespace": "tenant-a",
		"uid": "0d0c6b2e-0000-4000-8000-0000000000c9",
		"labels": {"app": "api", "pod-template-hash": "7d9f8c6b5"},
		"ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": "0d0c6b2e-0000-4000-8000-000000000001", "controller": true, "blockOwnerDeletion": true}],
		"managedFields": [{
			"manager": "kube-controller-manager",
			"operation": "Update",
			"apiVersion": "apps/v1",
			"fieldsType": "FieldsV1",
			"fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"api\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}},
		}],
	},
	"spec": {
		"replicas": 2,
		"selector": {"matchLabels": {"app": "api", "pod-template-hash": "7d9f8c6b5"}},
		"template": {
			"metadata": {"labels": {"app": "api", "pod-template-hash": "7d9f8c6b5"}},
			"spec": {"containers": [{"name": "api", "image": "ghcr.io/acme/api:1.0.0"}]},
		},
	},
}

rs_new := {
	"apiVersion": "apps/v1",
	"kind": "ReplicaSet",
	"metadata": object.remove(rs_old.metadata, ["managedFields"]),
	"spec": object.union(rs_old.spec, {"template": {
		"metadata": rs_old.spec.template.metadata,
		"spec": {"containers": [{"name": "api", "image": "ghcr.io/acme/api:1.1.0"}]},
	}}),
}

deployment_owner := {
	"reference": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": "0d0c6b2e-0000-4000-8000-000000000001"},
	"group": "apps",
	"reconciler": {
		"name": "the Deployment controller",
		"source": "the pod template of Deployment tenant-a/api",
		"reconciles": true,
		"known": false,
	},
}

rs_image_update := {
	"request": fx.request("apps", "ReplicaSet", "replicasets", "tenant-a", "api-7d9f8c6b5", "UPDATE"),
	"object": rs_new,
	"oldObject": rs_old,
	"actor": fx.alice_with("kubectl-edit"),
	"changes": [{"path": fx.image_path, "op": "replace", "managers": ["kube-controller-manager"], "owner": "", "via": ""}],
	"owners": fx.owners("ReplicaSet", "tenant-a", "api-7d9f8c6b5", "api"),
	"owner": deployment_owner,
}

test_s9_replicaset_owned_by_deployment_warns if {
	ws := warns(rs_image_update)
	count(ws) == 1
	some w in ws
	w.field == fx.image_path
	w.owner == "Deployment/api"
	contains(w.msg, "spec.template.spec.containers[api].image of ReplicaSet tenant-a/api-7d9f8c6b5 will be reverted")
	contains(w.msg, "its controlling owner is Deployment/api, reconciled by the Deployment controller")
	contains(w.msg, "Change the pod template of Deployment tenant-a/api instead.")
}

# The owning Deployment has spec.paused: true, so nothing reverts.
test_s9_paused_deployment_no_warning if {
	inp := object.union(rs_image_update, {"owner": {"reconciler": {"known": true, "reconciles": false, "pausedBy": "spec.paused"}}})
	count(warns(inp)) == 0
}

test_s9_replicas_change_no_warning if {
	inp := object.union(rs_image_update, {"changes": [{"path": "spec.replicas", "op": "replace", "managers": ["kube-controller-manager"], "owner": "", "via": ""}]})
	count(warns(inp)) == 0
}

# An object without a controlling owner or GitOps tracking: S3's
# Terraform-owned Deployment gets owned_fields' denial, no revert warning.
test_no_owner_no_warning if {
	count(warns(fx.tf_image_update)) == 0
}

# DELETE has no changes, hence no revert warning.
test_delete_no_warning if {
	inp := object.union(kfp_image_update, {"request": {"operation": "DELETE"}, "changes": []})
	count(warns(object.remove(inp, ["object"]))) == 0
}

# The controlling owner's declared identity reconciling is no hand edit
# (a tenant operator's Database owning its pgbouncer Deployment).
database_owned := object.union(applied_by("tenant-operator"), {
	"request": fx.request("apps", "Deployment", "deployments", "tenant-a", "api-db-pgbouncer", "UPDATE"),
	"object": {"metadata": {"name": "api-db-pgbouncer", "ownerReferences": [{"apiVersion": "db.acme.io/v1", "kind": "Database", "name": "api-db", "uid": "u-db", "controller": true}]}},
	"oldObject": {"metadata": {"name": "api-db-pgbouncer", "ownerReferences": [{"apiVersion": "db.acme.io/v1", "kind": "Database", "name": "api-db", "uid": "u-db", "controller": true}]}},
	"owner": {
		"reference": {"apiVersion": "db.acme.io/v1", "kind": "Database", "name": "api-db", "uid": "u-db"},
		"group": "db.acme.io",
		"declared": "tenant-operator",
		"reconciler": {"name": "the tenant operator", "source": "Database tenant-a/api-db", "reconciles": true, "known": false},
	},
})

test_declared_owner_identity_no_warning if {
	inp := object.union(database_owned, {"actor": object.union(fx.terraform_runner, {
		"username": "system:serviceaccount:tenant-system:tenant-operator",
		"serviceAccount": {"namespace": "tenant-system", "name": "tenant-operator"},
		"fieldManager": "tenant-operator",
		"owner": "tenant-operator",
	})})
	count(warns(inp)) == 0
}

test_declared_owner_reconciler_warns_person if {
	ws := warns(database_owned)
	count(ws) == 1
	some w in ws
	w.owner == "Database/api-db"
	contains(w.msg, "Deployment tenant-a/api-db-pgbouncer will be reverted")
	contains(w.msg, "Change Database tenant-a/api-db instead.")
}

# ---------------------------------------------------------------------
# Flux: a Kustomization applies the object (tracking labels).

flux_labels := {
	"app": "api",
	"kustomize.toolkit.fluxcd.io/name": "tenant-a-apps",
	"kustomize.toolkit.fluxcd.io/namespace": "flux-system",
}

# The Deployment of S3, applied by a controller rather than
# Terraform: no declared owner.
applied_by(manager) := object.union(object.remove(fx.tf_image_update, ["objectOwner"]), {
	"oldObject": {"metadata": {"managedFields": [object.union(fx.tf_deployment_old.metadata.managedFields[0], {"manager": manager})]}},
	"changes": [{"path": fx.image_path, "op": "replace", "managers": [manager], "owner": "", "via": ""}],
})

flux_update(labels, annotations) := object.union(applied_by("kustomize-controller"), {
	"object": {"metadata": {"labels": labels, "annotations": annotations}},
	"oldObject": {"metadata": {"labels": labels, "annotations": annotations}},
})

test_flux_kustomization_warns if {
	ws := warns(flux_update(flux_labels, {}))
	count(ws) == 1
	some w in ws
	w.field == fx.image_path
	w.owner == "Kustomization/tenant-a-apps"
	contains(w.msg, "spec.template.spec.containers[api].image of Deployment tenant-a/api will be reverted")
	contains(w.msg, "Flux Kustomization flux-system/tenant-a-apps applies this object")
	contains(w.msg, "Git source")
}

test_flux_kustomization_namespace_from_label if {
	ws := warns(flux_update(object.union(flux_labels, {"kustomize.toolkit.fluxcd.io/namespace": "tenants"}), {}))
	count(ws) == 1
	some w in ws
	contains(w.msg, "Flux Kustomization tenants/tenant-a-apps")
}

test_flux_kustomization_namespace_defaults_to_flux_system if {
	ws := warns(flux_update(object.remove(flux_labels, ["kustomize.toolkit.fluxcd.io/namespace"]), {}))
	count(ws) == 1
	some w in ws
	contains(w.msg, "Flux Kustomization flux-system/tenant-a-apps")
}

test_flux_reconcile_disabled_no_warning if {
	count(warns(flux_update(flux_labels, {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}))) == 0
}

test_flux_declared_owner_identity_no_warning if {
	inp := object.union(flux_update(flux_labels, {}), {"actor": fx.terraform_runner})
	count(warns(inp)) == 0
}

test_flux_non_image_change_no_warning if {
	inp := object.union(flux_update(flux_labels, {}), {"changes": [{"path": "spec.replicas", "op": "replace", "managers": [], "owner": "", "via": ""}]})
	count(warns(inp)) == 0
}

# ---------------------------------------------------------------------
# Argo CD: the tracking annotation names the Application.

argo_update := object.union(applied_by("argocd-controller"), {
	"object": {"metadata": {"annotations": {"argocd.argoproj.io/tracking-id": "tenant-a-api:apps/Deployment:tenant-a/api"}}},
	"oldObject": {"metadata": {"annotations": {"argocd.argoproj.io/tracking-id": "tenant-a-api:apps/Deployment:tenant-a/api"}}},
})

test_argo_application_warns if {
	ws := warns(argo_update)
	count(ws) == 1
	some w in ws
	w.field == fx.image_path
	w.owner == "Application/tenant-a-api"
	contains(w.msg, "is tracked by Argo CD Application tenant-a-api")
	contains(w.msg, "reverted if self-heal is on")
	not contains(w.msg, "will be reverted")
}

test_argo_declared_owner_identity_no_warning if {
	count(warns(object.union(argo_update, {"actor": fx.terraform_runner}))) == 0
}

test_argo_empty_tracking_id_no_warning if {
	inp := object.union(argo_update, {"object": {"metadata": {"annotations": {"argocd.argoproj.io/tracking-id": ""}}}})
	count(warns(inp)) == 0
}

# A tracked ReplicaSet-style child with a reconciling owner gets both
# answers: the controller's revert and the GitOps tracking.
test_owner_and_argo_both_warn if {
	inp := object.union(rs_image_update, {"object": {"metadata": {"annotations": {"argocd.argoproj.io/tracking-id": "tenant-a-api:apps/ReplicaSet:tenant-a/api-7d9f8c6b5"}}}})
	ws := warns(inp)
	count(ws) == 2
	{w.owner | some w in ws} == {"Deployment/api", "Application/tenant-a-api"}
}

# ---------------------------------------------------------------------
# Repeat offenders: input.reverts lists the changed fields that were
# reverted lately.

test_repeat_offender_is_told_how_often_and_by_whom if {
	inp := object.union(kfp_image_update, {"reverts": [{"field": kfp_image_path, "count": 3, "by": ["metacontroller"]}]})
	ws := warns(inp)
	count(ws) == 2
	some w in ws
	contains(w.msg, "was reverted 3 time(s) in the last hour by metacontroller")
	w.owner == "metacontroller"
}

test_repeat_offender_any_field if {
	inp := object.union(kfp_image_update, {
		"changes": [{"path": "spec.replicas", "op": "replace", "managers": [], "owner": "", "via": ""}],
		"reverts": [{"field": "spec.replicas", "count": 2, "by": ["acme-operator", "metacontroller"]}],
	})
	ws := warns(inp)
	count(ws) == 1
	some w in ws
	contains(w.msg, "spec.replicas of Deployment admin/ml-pipeline-ui-artifact was reverted 2 time(s) in the last hour by acme-operator, metacontroller")
}

test_repeat_offender_not_for_controllers if {
	inp := object.union(kfp_image_update, {
		"actor": object.union(fx.alice, {"person": false, "owner": ""}),
		"reverts": [{"field": kfp_image_path, "count": 3, "by": ["metacontroller"]}],
	})
	count(warns(inp)) == 0
}
