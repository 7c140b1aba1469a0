# Enforcement that cannot be switched off from inside: the tenant label
# of a Namespace decides whether the Helm chart's fail-closed webhook
# entries apply to it (and whether tenant-scoped policies match), and
# driftguard's own ConfigMaps hold its exemptions, modes, admins and
# policies. Only config admins (input.actor.admin) may change or remove
# the tenant label of a tenant Namespace or write those ConfigMaps;
# adding the label (opting in) is for everyone.

# METADATA
# description: >-
#   Only admins may remove or change the tenant label of a tenant
#   Namespace, or write driftguard's own ConfigMaps.
# custom:
#   kinds: [Namespace, ConfigMap]
#   operations: [CREATE, UPDATE, DELETE]
package driftguard.policies.tenancy_guard

import data.driftguard.lib
import data.driftguard.lib.paths

params := lib.params("tenancy_guard", {
	"tenantLabel": {"key": "driftguard.io/tenant", "value": "true"},
	"protectedConfigMaps": [],
})

label_key := params.tenantLabel.key

label_value := sprintf("%v", [params.tenantLabel.value])

label_path := paths.key_path("metadata.labels", label_key)

admin if input.actor.admin == true

# Who the admins are, for messages (input.admins, from config admins).
admins_text := concat("; ", parts) if {
	a := object.get(input, "admins", {})
	parts := [sprintf("%s %s", [title, concat(", ", xs)]) |
		some [key, title] in [["users", "users"], ["groups", "groups"], ["serviceAccounts", "service accounts"]]
		xs := object.get(a, key, [])
		count(xs) > 0
	]
	count(parts) > 0
} else := "nobody: config admins is empty"

label_of(obj) := object.get(object.get(object.get(obj, "metadata", {}), "labels", {}), label_key, null)

# ---- the tenant label

was_tenant if label_of(input.oldObject) == label_value

new_label := label_of(input.object)

what := sprintf("removes the tenant label %s=%s", [label_key, label_value]) if new_label == null

what := sprintf("changes the tenant label %s from %q to %q", [label_key, label_value, new_label]) if {
	new_label != null
	new_label != label_value
}

deny contains {"field": label_path, "owner": "driftguard admins", "msg": msg} if {
	input.request.kind.kind == "Namespace"
	input.request.operation == "UPDATE"
	was_tenant
	not admin
	msg := sprintf("%s of %s %s (by %s): that opts the namespace out of enforcement. Tenant namespaces are enforced and fail closed (the Helm chart's webhook entries for them have failurePolicy Fail); other namespaces fail open, and policies scoped to tenant namespaces stop applying. Only driftguard admins may change or remove it (%s); adding the label stays open to everyone.", [
		label_path, lib.object_ref, what, input.actor.username, admins_text,
	])
}

# ---- driftguard's own ConfigMaps

configmap_ref := sprintf("%s/%s", [input.request.namespace, input.request.name])

protected if {
	input.request.kind.kind == "ConfigMap"
	input.request.kind.group == ""
	configmap_ref in params.protectedConfigMaps
}

verb := {"CREATE": "creating", "UPDATE": "changing", "DELETE": "deleting"}[input.request.operation]

# An UPDATE that changes nothing (a re-apply) is not a write of the settings.
writes if input.request.operation != "UPDATE"

writes if {
	input.request.operation == "UPDATE"
	count(input.changes) > 0
}

deny contains {"field": "data", "owner": "driftguard admins", "msg": msg} if {
	protected
	writes
	not admin
	msg := sprintf("ConfigMap %s holds driftguard's own settings (exempt namespaces, users and groups, modes, admins, policies): %s it can switch enforcement off, so only driftguard admins may do it (%s); %s is not one. Ask them.", [
		configmap_ref, verb, admins_text, input.actor.username,
	])
}
