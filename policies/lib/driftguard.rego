# Shared helpers for driftguard policies.
package driftguard.lib

# The object as it is after the request (CREATE/UPDATE) or was before it (DELETE).
obj := input.object if input.object
obj := input.oldObject if not input.object

kind := input.request.kind.kind

# Labels and annotations of obj, read without copying the whole object.
labels := object.get(input.object.metadata, "labels", {}) if input.object
labels := object.get(input.oldObject.metadata, "labels", {}) if not input.object

annotations := object.get(input.object.metadata, "annotations", {}) if input.object
annotations := object.get(input.oldObject.metadata, "annotations", {}) if not input.object

# "Kind namespace/name" for messages.
# (for a Namespace the API server sets request.namespace to its own name)
# A subresource request (deployments/scale) names the object it writes to:
# "Deployment tenant-a/api (scale subresource)".
# The bodies exclude one another; chained with else, a message is
# formatted by the first that holds without trying the others.
object_ref := sprintf("%s %s/%s", [kind, input.request.namespace, input.request.name]) if {
	not input.parent
	input.request.namespace != ""
	kind != "Namespace"
} else := sprintf("%s %s", [kind, input.request.name]) if {
	not input.parent
	not namespaced_ref
} else := sprintf("%s %s/%s (%s subresource)", [p.kind, p.namespace, p.name, p.subResource]) if {
	p := input.parent
	p.namespace != ""
} else := sprintf("%s %s (%s subresource)", [p.kind, p.name, p.subResource]) if {
	p := input.parent
	p.namespace == ""
}

namespaced_ref if {
	input.request.namespace != ""
	kind != "Namespace"
}

# Up to three items joined, with "and N more", for messages.
short_list(xs) := concat(", ", xs) if count(xs) <= 3

short_list(xs) := sprintf("%s and %d more", [concat(", ", array.slice(xs, 0, 3)), count(xs) - 3]) if count(xs) > 3

# s matches one of the globs (e.g. a namespace and ["tenant-*"]).
matches_any(globs, s) if {
	some g in globs
	glob.match(g, [], s)
}

# The human name of a declared owner.
owner_display(name) := d if {
	d := input.owners[name].display
} else := name if not input.owners[name]

# Where to make a change owned by a declared owner instead.
owner_source(name) := src if {
	src := input.owners[name].source
} else := "the owner's source of truth" if not input.owners[name]

# The object's declared owner (the "owner" field of a finding), "" when
# it has none.
object_owner := object.get(input, ["objectOwner", "name"], "")

# " Change it in <the owner's source>." when the object has a declared owner.
owner_hint := sprintf(" Change it in %s.", [owner_source(object_owner)]) if object_owner != "" else := ""

# Who is acting, for messages.
actor := input.actor.username

# The actor is one of the users, or in one of the groups.
actor_in(users, groups) if input.actor.username in users

actor_in(users, groups) if {
	some g in object.get(input.actor, "groups", [])
	g in groups
}

# A note when the actor spoofs one of the owner's field managers.
spoof_note(c) := sprintf(" (--field-manager=%s does not make %s that owner: the authenticated user decides)", [input.actor.fieldManager, actor]) if {
	input.actor.fieldManager != ""
	some m in c.managers
	m == input.actor.fieldManager
} else := ""

# The Secret is synced by an ExternalSecret (its controlling owner).
externalsecret_ref := ref if {
	ref := input.owner.reference
	ref.kind == "ExternalSecret"
	startswith(ref.apiVersion, "external-secrets.io/")
}

# Paths under the pod template's containers that carry an image.
image_path(p) if regex.match(`(^|\.)(containers|initContainers|ephemeralContainers)\[[^\]]+\]\.image$`, p)

# A Secret path holding data that an ExternalSecret sync overwrites.
secret_data_path(p) if data.driftguard.lib.paths.under(p, "data")

secret_data_path(p) if data.driftguard.lib.paths.under(p, "stringData")

secret_data_path(p) if p == "type"
