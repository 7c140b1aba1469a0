# Namespaces enrolled in a metacontroller parent (the Kubeflow profile
# CompositeController) are inputs: the controller re-renders every child
# (RoleBindings, Deployments, ConfigMaps) from their labels and
# annotations. Warn on metadata changes; only platform admins may drop a
# Namespace out of the parent by removing or changing the enrollment label.

# METADATA
# description: >-
#   Warn on label/annotation changes of Namespaces a metacontroller parent
#   renders children from; only admins may change or remove the enrollment
#   label.
# custom:
#   kinds: [Namespace]
#   operations: [UPDATE]
#   changes:
#     - metadata.labels
#     - metadata.annotations
package driftguard.policies.reconciler_parents

import data.driftguard.lib
import data.driftguard.lib.paths

params := lib.params("reconciler_parents", {
	"enrollmentLabel": "app.kubernetes.io/part-of",
	"enrollmentValue": "kubeflow-profile",
	"reconciler": "the Kubeflow profile controller (metacontroller CompositeController)",
	"reconcilerIdentities": ["system:serviceaccount:kubeflow:profile-controller"],
	"admins": {"users": [], "groups": ["platform-admins"]},
	"ignoredPaths": [
		"metadata.annotations[driftguard.io/drift]",
		"metadata.annotations[driftguard.io/break-glass]",
		"metadata.annotations[kubectl.kubernetes.io/last-applied-configuration]",
	],
})

enrolled if object.get(object.get(input.oldObject.metadata, "labels", {}), params.enrollmentLabel, "") == params.enrollmentValue

enrollment_path := paths.key_path("metadata.labels", params.enrollmentLabel)

admin if lib.actor_in(object.get(params.admins, "users", []), object.get(params.admins, "groups", []))

reconciler if input.actor.username in params.reconcilerIdentities

deny contains {"field": c.path, "owner": "platform-admins", "msg": msg} if {
	enrolled
	not admin
	some c in input.changes
	c.path == enrollment_path
	c.op in {"remove", "replace"}
	what := {"remove": "removes", "replace": "changes"}[c.op]
	msg := sprintf("%s of %s %s the Namespace's enrollment in %s (%s %s=%s): its rendered children would be orphaned or deleted. Only platform admins (%s) may do that; ask them.", [
		c.path, lib.object_ref, what, params.reconciler, lib.actor, params.enrollmentLabel, params.enrollmentValue,
		concat(", ", array.concat(object.get(params.admins, "users", []), object.get(params.admins, "groups", []))),
	])
}

metadata_changes := sort([c.path |
	some c in input.changes
	some prefix in ["metadata.labels", "metadata.annotations"]
	paths.under(c.path, prefix)
	c.path != enrollment_path
	not c.path in params.ignoredPaths
])

warn contains {"field": metadata_changes[0], "owner": params.reconciler, "msg": msg} if {
	enrolled
	not reconciler
	count(metadata_changes) > 0
	msg := sprintf("%s of %s is an input of %s: the change re-renders every child of the Namespace (RoleBindings, Deployments, ConfigMaps), and a child's hand edits are replaced. Make it in the profile's source if the Namespace is rendered from one.", [
		lib.short_list(metadata_changes), lib.object_ref, params.reconciler,
	])
}
