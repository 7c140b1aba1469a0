# Feature flags (env vars named FEATURE_FLAG_*) of workloads a declared
# owner manages belong in the parameter store, synced by the workload's
# flags ExternalSecret: a flag set by hand on the Deployment is lost at
# the owner's next apply. Docs: docs/policies/feature_flags.md.

# METADATA
# description: >-
#   Reject hand edits of FEATURE_FLAG_* env vars on owned workloads; flags
#   belong in the flags ExternalSecret.
# custom:
#   kinds: [Deployment, StatefulSet, DaemonSet]
#   operations: [UPDATE]
#   changes:
#     - spec.template.spec.containers[*].env
#     - spec.template.spec.initContainers[*].env
package driftguard.policies.feature_flags

import data.driftguard.lib

params := lib.params("feature_flags", {"prefixes": ["FEATURE_FLAG_"], "flagsExternalSecret": "{name}-feature-flags"})

prefixes := params.prefixes

# The flags ExternalSecret, {name} is the workload's name.
flags_external_secret := replace(params.flagsExternalSecret, "{name}", input.request.name)

# spec.template.spec.containers[api].env[FEATURE_FLAG_X] and anything beneath it.
env_change(c) := {"container": m[1], "var": m[2]} if {
	m := regex.find_all_string_submatch_n(`^spec\.template\.spec\.(?:initContainers|containers)\[([^\]]+)\]\.env\[([^\]]+)\](?:\..+)?$`, c.path, 1)[0]
}

flag(name) if {
	some p in prefixes
	startswith(name, p)
}

# The declared owner of the change: the field's owner, else the object's.
change_owner(c) := c.owner if c.owner != ""

change_owner(c) := input.objectOwner.name if {
	c.owner == ""
	input.objectOwner.name != ""
}

phrase := {"add": "add %s to", "replace": "change %s in"}

deny contains {"field": c.path, "owner": owner, "msg": msg} if {
	some c in input.changes
	c.op in {"add", "replace"}
	e := env_change(c)
	flag(e.var)
	owner := change_owner(c)
	owner != input.actor.owner
	msg := sprintf("%s of %s (%s by %s) is managed by %s and %s is not its identity; feature flags belong in the parameter store: %s ExternalSecret %s/%s instead of setting it on the %s by hand.", [
		c.path, lib.object_ref, c.op, lib.actor, lib.owner_display(owner), lib.actor,
		sprintf(phrase[c.op], [e.var]), input.request.namespace, flags_external_secret, lib.kind,
	])
}
