package driftguard.policies.latent_drift_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.latent_drift

ch(path, op) := {"path": path, "op": op, "managers": [], "owner": "", "via": ""}

sts(strategy) := {
	"apiVersion": "apps/v1",
	"kind": "StatefulSet",
	"metadata": {"name": "db", "namespace": "tenant-a"},
	"spec": {"updateStrategy": {"type": strategy}, "template": {"spec": {"containers": [{"name": "db", "image": "postgres:16.2"}]}}},
}

sts_update(strategy, actor) := {
	"request": {"kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"}, "operation": "UPDATE", "namespace": "tenant-a", "name": "db"},
	"object": sts(strategy),
	"oldObject": sts(strategy),
	"actor": actor,
	"changes": [ch("spec.template.spec.containers[db].image", "replace")],
}

test_on_delete_template_change_warns if {
	ws := latent_drift.warn with input as sts_update("OnDelete", fx.terraform_runner)
	count(ws) == 1
	some w in ws
	w.field == "spec.template.spec.containers[db].image"
	contains(w.msg, "StatefulSet tenant-a/db changes the pod template, but spec.updateStrategy.type is OnDelete: no pods are replaced until they are deleted")
}

test_rolling_update_is_fine if {
	count(latent_drift.warn) == 0 with input as sts_update("RollingUpdate", fx.alice)
}

test_on_delete_other_changes_are_fine if {
	inp := object.union(sts_update("OnDelete", fx.alice), {"changes": [ch("spec.replicas", "replace")]})
	count(latent_drift.warn) == 0 with input as inp
}

test_daemonset_on_delete if {
	inp := object.union(sts_update("OnDelete", fx.alice), {"request": {"kind": {"kind": "DaemonSet"}, "name": "agent"}})
	ws := latent_drift.warn with input as inp
	some w in ws
	contains(w.msg, "DaemonSet tenant-a/agent")
}

pod_update(owner_kind, actor) := {
	"request": {"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "UPDATE", "namespace": "tenant-a", "name": "db-0"},
	"object": {"metadata": {"name": "db-0"}},
	"oldObject": {"metadata": {"name": "db-0"}},
	"actor": actor,
	"changes": [ch("spec.containers[db].image", "replace")],
	"owner": {"reference": {"apiVersion": "apps/v1", "kind": owner_kind, "name": "db", "uid": "u"}, "group": "apps", "declared": ""},
}

test_hand_edit_of_statefulset_pod_warns if {
	ws := latent_drift.warn with input as pod_update("StatefulSet", fx.alice)
	count(ws) == 1
	some w in ws
	w.owner == "StatefulSet/db"
	contains(w.msg, "spec.containers[db].image of Pod tenant-a/db-0 is a hand edit of a pod owned by StatefulSet/db")
}

test_controllers_and_replicaset_pods_are_fine if {
	count(latent_drift.warn) == 0 with input as pod_update("StatefulSet", fx.terraform_runner)
	count(latent_drift.warn) == 0 with input as pod_update("ReplicaSet", fx.alice)
}

test_pod_label_edit_is_not_spec if {
	inp := object.union(pod_update("DaemonSet", fx.alice), {"changes": [ch("metadata.labels.debug", "add")]})
	count(latent_drift.warn) == 0 with input as inp
}

test_audit_drift_of_pending_revision if {
	live := json.patch(sts("OnDelete"), [{"op": "add", "path": "/status", "value": {"replicas": 3, "updatedReplicas": 1, "currentRevision": "db-5d8", "updateRevision": "db-7f9"}}])
	inp := {"request": {"kind": {"kind": "StatefulSet"}, "operation": "AUDIT", "namespace": "tenant-a", "name": "db"}, "object": live}
	ds := latent_drift.drift with input as inp
	some d in ds
	contains(d.msg, "2 of 3 pods still run revision db-5d8, not db-7f9")
	done := json.patch(live, [{"op": "replace", "path": "/status/currentRevision", "value": "db-7f9"}])
	count(latent_drift.drift) == 0 with input as object.union(inp, {"object": done})
}
