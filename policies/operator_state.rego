# An operator keeps its state on the objects it handles: bookkeeping
# annotations (kopf's last-handled-configuration, progress) and status.
# Editing or removing them makes the operator re-run its create handler,
# which regenerates credentials that running pods hold. Credential
# Secrets' password keys change only as a declared rotation.

# METADATA
# description: >-
#   Only the operator edits its bookkeeping annotations and status;
#   credential Secrets' password keys change only with a rotation
#   annotation.
# custom:
#   kinds: ["*"]
#   operations: [UPDATE]
#   changes:
#     - metadata.annotations
#     - status
#     - data
#     - stringData
package driftguard.policies.operator_state

import data.driftguard.lib
import data.driftguard.lib.paths

params := lib.params("operator_state", {
	"annotationPrefixes": ["kopf.zalando.org/"],
	"operatorIdentities": ["system:serviceaccount:operators:tenant-operator"],
	"passwordKeys": ["password", "PASSWORD", "db-password"],
	"credentialLabel": "driftguard.io/credentials",
	"rotationAnnotation": "driftguard.io/rotation",
})

operator if input.actor.username in params.operatorIdentities

bookkeeping_key(k) if {
	some prefix in params.annotationPrefixes
	startswith(k, prefix)
}

old_annotations := object.get(object.get(object.get(input, "oldObject", {}), "metadata", {}), "annotations", {})

# The operator handles the object: it carried bookkeeping annotations.
operator_managed if {
	some k, _ in old_annotations
	bookkeeping_key(k)
}

verb := {"add": "added", "replace": "changed", "remove": "removed"}

# Cheapest tests first in each rule: most requests change no annotation,
# no status and no credential, and leave after one look at the changes.
deny contains {"field": c.path, "owner": "operator", "msg": msg} if {
	some c in input.changes
	startswith(c.path, "metadata.annotations")
	not operator
	k := paths.path_key("metadata.annotations", c.path)
	bookkeeping_key(k)
	msg := sprintf("%s of %s is the operator's bookkeeping (%s by %s): only %s may write it; editing or removing it makes the operator re-run its handlers (and regenerate credentials). Change the object's spec, or ask the operator's owners.", [
		c.path, lib.object_ref, verb[c.op], lib.actor, concat(", ", params.operatorIdentities),
	])
}

# Status of objects the operator handles: one denial naming the fields.
status_changes := sort([c.path |
	some c in input.changes
	startswith(c.path, "status")
	paths.under(c.path, "status")
])

deny contains {"field": status_changes[0], "owner": "operator", "msg": msg} if {
	count(status_changes) > 0
	not operator
	operator_managed
	msg := sprintf("%s of %s is written by the operator only (%s), not by %s; it reports what the operator did and is overwritten or misread at its next run.", [
		lib.short_list(status_changes), lib.object_ref, concat(", ", params.operatorIdentities), lib.actor,
	])
}

# Credential Secrets.
credential_secret if {
	input.request.kind.kind == "Secret"
	some o in [object.get(input, "oldObject", {}), object.get(input, "object", {})]
	object.get(object.get(o.metadata, "labels", {}), params.credentialLabel, "") == "true"
}

rotation_declared if object.get(lib.annotations, params.rotationAnnotation, "") != ""

password_change contains {"path": c.path, "key": k, "op": c.op} if {
	some c in input.changes
	some prefix in ["data", "stringData"]
	startswith(c.path, prefix)
	k := paths.path_key(prefix, c.path)
	k in params.passwordKeys
}

deny contains {"field": x.path, "owner": "operator", "msg": msg} if {
	input.request.kind.kind == "Secret"
	some x in password_change
	credential_secret
	not rotation_declared
	msg := sprintf("key %s of credential %s is %s by %s: running pods hold this credential and break when it changes. To rotate it on purpose, set annotation %s (reason or ticket) on the Secret in the same request.", [
		x.key, lib.object_ref, verb[x.op], lib.actor, params.rotationAnnotation,
	])
}
