# Drift rules: owned_fields (hand edits on owned objects, drift records)
# and version_matrix (docs/scenarios.md S13), evaluated on live-object inputs as
# internal/input.BuildLive makes them (operation AUDIT, no changes).
package driftguard.policies.drift_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.owned_fields
import data.driftguard.policies.version_matrix

live(obj, extra) := object.union(
	{
		"request": fx.request("apps", "Deployment", "deployments", "tenant-a", "api", "AUDIT"),
		"object": obj,
		"actor": {},
		"changes": [],
		"owners": fx.owners("Deployment", "tenant-a", "api", ""),
	},
	extra,
)

hand_edited := live(fx.tf_deployment_old, {
	"objectOwner": {"name": "terraform", "via": "managedFields"},
	"handEdits": [{"manager": "kubectl-edit", "fields": [
		"spec.template.spec.containers[api].env[LOG_LEVEL].value",
		"metadata.annotations[kubectl.kubernetes.io/last-applied-configuration]",
	]}],
})

test_hand_edit_on_owned_object_is_drift if {
	ds := owned_fields.drift with input as hand_edited with data.driftguard.params as fx.default_params
	count(ds) == 1
	some d in ds
	d.field == "spec.template.spec.containers[api].env[LOG_LEVEL].value"
	d.owner == "terraform"
	contains(d.msg, "kubectl-edit")
	contains(d.msg, "Terraform")
}

test_hand_edit_without_declared_owner_is_not_drift if {
	inp := json.remove(hand_edited, ["objectOwner"])
	count(owned_fields.drift) == 0 with input as inp with data.driftguard.params as fx.default_params
}

test_ignored_and_metadata_hand_edits_are_not_drift if {
	inp := object.union(hand_edited, {"handEdits": [{"manager": "kubectl-rollout", "fields": [
		"spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]",
		"metadata.labels.team",
	]}]})
	count(owned_fields.drift) == 0 with input as inp with data.driftguard.params as fx.default_params
}

test_drift_record_is_drift if {
	inp := live(fx.tf_deployment_old, {"driftRecord": {"edits": [{
		"by": "alice", "at": "2026-11-25T12:00:00Z", "owner": "terraform",
		"fields": [fx.image_path], "policy": "owned_fields", "reason": "break-glass: INC-1",
	}]}})
	ds := owned_fields.drift with input as inp with data.driftguard.params as fx.default_params
	count(ds) == 1
	some d in ds
	d.field == fx.image_path
	contains(d.msg, "alice")
	contains(d.msg, "break-glass: INC-1")
}

ui(image) := {
	"apiVersion": "apps/v1", "kind": "Deployment",
	"metadata": {"name": "ml-pipeline-ui", "namespace": "kubeflow"},
	"spec": {"template": {"spec": {"containers": [
		{"name": "ml-pipeline-ui", "image": image},
		{"name": "proxy", "image": "envoy:1"},
	]}}},
}

row := {"component": "kfp-frontend", "image": "ghcr.io/kubeflow/kfp-frontend:2.5.0", "container": "ml-pipeline-ui"}

ui_live(image) := {
	"request": fx.request("apps", "Deployment", "deployments", "kubeflow", "ml-pipeline-ui", "AUDIT"),
	"object": ui(image), "changes": [], "matrix": [row],
}

test_matrix_mismatch_is_drift if {
	ds := version_matrix.drift with input as ui_live("gcr.io/ml-pipeline/frontend:2.0.5")
	count(ds) == 1
	some d in ds
	d.field == "spec.template.spec.containers[ml-pipeline-ui].image"
	contains(d.msg, "gcr.io/ml-pipeline/frontend:2.0.5")
	contains(d.msg, "kfp-frontend")
	contains(d.msg, "ghcr.io/kubeflow/kfp-frontend:2.5.0")
}

test_matrix_match_is_no_drift if {
	count(version_matrix.drift) == 0 with input as ui_live("ghcr.io/kubeflow/kfp-frontend:2.5.0")
}

test_no_matrix_row_no_drift if {
	inp := json.remove(ui_live("gcr.io/ml-pipeline/frontend:2.0.5"), ["matrix"])
	count(version_matrix.drift) == 0 with input as inp
}

ui_update(old_image, new_image) := {
	"request": fx.request("apps", "Deployment", "deployments", "kubeflow", "ml-pipeline-ui", "UPDATE"),
	"object": ui(new_image), "oldObject": ui(old_image), "matrix": [row],
	"changes": [{"path": "spec.template.spec.containers[ml-pipeline-ui].image", "op": "replace", "managers": [], "owner": "", "via": ""}],
}

test_update_moving_away_from_matrix_warns if {
	ws := version_matrix.warn with input as ui_update("ghcr.io/kubeflow/kfp-frontend:2.5.0", "gcr.io/ml-pipeline/frontend:2.0.5")
	count(ws) == 1
	some w in ws
	contains(w.msg, "away from the version matrix")
}

test_update_back_to_matrix_does_not_warn if {
	count(version_matrix.warn) == 0 with input as ui_update("gcr.io/ml-pipeline/frontend:2.0.5", "ghcr.io/kubeflow/kfp-frontend:2.5.0")
}

test_update_not_touching_image_does_not_warn if {
	inp := object.union(ui_update("gcr.io/ml-pipeline/frontend:2.0.5", "gcr.io/ml-pipeline/frontend:2.0.5"), {"changes": []})
	count(version_matrix.warn) == 0 with input as inp
}

cm(v) := {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pipeline-install-config", "namespace": "kubeflow"}, "data": {"appVersion": v}}

cm_row := {"component": "kfp", "key": "appVersion", "expected": "2.5.0"}

test_matrix_input_mismatch_is_drift if {
	inp := {"request": fx.request("", "ConfigMap", "configmaps", "kubeflow", "pipeline-install-config", "AUDIT"), "object": cm("2.0.5"), "changes": [], "matrixInputs": [cm_row]}
	ds := version_matrix.drift with input as inp
	count(ds) == 1
	some d in ds
	d.field == "data.appVersion"
	contains(d.msg, "2.0.5")
	contains(d.msg, "2.5.0")
}

test_matrix_input_match_no_drift if {
	inp := {"request": fx.request("", "ConfigMap", "configmaps", "kubeflow", "pipeline-install-config", "AUDIT"), "object": cm("2.5.0"), "changes": [], "matrixInputs": [cm_row]}
	count(version_matrix.drift) == 0 with input as inp
}

test_matrix_input_update_away_warns if {
	inp := {
		"request": fx.request("", "ConfigMap", "configmaps", "kubeflow", "pipeline-install-config", "UPDATE"),
		"object": cm("2.0.5"), "oldObject": cm("2.5.0"), "matrixInputs": [cm_row],
		"changes": [{"path": "data.appVersion", "op": "replace", "managers": [], "owner": "", "via": ""}],
	}
	ws := version_matrix.warn with input as inp
	count(ws) == 1
	some w in ws
	contains(w.msg, "away from the version matrix")
}
