# Shared helpers of the seed policy pack (feature_flags, mutable_tags,
# security_context): tenant namespaces, the pod specs of workloads,
# their containers and image references.
package driftguard.lib.pack_a

# Workload kinds whose objects carry a pod spec.
workload_kinds := ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]

# Container lists of a pod spec.
container_types := ["initContainers", "containers", "ephemeralContainers"]

# The namespace is a tenant namespace: it matches one of the globs.
tenant(ns, globs) if {
	some g in globs
	glob.match(g, [], ns)
}

# Where the pod spec of a workload of this kind lives, as a path
# (in input.changes notation) and as a list of keys.
spec_path(k) := "spec" if k == "Pod"

spec_path(k) := "spec.template.spec" if k in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

spec_path(k) := "spec.jobTemplate.spec.template.spec" if k == "CronJob"

spec_keys(k) := split(spec_path(k), ".")

# The pod spec of obj (a workload of kind k), {} when it has none.
pod_spec(obj, k) := object.get(obj, spec_keys(k), {})

# The pod specs and containers of this request's objects, as rules: a
# function taking a whole object would make OPA hash (and so convert) the
# object for its call cache, which costs more than all the checks.
new_pod_spec := object.get(input.object, spec_keys(data.driftguard.lib.kind), {}) if input.object else := {}

old_pod_spec := object.get(input.oldObject, spec_keys(data.driftguard.lib.kind), {}) if input.oldObject else := {}

new_containers := {key: {"type": t, "name": c.name, "path": sprintf("%s.%s[%s]", [spec_path(data.driftguard.lib.kind), t, c.name]), "c": c} |
	some t in container_types
	some c in object.get(new_pod_spec, t, [])
	key := sprintf("%s[%s]", [t, c.name])
}

old_containers := {key: {"type": t, "name": c.name, "path": sprintf("%s.%s[%s]", [spec_path(data.driftguard.lib.kind), t, c.name]), "c": c} |
	some t in container_types
	some c in object.get(old_pod_spec, t, [])
	key := sprintf("%s[%s]", [t, c.name])
}

containers(obj, k) := {key: {"type": t, "name": c.name, "path": sprintf("%s.%s[%s]", [spec_path(k), t, c.name]), "c": c} |
	spec := pod_spec(obj, k)
	some t in container_types
	some c in object.get(spec, t, [])
	key := sprintf("%s[%s]", [t, c.name])
}

# UPDATE guards: rules that only care about some container fields skip
# the (costly) walk over both objects' containers when the request did
# not change such a field. Paths are input.changes paths.

# The request is not an UPDATE, or its input carries no changes list
# (hand-written inputs): every rule must look at the objects.
unguarded if input.request.operation != "UPDATE"

unguarded if not input.changes

# A change adds or removes a whole container, replaces a container list,
# or replaces the pod spec or something above it.
structural_change if {
	some c in input.changes
	structural(c.path)
}

structural(p) if startswith(concat("", [spec_path(data.driftguard.lib.kind), "."]), concat("", [p, "."]))

structural(p) if {
	some t in container_types
	prefix := concat("", [spec_path(data.driftguard.lib.kind), ".", t])
	startswith(p, prefix)
	not contains(substring(p, count(prefix), -1), "].")
}

# The container list and name of a change path under the pod spec,
# "<spec path>.<list>[<name>]..." → {"type": <list>, "name": <name>}.
container_ref(p) := {"type": t, "name": name} if {
	prefix := concat("", [spec_path(data.driftguard.lib.kind), "."])
	startswith(p, prefix)
	rest := substring(p, count(prefix), -1)
	open := indexof(rest, "[")
	open > 0
	t := substring(rest, 0, open)
	t in container_types
	close := indexof(rest, "]")
	close > open
	name := substring(rest, open + 1, (close - open) - 1)
}

parse_image(ref) := {"registry": registry, "repository": repository, "tag": tag, "digest": digest} if {
	[name_tag, digest] := split_digest(ref)
	[registry, rest] := split_registry(name_tag)
	[repository, tag] := split_tag(rest)
}

split_digest(ref) := [substring(ref, 0, i), substring(ref, i + 1, -1)] if {
	i := indexof(ref, "@")
	i >= 0
} else := [ref, ""]

split_registry(s) := [parts[0], concat("/", array.slice(parts, 1, count(parts)))] if {
	parts := split(s, "/")
	count(parts) > 1
	registry_host(parts[0])
} else := ["", s]

registry_host(h) if contains(h, ".")

registry_host(h) if contains(h, ":")

registry_host("localhost")

# The tag follows the last colon of the repository path (the registry's
# port has been split off already).
split_tag(s) := [substring(s, 0, i), substring(s, i + 1, -1)] if {
	i := last_index(s, ":")
	i >= 0
} else := [s, ""]

last_index(s, sub) := i if {
	idx := indexof_n(s, sub)
	count(idx) > 0
	i := max(idx)
} else := -1

# The object's declared owner, "" when it has none.
object_owner := object.get(input, ["objectOwner", "name"], "")

# " Change it in <the owner's source>." when the object has a declared owner.
owner_hint := sprintf(" Change it in %s.", [data.driftguard.lib.owner_source(object_owner)]) if object_owner != "" else := ""
