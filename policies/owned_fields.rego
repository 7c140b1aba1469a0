# Rejects hand edits of fields that a declared owner (Terraform, an
# operator, ESO, GitOps) owns, and deletes of objects a declared owner
# wholly owns. docs/scenarios.md S1-S7, S10, S11, S15 and S18.

# METADATA
# description: >-
#   Reject hand edits of fields owned by a declared owner, naming the
#   owner and where to change them instead.
# custom:
#   kinds: ["*"]
#   operations: [UPDATE, DELETE]
package driftguard.policies.owned_fields

import data.driftguard.lib

params := lib.params("owned_fields", {"ignoredPaths": [], "denyDelete": true})

ignored contains p if some p in params.ignoredPaths

deny_delete := params.denyDelete

# Secrets synced by an ExternalSecret: their data gets the more specific
# answer of the externalsecret_owned policy (other owned fields stay here).
synced_secret if {
	lib.kind == "Secret"
	lib.externalsecret_ref
}

handled_elsewhere(c) if {
	synced_secret
	lib.secret_data_path(c.path)
}

deny contains {"field": c.path, "owner": c.owner, "msg": msg} if {
	input.request.operation == "UPDATE"
	some c in input.changes
	not handled_elsewhere(c)
	c.owner != ""
	c.owner != input.actor.owner
	not ignored[c.path]
	msg := sprintf("%s of %s is owned by %s (%s); %s is not %s's identity%s. Change it in %s instead.", [
		c.path, lib.object_ref, lib.owner_display(c.owner), via_text(c), lib.actor,
		lib.owner_display(c.owner), lib.spoof_note(c), lib.owner_source(c.owner),
	])
}

deny contains {"field": "(object)", "owner": o.name, "msg": msg} if {
	input.request.operation == "DELETE"
	deny_delete
	not synced_secret
	o := input.objectOwner
	o.name != input.actor.owner
	msg := sprintf("%s is owned by %s (%s); %s may not delete it by hand. Remove it from %s instead.", [
		lib.object_ref, lib.owner_display(o.name), via_object_text(o), lib.actor, lib.owner_source(o.name),
	])
}

# (else chains: the cases exclude one another)
via_text(c) := sprintf("managedFields manager %q", [c.managers[0]]) if c.via == "managedFields"
else := "driftguard.io/owner annotation" if c.via == "annotation"
else := sprintf("controlling owner %s %s", [input.owner.reference.kind, input.owner.reference.name]) if c.via == "ownerReference"
else := c.via if not c.via in {"managedFields", "annotation", "ownerReference"}

via_object_text(o) := "its managedFields" if o.via == "managedFields"
else := "driftguard.io/owner annotation" if o.via == "annotation"
else := sprintf("controlling owner %s %s", [input.owner.reference.kind, input.owner.reference.name]) if o.via == "ownerReference"
else := o.via if not o.via in {"managedFields", "annotation", "ownerReference"}

# Drift (audit of live objects): fields a hand-edit manager (kubectl edit,
# patch, set, ...) owns on an object a declared owner manages, outside
# metadata — including edits made before driftguard ran (S12) —
# and hand edits driftguard allowed and recorded (S10, S11).
drift contains {"field": f, "owner": o, "msg": msg} if {
	o := input.objectOwner.name
	some h in input.handEdits
	some f in h.fields
	not startswith(f, "metadata.")
	not ignored[f]
	msg := sprintf("%s of %s is owned by %s (a hand edit) on an object %s manages; re-apply from %s or make the change there.", [
		f, lib.object_ref, h.manager, lib.owner_display(o), lib.owner_source(o),
	])
}

drift contains {"field": f, "owner": e.owner, "msg": msg} if {
	some e in input.driftRecord.edits
	some f in e.fields
	msg := sprintf("%s of %s was changed by hand by %s at %s (%s) and %s has not written it back yet.", [
		f, lib.object_ref, e.by, e.at, e.reason, lib.owner_display(e.owner),
	])
}
