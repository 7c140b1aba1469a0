# Warns when a change will be reverted by a higher-level owner: the
# controlling owner's reconciler (Deployment→ReplicaSet, metacontroller
# parents such as a profile Namespace, ExternalSecret→Secret) or a GitOps
# controller tracking the object. docs/scenarios.md S8 and S9.

# METADATA
# description: >-
#   Warn on image changes that the controlling owner or a GitOps
#   controller will revert, naming the owner and the real source.
# custom:
#   kinds: ["*"]
#   operations: [UPDATE]
package driftguard.policies.revert_warning

import data.driftguard.lib

# Warnings are for hand edits: people, and declared owners (e.g. the
# Terraform runner) writing an object some other owner reconciles.
# Controllers reconciling, including the owner's own identity, are not told.
hand_edit if input.actor.person

hand_edit if {
	not input.actor.person
	input.actor.owner != ""
	input.actor.owner != object.get(input.owner, "declared", "")
}

image_changes contains c if {
	some c in input.changes
	lib.image_path(c.path)
}

warn contains {"field": c.path, "owner": owner_ref, "msg": msg} if {
	rec := input.owner.reconciler
	rec.reconciles == true
	hand_edit
	some c in image_changes
	ref := input.owner.reference
	owner_ref := sprintf("%s/%s", [ref.kind, ref.name])
	msg := sprintf("%s of %s will be reverted: its controlling owner is %s, reconciled by %s. Change %s instead.", [
		c.path, lib.object_ref, owner_ref, rec.name, rec.source,
	])
}

# A scale of a ReplicaSet that a Deployment controls: the Deployment
# controller sets its replicas back (input.parent: the object a scale
# request writes to, read from the cluster).
warn contains {"field": c.path, "owner": owner_ref, "msg": msg} if {
	input.parent.kind == "ReplicaSet"
	ref := input.owner.reference
	ref.kind == "Deployment"
	rec := input.owner.reconciler
	rec.reconciles == true
	hand_edit
	some c in input.changes
	c.path == "spec.replicas"
	owner_ref := sprintf("%s/%s", [ref.kind, ref.name])
	msg := sprintf("%s of %s will be reverted: its controlling owner is %s, reconciled by %s. Scale Deployment %s/%s instead.", [
		c.path, lib.object_ref, owner_ref, rec.name, input.request.namespace, ref.name,
	])
}

# Flux: a Kustomization that applies the object reverts it unless
# reconciliation is disabled on the object.
warn contains {"field": c.path, "owner": owner_ref, "msg": msg} if {
	labels := lib.labels
	name := labels["kustomize.toolkit.fluxcd.io/name"]
	ns := object.get(labels, "kustomize.toolkit.fluxcd.io/namespace", "flux-system")
	object.get(lib.annotations, "kustomize.toolkit.fluxcd.io/reconcile", "") != "disabled"
	hand_edit
	some c in image_changes
	owner_ref := sprintf("Kustomization/%s", [name])
	msg := sprintf("%s of %s will be reverted: Flux Kustomization %s/%s applies this object. Change it in that Kustomization's Git source instead.", [c.path, lib.object_ref, ns, name])
}

# Argo CD: the tracking annotation names the Application; it reverts
# only with self-heal, which the object does not show, so say so.
warn contains {"field": c.path, "owner": owner_ref, "msg": msg} if {
	tid := object.get(lib.annotations, "argocd.argoproj.io/tracking-id", "")
	tid != ""
	app := split(tid, ":")[0]
	hand_edit
	some c in image_changes
	owner_ref := sprintf("Application/%s", [app])
	msg := sprintf("%s of %s is tracked by Argo CD Application %s; it shows as OutOfSync and is reverted if self-heal is on. Change it in the Application's Git source instead.", [c.path, lib.object_ref, app])
}

# Repeat offenders: a field of this object that was reverted lately
# (input.reverts: what the audit leader observed, read from driftguard's
# reports) is being changed again by hand. Any field, not only images:
# the revert was seen, not predicted.
warn contains {"field": r.field, "owner": concat(",", r.by), "msg": msg} if {
	hand_edit
	some r in input.reverts
	msg := sprintf("%s of %s was reverted %d time(s) in the last hour by %s; this edit will likely be reverted too. Change the source that %s reconciles from instead.", [
		r.field, lib.object_ref, r.count, concat(", ", r.by), concat(", ", r.by),
	])
}
