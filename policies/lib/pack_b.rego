# Helpers shared by the seed policy pack B (operator_state,
# reconciler_parents, latent_drift, deprecated_apis, version_label).
package driftguard.lib.pack_b

import data.driftguard.lib

# params(name, defaults): the policy's params from config
# (data.driftguard.params.<name>) over its defaults, key by key, so every
# policy works with no params in config.
params(name, defaults) := object.union(defaults, data.driftguard.params[name]) if {
	is_object(data.driftguard.params[name])
} else := defaults

# The path text internal/input uses for a map key under prefix:
# prefix.key for plain keys, prefix[key] otherwise.
key_path(prefix, key) := sprintf("%s.%s", [prefix, key]) if regex.match(`^[A-Za-z0-9_-]+$`, key)

key_path(prefix, key) := sprintf("%s[%s]", [prefix, key]) if not regex.match(`^[A-Za-z0-9_-]+$`, key)

# The map key a change path names directly under prefix ("" → none).
path_key(prefix, p) := k if {
	startswith(p, concat("", [prefix, "["]))
	endswith(p, "]")
	k := substring(p, count(prefix) + 1, (count(p) - count(prefix)) - 2)
}

path_key(prefix, p) := k if {
	startswith(p, concat("", [prefix, "."]))
	k := substring(p, count(prefix) + 1, -1)
	regex.match(`^[A-Za-z0-9_-]+$`, k)
}

# p is prefix itself or a path beneath it.
under(p, prefix) if p == prefix

under(p, prefix) if startswith(p, concat("", [prefix, "."]))

under(p, prefix) if startswith(p, concat("", [prefix, "["]))

# ns matches one of the globs (e.g. "tenant-*").
matches_any(globs, s) if {
	some g in globs
	glob.match(g, [], s)
}

# The actor is one of the users, or in one of the groups.
actor_in(users, groups) if input.actor.username in users

actor_in(users, groups) if {
	some g in object.get(input.actor, "groups", [])
	g in groups
}

# The tag of an image reference ("latest" when it has neither tag nor
# digest; undefined for a digest-only reference).
image_tag(image) := tag if {
	name := split(image, "@")[0]
	last := regex.replace(name, `^.*/`, "")
	contains(last, ":")
	parts := split(last, ":")
	tag := parts[count(parts) - 1]
}

image_tag(image) := "latest" if {
	not contains(image, "@")
	last := regex.replace(image, `^.*/`, "")
	not contains(last, ":")
}

# Up to three items joined, with "and N more".
short_list(xs) := concat(", ", xs) if count(xs) <= 3

short_list(xs) := sprintf("%s and %d more", [concat(", ", array.slice(xs, 0, 3)), count(xs) - 3]) if count(xs) > 3

# The declared owner of the object as a whole, for the "owner" field.
object_owner := object.get(object.get(input, "objectOwner", {}), "name", "")

# "Kind namespace/name" for messages; "Namespace name" for a Namespace
# (the API server sets request.namespace to a Namespace's own name, so
# lib.object_ref would say "Namespace admin/admin").
object_ref := sprintf("Namespace %s", [input.request.name]) if input.request.kind.kind == "Namespace"

object_ref := lib.object_ref if input.request.kind.kind != "Namespace"
