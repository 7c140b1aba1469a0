package driftguard.policies.operator_state_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.operator_state

tenant_operator := {
	"username": "system:serviceaccount:operators:tenant-operator",
	"groups": ["system:serviceaccounts", "system:serviceaccounts:operators", "system:authenticated"],
	"serviceAccount": {"namespace": "operators", "name": "tenant-operator"},
	"owner": "",
	"person": false,
}

kopf_key := "kopf.zalando.org/last-handled-configuration"

database := {
	"apiVersion": "acme.io/v1",
	"kind": "Database",
	"metadata": {"name": "api-db", "namespace": "tenant-a", "annotations": {kopf_key: "{\"spec\":{}}"}},
	"spec": {"size": "small"},
	"status": {"phase": "Ready"},
}

update(kind, obj, old, actor, changes) := {
	"request": {"kind": {"group": "", "version": "v1", "kind": kind}, "operation": "UPDATE", "namespace": "tenant-a", "name": obj.metadata.name},
	"object": obj,
	"oldObject": old,
	"actor": actor,
	"changes": changes,
}

ch(path, op) := {"path": path, "op": op, "managers": [], "owner": "", "via": ""}

kopf_removed := [ch(sprintf("metadata.annotations[%s]", [kopf_key]), "remove")]

test_person_removing_bookkeeping_is_denied if {
	ds := operator_state.deny with input as update("Database", json.remove(database, ["metadata/annotations"]), database, fx.alice, kopf_removed)
	count(ds) == 1
	some d in ds
	d.field == "metadata.annotations[kopf.zalando.org/last-handled-configuration]"
	contains(d.msg, "removed by alice")
	contains(d.msg, "Database tenant-a/api-db")
}

test_terraform_editing_bookkeeping_is_denied if {
	count(operator_state.deny) == 1 with input as update("Database", database, database, fx.terraform_runner, [ch(sprintf("metadata.annotations[%s]", [kopf_key]), "replace")])
}

test_operator_may_write_bookkeeping if {
	count(operator_state.deny) == 0 with input as update("Database", database, database, tenant_operator, kopf_removed)
}

test_status_of_operator_object_is_denied if {
	ds := operator_state.deny with input as update("Database", database, database, fx.alice, [ch("status.phase", "replace"), ch("status.message", "add")])
	count(ds) == 1
	some d in ds
	d.field == "status.message"
	contains(d.msg, "status.message, status.phase of Database tenant-a/api-db")
}

test_status_of_other_objects_is_not_ours if {
	plain := json.remove(database, ["metadata/annotations"])
	count(operator_state.deny) == 0 with input as update("Database", plain, plain, fx.alice, [ch("status.phase", "replace")])
}

test_operator_writes_status if {
	count(operator_state.deny) == 0 with input as update("Database", database, database, tenant_operator, [ch("status.phase", "replace")])
}

test_other_annotations_are_fine if {
	count(operator_state.deny) == 0 with input as update("Database", database, database, fx.alice, [ch("metadata.annotations.note", "add")])
}

test_configured_prefixes_and_identities if {
	changes := [ch("metadata.annotations[acme.io/state]", "replace")]
	p := {"operator_state": {"annotationPrefixes": ["acme.io/"], "operatorIdentities": ["alice"]}}
	count(operator_state.deny) == 0 with input as update("Database", database, database, fx.alice, changes) with data.driftguard.params as p
	count(operator_state.deny) == 1 with input as update("Database", database, database, fx.terraform_runner, changes) with data.driftguard.params as p
}

# Credential Secrets.
secret(annotations) := {
	"apiVersion": "v1",
	"kind": "Secret",
	"metadata": {"name": "api-db-credentials", "namespace": "tenant-a", "labels": {"driftguard.io/credentials": "true"}, "annotations": annotations},
	"data": {"password": "czNjcjN0", "username": "YXBp"},
}

test_password_change_is_denied_without_rotation if {
	ds := operator_state.deny with input as update("Secret", secret({}), secret({}), tenant_operator, [ch("data.password", "replace")])
	count(ds) == 1
	some d in ds
	d.field == "data.password"
	contains(d.msg, "key password of credential Secret tenant-a/api-db-credentials is changed by system:serviceaccount:operators:tenant-operator")
	contains(d.msg, "driftguard.io/rotation")
	not contains(d.msg, "czNjcjN0")
	not contains(d.msg, "s3cr3t")
}

test_rotation_annotation_allows if {
	count(operator_state.deny) == 0 with input as update("Secret", secret({"driftguard.io/rotation": "INC-7"}), secret({}), fx.alice, [ch("data.password", "replace"), ch("metadata.annotations[driftguard.io/rotation]", "add")])
}

test_empty_rotation_annotation_does_not if {
	count(operator_state.deny) == 1 with input as update("Secret", secret({"driftguard.io/rotation": ""}), secret({}), fx.alice, [ch("data.password", "replace")])
}

test_other_keys_and_unlabelled_secrets_are_fine if {
	count(operator_state.deny) == 0 with input as update("Secret", secret({}), secret({}), fx.alice, [ch("data.username", "replace")])
	plain := json.remove(secret({}), ["metadata/labels"])
	count(operator_state.deny) == 0 with input as update("Secret", plain, plain, fx.alice, [ch("data.password", "replace")])
}

test_removing_the_label_with_the_password_is_still_denied if {
	new := json.remove(secret({}), ["metadata/labels"])
	count(operator_state.deny) == 1 with input as update("Secret", new, secret({}), fx.alice, [ch("data.password", "remove"), ch("metadata.labels[driftguard.io/credentials]", "remove")])
}

test_bracketed_password_key if {
	count(operator_state.deny) == 1 with input as update("Secret", secret({}), secret({}), fx.alice, [ch("data[db.password]", "add")]) with data.driftguard.params as {"operator_state": {"passwordKeys": ["db.password"]}}
}
