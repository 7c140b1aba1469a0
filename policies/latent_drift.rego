# Latent drift: a change that is accepted but takes effect later, or
# never. StatefulSets and DaemonSets with updateStrategy OnDelete replace
# no pod until someone deletes it; a hand edit of a pod they own is never
# reconciled (the controller compares revision hashes, not specs), so the
# pod silently differs from its template until it is recreated.

# METADATA
# description: >-
#   Warn on template changes of OnDelete StatefulSets/DaemonSets (no pod
#   is replaced) and on hand edits of pods they own (kept silently until
#   the pod is recreated).
# custom:
#   kinds: [Pod, StatefulSet, DaemonSet]
#   operations: [UPDATE]
#   changes:
#     - spec
package driftguard.policies.latent_drift

import data.driftguard.lib
import data.driftguard.lib.paths

params := lib.params("latent_drift", {"parentKinds": ["StatefulSet", "DaemonSet"]})

# A hand edit of a Pod whose controlling owner is a StatefulSet or DaemonSet.
pod_changes := sort([c.path |
	some c in input.changes
	paths.under(c.path, "spec")
])

warn contains {"field": pod_changes[0], "owner": owner_ref, "msg": msg} if {
	input.request.kind.kind == "Pod"
	input.actor.person
	ref := input.owner.reference
	ref.kind in params.parentKinds
	count(pod_changes) > 0
	owner_ref := sprintf("%s/%s", [ref.kind, ref.name])
	msg := sprintf("%s of %s is a hand edit of a pod owned by %s: the controller does not reconcile it (and with updateStrategy OnDelete replaces nothing), so this pod silently differs from the %s's template until it is deleted and recreated, when the edit is lost. Change the %s's pod template instead.", [
		lib.short_list(pod_changes), lib.object_ref, owner_ref, ref.kind, ref.kind,
	])
}

# A template change of an OnDelete StatefulSet or DaemonSet.
template_changes := sort([c.path |
	some c in input.changes
	paths.under(c.path, "spec.template")
])

on_delete if input.object.spec.updateStrategy.type == "OnDelete"

warn contains {"field": template_changes[0], "owner": lib.object_owner, "msg": msg} if {
	input.request.kind.kind in {"StatefulSet", "DaemonSet"}
	on_delete
	count(template_changes) > 0
	msg := sprintf("%s of %s changes the pod template, but spec.updateStrategy.type is OnDelete: no pods are replaced until they are deleted, so the change is latent drift. Delete the pods (one at a time) to roll it out, or switch to RollingUpdate.", [
		lib.short_list(template_changes), lib.object_ref,
	])
}

# Audit: an OnDelete workload whose pods are not all on the current template.
drift contains {"field": "spec.updateStrategy.type", "msg": msg} if {
	input.request.kind.kind == "StatefulSet"
	on_delete
	st := input.object.status
	st.updateRevision != st.currentRevision
	msg := sprintf("%s uses updateStrategy OnDelete and %d of %d pods still run revision %s, not %s: the template change is latent until they are deleted.", [
		lib.object_ref, object.get(st, "replicas", 0) - object.get(st, "updatedReplicas", 0), object.get(st, "replicas", 0), st.currentRevision, st.updateRevision,
	])
}

drift contains {"field": "spec.updateStrategy.type", "msg": msg} if {
	input.request.kind.kind == "DaemonSet"
	on_delete
	st := input.object.status
	object.get(st, "updatedNumberScheduled", 0) < object.get(st, "desiredNumberScheduled", 0)
	msg := sprintf("%s uses updateStrategy OnDelete and %d of %d pods do not run the current template: the change is latent until they are deleted.", [
		lib.object_ref, st.desiredNumberScheduled - object.get(st, "updatedNumberScheduled", 0), st.desiredNumberScheduled,
	])
}
