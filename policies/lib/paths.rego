# Change paths: the text internal/input writes for a field in
# input.changes (metadata.labels.team, metadata.labels[app.kubernetes.io/part-of],
# spec.template.spec.containers[api].image).
package driftguard.lib.paths

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
