# Secrets synced by an ExternalSecret: hand edits of their data are lost
# at the next sync, so they are rejected with a pointer to the parameter
# store. docs/scenarios.md S1 and S2.

# METADATA
# description: >-
#   Reject hand edits of Secrets synced by an ExternalSecret; the value
#   belongs in the parameter store.
# custom:
#   kinds: [Secret]
#   operations: [UPDATE, DELETE]
#   changes:
#     - data
#     - stringData
#     - type
package driftguard.policies.externalsecret_owned

import data.driftguard.lib

data_change(c) if lib.secret_data_path(c.path)

# The Secret's keys are named, never their values: data.KEY or
# data[KEY.WITH.DOTS] names KEY; "data" (the whole map) and "type" name
# themselves.
key_of(c) := k if {
	some prefix in ["data.", "stringData."]
	startswith(c.path, prefix)
	k := trim_prefix(c.path, prefix)
} else := k if {
	some prefix in ["data[", "stringData["]
	startswith(c.path, prefix)
	k := trim_suffix(trim_prefix(c.path, prefix), "]")
} else := c.path

is_owner_identity if input.actor.owner == input.owner.declared

flag_note(c) := " Feature flags belong in the parameter store." if contains(key_of(c), "FEATURE_FLAG") else := ""

deny contains {"field": c.path, "owner": ref.name, "msg": msg} if {
	input.request.operation == "UPDATE"
	ref := lib.externalsecret_ref
	not is_owner_identity
	some c in input.changes
	data_change(c)
	msg := sprintf("%s (%s) of %s is synced by ExternalSecret %s/%s; %s's next sync will overwrite a hand edit.%s Change it in %s instead.", [
		key_of(c), c.op, lib.object_ref, input.request.namespace, ref.name,
		lib.owner_display(object.get(input.owner, "declared", "external-secrets")), flag_note(c),
		lib.owner_source(object.get(input.owner, "declared", "external-secrets")),
	])
}

warn contains {"field": "(object)", "owner": ref.name, "msg": msg} if {
	input.request.operation == "DELETE"
	ref := lib.externalsecret_ref
	not is_owner_identity
	msg := sprintf("%s is synced by ExternalSecret %s/%s, which will recreate it from the parameter store.", [lib.object_ref, input.request.namespace, ref.name])
}
