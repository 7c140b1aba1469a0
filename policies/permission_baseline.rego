# Controller service accounts silently losing RBAC permissions is drift
# that executes later (at the next restart). The permission baseline
# (config permissionBaseline) says what they need; driftguard indexes the
# roles and bindings each need depends on alone, and this policy denies
# (or, in warn mode, warns about) deleting or changing them. docs/scenarios.md S14.

# METADATA
# description: >-
#   Deny deleting or changing the roles and bindings that the permission
#   baseline of controller service accounts depends on.
# custom:
#   kinds: [ClusterRoleBinding, RoleBinding, ClusterRole, Role]
#   operations: [UPDATE, DELETE]
#   changes:
#     - subjects
#     - rules
#     - roleRef
#     - aggregationRule
package driftguard.policies.permission_baseline

import data.driftguard.lib
import data.driftguard.lib.paths

needs_text := concat("; ", sort([n.text | some n in input.baseline]))

grant_change if {
	some c in input.changes
	some prefix in ["subjects", "rules", "roleRef", "aggregationRule"]
	paths.under(c.path, prefix)
}

deny contains {"field": "(object)", "msg": msg} if {
	input.request.operation == "DELETE"
	count(input.baseline) > 0
	msg := sprintf("%s is the only grant of the permission baseline: %s. Deleting it breaks those controllers at their next restart; grant the permissions elsewhere first, or change the baseline in driftguard's config.", [lib.object_ref, needs_text])
}

deny contains {"field": "(grants)", "msg": msg} if {
	input.request.operation == "UPDATE"
	count(input.baseline) > 0
	grant_change
	msg := sprintf("%s is the only grant of the permission baseline: %s. Changing its subjects or rules may take them away; grant the permissions elsewhere first, or change the baseline in driftguard's config.", [lib.object_ref, needs_text])
}
