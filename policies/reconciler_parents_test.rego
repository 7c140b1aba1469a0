package driftguard.policies.reconciler_parents_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.reconciler_parents

ns(labels) := {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "admin", "labels": labels}}

enrolled := {"app.kubernetes.io/part-of": "kubeflow-profile", "kubernetes.io/metadata.name": "admin"}

update(old_labels, actor, changes) := {
	"request": {"kind": {"group": "", "version": "v1", "kind": "Namespace"}, "operation": "UPDATE", "namespace": "admin", "name": "admin"},
	"object": ns({}),
	"oldObject": ns(old_labels),
	"actor": actor,
	"changes": changes,
}

ch(path, op) := {"path": path, "op": op, "managers": [], "owner": "", "via": ""}

enrollment := "metadata.labels[app.kubernetes.io/part-of]"

platform_admin := object.union(fx.alice, {"username": "bob", "groups": ["platform-admins", "system:authenticated"]})

test_label_change_warns if {
	ws := reconciler_parents.warn with input as update(enrolled, fx.alice, [ch("metadata.labels.team", "add"), ch("metadata.annotations[owner]", "add")])
	count(ws) == 1
	some w in ws
	w.field == "metadata.annotations[owner]"
	contains(w.msg, "metadata.annotations[owner], metadata.labels.team of Namespace admin is an input of the Kubeflow profile controller")
	count(reconciler_parents.deny) == 0 with input as update(enrolled, fx.alice, [ch("metadata.labels.team", "add")])
}

test_not_enrolled_is_quiet if {
	count(reconciler_parents.warn) == 0 with input as update({"team": "x"}, fx.alice, [ch("metadata.labels.team", "replace")])
	count(reconciler_parents.deny) == 0 with input as update({"app.kubernetes.io/part-of": "other"}, fx.alice, [ch(enrollment, "remove")])
}

test_profile_controller_is_not_warned if {
	count(reconciler_parents.warn) == 0 with input as update(enrolled, fx.profile_controller, [ch("metadata.labels.team", "add")])
}

test_ignored_paths if {
	count(reconciler_parents.warn) == 0 with input as update(enrolled, fx.alice, [ch("metadata.annotations[driftguard.io/drift]", "add")])
}

test_spec_changes_are_not_metadata if {
	count(reconciler_parents.warn) == 0 with input as update(enrolled, fx.alice, [ch("spec.finalizers", "replace")])
}

test_removing_enrollment_is_denied if {
	ds := reconciler_parents.deny with input as update(enrolled, fx.alice, [ch(enrollment, "remove")])
	count(ds) == 1
	some d in ds
	d.field == enrollment
	contains(d.msg, "removes the Namespace's enrollment")
	contains(d.msg, "platform-admins")

	# the enrollment change itself is not also warned about
	count(reconciler_parents.warn) == 0 with input as update(enrolled, fx.alice, [ch(enrollment, "remove")])
}

test_changing_enrollment_is_denied if {
	count(reconciler_parents.deny) == 1 with input as update(enrolled, fx.profile_controller, [ch(enrollment, "replace")])
}

test_admins_may_unenroll if {
	count(reconciler_parents.deny) == 0 with input as update(enrolled, platform_admin, [ch(enrollment, "remove")])
	p := {"reconciler_parents": {"admins": {"users": ["alice"]}}}
	count(reconciler_parents.deny) == 0 with input as update(enrolled, fx.alice, [ch(enrollment, "remove")]) with data.driftguard.params as p
}

test_configured_enrollment_label if {
	p := {"reconciler_parents": {"enrollmentLabel": "parent", "enrollmentValue": "tenants"}}
	count(reconciler_parents.deny) == 1 with input as update({"parent": "tenants"}, fx.alice, [ch("metadata.labels.parent", "remove")]) with data.driftguard.params as p
}
