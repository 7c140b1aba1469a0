# Workloads: the pod spec of each workload kind, its containers, and the
# UPDATE guards that let a policy skip walking containers when a request
# changed none of the fields it judges.
package driftguard.lib.workloads

# Workload kinds whose objects carry a pod spec.
kinds := ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]

# Container lists of a pod spec.
container_types := ["initContainers", "containers", "ephemeralContainers"]

# Where the pod spec of a workload of this kind lives, as a path
# (in input.changes notation) and as a list of keys.
spec_path(k) := "spec" if k == "Pod"

spec_path(k) := "spec.template.spec" if k in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

spec_path(k) := "spec.jobTemplate.spec.template.spec" if k == "CronJob"

spec_keys(k) := split(spec_path(k), ".")

# The pod specs and containers of this request's objects, as rules: a
# function taking a whole object would make OPA hash (and so convert) the
# object for its call cache, which costs more than all the checks.
new_pod_spec := object.get(input.object, spec_keys(data.driftguard.lib.kind), {}) if input.object else := {}

old_pod_spec := object.get(input.oldObject, spec_keys(data.driftguard.lib.kind), {}) if input.oldObject else := {}

#
# driftguard finds the same containers in Go (input.workload, cheaper than
# walking the pod spec here); the comprehensions are for inputs without
# it (hand-written inputs in Rego unit tests).
new_containers := input.workload.containers if input.workload else := {key: {"type": t, "name": c.name, "path": sprintf("%s.%s[%s]", [spec_path(data.driftguard.lib.kind), t, c.name]), "c": c} |
	some t in container_types
	some c in object.get(new_pod_spec, t, [])
	key := sprintf("%s[%s]", [t, c.name])
}

old_containers := input.workload.oldContainers if input.workload else := {key: {"type": t, "name": c.name, "path": sprintf("%s.%s[%s]", [spec_path(data.driftguard.lib.kind), t, c.name]), "c": c} |
	some t in container_types
	some c in object.get(old_pod_spec, t, [])
	key := sprintf("%s[%s]", [t, c.name])
}

# UPDATE guards: rules that only care about some container fields skip
# the (costly) walk over both objects' containers when the request did
# not change such a field. Paths are input.changes paths.

# The request is not an UPDATE, or its input carries no changes list
# (hand-written inputs): every rule must look at the objects.
unguarded if input.request.operation != "UPDATE"

unguarded if not input.changes

# "<this request's pod spec path>." (a rule: worked out once per query)
spec_prefix := concat("", [input.workload.specPath, "."]) if input.workload else := concat("", [spec_path(data.driftguard.lib.kind), "."])

# A change adds or removes a whole container, replaces a container list,
# or replaces the pod spec or something above it.
# (driftguard works it out in Go, input.workload.structural)
structural_change := input.workload.structural if input.workload else := count([c |
	some c in input.changes
	structural(c.path)
]) > 0

structural(p) if startswith(spec_prefix, concat("", [p, "."]))

structural(p) if {
	some t in container_types
	prefix := concat("", [spec_prefix, t])
	startswith(p, prefix)
	not contains(substring(p, count(prefix), -1), "].")
}

# The container list and name of a change path under the pod spec,
# "<spec path>.<list>[<name>]..." → {"type": <list>, "name": <name>}.
container_ref(p) := {"type": t, "name": name} if {
	prefix := spec_prefix
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
