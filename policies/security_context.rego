# Hardened security settings of tenant workloads only ever get stricter:
# an UPDATE that loosens them (runAsNonRoot, readOnlyRootFilesystem,
# allowPrivilegeEscalation, dropped or added capabilities, privileged) is
# denied whoever makes it, and privileged containers are denied on CREATE.
# Docs: docs/policies/security_context.md.

# METADATA
# description: >-
#   Deny updates that loosen the security context of tenant workloads, and
#   privileged tenant containers.
# custom:
#   kinds: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob]
#   operations: [CREATE, UPDATE]
#   changes:
#     - spec.securityContext
#     - spec.template.spec.securityContext
#     - spec.jobTemplate.spec.template.spec.securityContext
#     - spec.containers[*].securityContext
#     - spec.initContainers[*].securityContext
#     - spec.ephemeralContainers[*].securityContext
#     - spec.template.spec.containers[*].securityContext
#     - spec.template.spec.initContainers[*].securityContext
#     - spec.template.spec.ephemeralContainers[*].securityContext
#     - spec.jobTemplate.spec.template.spec.containers[*].securityContext
#     - spec.jobTemplate.spec.template.spec.initContainers[*].securityContext
#     - spec.jobTemplate.spec.template.spec.ephemeralContainers[*].securityContext
package driftguard.policies.security_context

import data.driftguard.lib
import data.driftguard.lib.workloads

params := lib.params("security_context", {"tenantNamespaces": ["tenant-*"]})

tenant if lib.matches_any(params.tenantNamespaces, input.request.namespace)

update if input.request.operation == "UPDATE"

# Only a request that touches a security context, or adds or removes
# containers, can loosen one: other UPDATEs (an image, replicas) skip
# the walk over both objects' containers.
relevant if workloads.unguarded

relevant if workloads.structural_change

relevant if {
	some c in input.changes
	contains(c.path, "securityContext")
}

spec_path := workloads.spec_path(lib.kind)

new_spec := workloads.new_pod_spec

old_spec := workloads.old_pod_spec

new_containers := workloads.new_containers

old_containers := workloads.old_containers

new_pod_sc := object.get(new_spec, "securityContext", {})

old_pod_sc := object.get(old_spec, "securityContext", {})

sc(c) := object.get(c, "securityContext", {})

# runAsNonRoot of a container: its own, else the pod's.
effective_non_root(c) := sc(c).runAsNonRoot

effective_non_root(c) := object.get(new_pod_sc, "runAsNonRoot", null) if not "runAsNonRoot" in object.keys(sc(c))

shown(v) := "removed" if v == null

shown(v) := sprintf("%v", [v]) if v != null

deny_msg(field, what) := sprintf("%s of %s: %s (by %s). Hardened security settings of tenant workloads may only get stricter; keep the old value.%s", [
	field, lib.object_ref, what, lib.actor, lib.owner_hint,
])

# Pod level: runAsNonRoot true -> false or removed.
deny contains {"field": field, "owner": lib.object_owner, "msg": deny_msg(field, what)} if {
	tenant
	update
	relevant
	old_pod_sc.runAsNonRoot == true
	v := object.get(new_pod_sc, "runAsNonRoot", null)
	v != true
	field := sprintf("%s.securityContext.runAsNonRoot", [spec_path])
	what := sprintf("runAsNonRoot of the pod loosened from true to %s", [shown(v)])
}

# Container level: runAsNonRoot true -> not true (the pod's value counts when the container's is removed).
deny contains {"field": field, "owner": lib.object_owner, "msg": deny_msg(field, what)} if {
	tenant
	update
	relevant
	some key, o in old_containers
	sc(o.c).runAsNonRoot == true
	n := new_containers[key]
	v := effective_non_root(n.c)
	v != true
	field := sprintf("%s.securityContext.runAsNonRoot", [n.path])
	what := sprintf("runAsNonRoot of container %s loosened from true to %s", [n.name, shown(v)])
}

# Container level: readOnlyRootFilesystem true -> not true.
deny contains {"field": field, "owner": lib.object_owner, "msg": deny_msg(field, what)} if {
	tenant
	update
	relevant
	some key, o in old_containers
	sc(o.c).readOnlyRootFilesystem == true
	n := new_containers[key]
	v := object.get(sc(n.c), "readOnlyRootFilesystem", null)
	v != true
	field := sprintf("%s.securityContext.readOnlyRootFilesystem", [n.path])
	what := sprintf("readOnlyRootFilesystem of container %s loosened from true to %s", [n.name, shown(v)])
}

# Container level: allowPrivilegeEscalation false -> not false.
deny contains {"field": field, "owner": lib.object_owner, "msg": deny_msg(field, what)} if {
	tenant
	update
	relevant
	some key, o in old_containers
	sc(o.c).allowPrivilegeEscalation == false
	n := new_containers[key]
	v := object.get(sc(n.c), "allowPrivilegeEscalation", null)
	v != false
	field := sprintf("%s.securityContext.allowPrivilegeEscalation", [n.path])
	what := sprintf("allowPrivilegeEscalation of container %s loosened from false to %s", [n.name, shown(v)])
}

caps(c, list) := {upper(x) | some x in object.get(sc(c), ["capabilities", list], [])}

# A capability the container dropped is no longer dropped (ALL included).
deny contains {"field": field, "owner": lib.object_owner, "msg": deny_msg(field, what)} if {
	tenant
	update
	relevant
	some key, o in old_containers
	n := new_containers[key]
	some cap in caps(o.c, "drop") - caps(n.c, "drop")
	field := sprintf("%s.securityContext.capabilities.drop", [n.path])
	what := sprintf("container %s no longer drops capability %s", [n.name, cap])
}

# A capability is added to a container that did not have it.
deny contains {"field": field, "owner": lib.object_owner, "msg": deny_msg(field, what)} if {
	tenant
	update
	relevant
	some key, n in new_containers
	old := object.get(old_containers, [key, "c"], {})
	some cap in caps(n.c, "add") - caps(old, "add")
	field := sprintf("%s.securityContext.capabilities.add", [n.path])
	what := sprintf("container %s gains capability %s", [n.name, cap])
}

# privileged: true on CREATE, or set by an UPDATE (e.g. on a new container).
deny contains {"field": field, "owner": lib.object_owner, "msg": msg} if {
	tenant
	relevant
	some key, n in new_containers
	sc(n.c).privileged == true
	object.get(old_containers, [key, "c", "securityContext", "privileged"], false) != true
	field := sprintf("%s.securityContext.privileged", [n.path])
	msg := sprintf("%s of %s: container %s is privileged (by %s); tenant workloads may not run privileged containers. Grant the specific capability it needs instead, or run it outside tenant namespaces.%s", [
		field, lib.object_ref, n.name, lib.actor, lib.owner_hint,
	])
}
