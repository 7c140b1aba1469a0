# Unit tests of owned_fields: hand edits of fields owned by a declared
# owner are denied; the owner's identity, unowned and ignored fields
# pass; deletes of wholly owned objects are denied unless the owner
# deletes or params.owned_fields.denyDelete is false. docs/scenarios.md S1, S3-S7, S18.
package driftguard.policies.owned_fields_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.owned_fields

denies(inp) := r if {
	r := owned_fields.deny with input as inp with data.driftguard.params as fx.default_params
}

# S3: alice's kubectl set image of the Terraform-owned image.
test_s3_terraform_owned_image_denied if {
	ds := denies(fx.tf_image_update)
	count(ds) == 1
	some d in ds
	d.field == "spec.template.spec.containers[api].image"
	d.owner == "terraform"
	contains(d.msg, "spec.template.spec.containers[api].image of Deployment tenant-a/api")
	contains(d.msg, "is owned by Terraform")
	contains(d.msg, `managedFields manager "Terraform"`)
	contains(d.msg, "alice is not Terraform's identity")
	contains(d.msg, "Change it in the tenant's Terraform module for Deployment tenant-a/api")
	not contains(d.msg, "--field-manager")
}

# S4: the Terraform runner applies the same change.
test_s4_terraform_identity_allowed if {
	count(denies(object.union(fx.tf_image_update, {"actor": fx.terraform_runner}))) == 0
}

# S5: --field-manager=Terraform does not make alice Terraform.
test_s5_spoofed_field_manager_denied if {
	ds := denies(object.union(fx.tf_image_update, {"actor": fx.alice_with("Terraform")}))
	count(ds) == 1
	some d in ds
	d.field == fx.image_path
	d.owner == "terraform"
	contains(d.msg, "alice is not Terraform's identity")
	contains(d.msg, "--field-manager=Terraform does not make alice that owner")
}

# A field manager named like another owner's manager is still spoofing
# only for the managers that own the changed field.
test_s5_field_manager_of_other_owner_not_called_spoof if {
	ds := denies(object.union(fx.tf_image_update, {"actor": fx.alice_with("external-secrets")}))
	count(ds) == 1
	some d in ds
	not contains(d.msg, "--field-manager")
}

# Another declared owner's identity is not Terraform's identity either.
test_other_owner_identity_denied if {
	ds := denies(object.union(fx.tf_image_update, {"actor": fx.eso}))
	count(ds) == 1
	some d in ds
	contains(d.msg, "system:serviceaccount:external-secrets:external-secrets is not Terraform's identity")
}

# S6: kubectl rollout restart of a Deployment owned through the
# driftguard.io/owner annotation; only the restartedAt annotation of the
# pod template changes, and params.owned_fields.ignoredPaths skips it.
restart_input := object.union(fx.tf_image_update, {
	"actor": fx.alice_with("kubectl-rollout"),
	"changes": [{
		"path": "spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]",
		"op": "add",
		"managers": [],
		"owner": "terraform",
		"via": "annotation",
	}],
	"objectOwner": {"name": "terraform", "via": "annotation"},
})

test_s6_rollout_restart_allowed_by_ignored_paths if {
	count(denies(restart_input)) == 0
}

# The allow comes from the param: without it the same change is denied.
test_s6_restart_denied_without_ignored_paths if {
	ds := owned_fields.deny with input as restart_input
		with data.driftguard.params as {"owned_fields": {"ignoredPaths": []}}
	count(ds) == 1
	some d in ds
	d.field == "spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]"
	contains(d.msg, "(driftguard.io/owner annotation)")
}

test_s6_ignored_path_skips_only_that_change if {
	inp := object.union(restart_input, {"changes": array.concat(restart_input.changes, [fx.tf_image_change])})
	ds := denies(inp)
	count(ds) == 1
	some d in ds
	d.field == fx.image_path
}

# S7: kubectl scale / an edit of fields no declared owner manages.
test_s7_unowned_fields_allowed if {
	inp := object.union(fx.tf_image_update, {
		"actor": fx.alice_with("kubectl-edit"),
		"changes": [
			{"path": "metadata.labels", "op": "add", "managers": [], "owner": "", "via": ""},
			{"path": "spec.minReadySeconds", "op": "add", "managers": [], "owner": "", "via": ""},
		],
	})
	count(denies(inp)) == 0
}

test_s7_field_of_undeclared_manager_allowed if {
	inp := object.union(fx.tf_image_update, {
		"actor": fx.alice_with("kubectl-scale"),
		"changes": [{"path": "spec.replicas", "op": "replace", "managers": ["kubectl-scale"], "owner": "", "via": ""}],
	})
	count(denies(inp)) == 0
}

test_only_owned_changes_denied if {
	inp := object.union(fx.tf_image_update, {"changes": [
		{"path": "metadata.labels[team]", "op": "add", "managers": [], "owner": "", "via": ""},
		fx.tf_image_change,
		{"path": "spec.replicas", "op": "replace", "managers": ["Terraform"], "owner": "terraform", "via": "managedFields"},
	]})
	ds := denies(inp)
	count(ds) == 2
	{d.field | some d in ds} == {fx.image_path, "spec.replicas"}
}

# Ownership through a controlling ownerReference to a declared owner kind
# (a tenant operator's Database owning its credentials Secret).
test_owner_reference_owned_field_denied if {
	inp := {
		"request": fx.request("", "Secret", "secrets", "tenant-a", "api-db-credentials", "UPDATE"),
		"object": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-db-credentials", "namespace": "tenant-a"}, "data": {"password": "aHVudGVyMg=="}},
		"oldObject": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-db-credentials", "namespace": "tenant-a"}, "data": {"password": "c3dvcmRmaXNo"}},
		"actor": fx.alice_with("kubectl-edit"),
		"changes": [{"path": "data.password", "op": "replace", "managers": [], "owner": "tenant-operator", "via": "ownerReference"}],
		"owners": {"tenant-operator": {"display": "Tenant operator", "source": "the Database tenant-a/api-db"}},
		"objectOwner": {"name": "tenant-operator", "via": "ownerReference"},
		"owner": {
			"reference": {"apiVersion": "db.acme.io/v1", "kind": "Database", "name": "api-db", "uid": "u-db"},
			"group": "db.acme.io",
			"declared": "tenant-operator",
		},
	}
	ds := denies(inp)
	count(ds) == 1
	some d in ds
	d.owner == "tenant-operator"
	contains(d.msg, "data.password of Secret tenant-a/api-db-credentials is owned by Tenant operator (controlling owner Database api-db)")
	contains(d.msg, "Change it in the Database tenant-a/api-db instead.")
	not contains(d.msg, "aHVudGVyMg==")
	not contains(d.msg, "hunter2")
}

# Cluster-scoped objects are named without a namespace.
test_cluster_scoped_object_ref if {
	inp := object.union(fx.tf_image_update, {
		"request": fx.request("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", "", "tenant-a-reader", "UPDATE"),
		"changes": [{"path": "rules", "op": "replace", "managers": ["Terraform"], "owner": "terraform", "via": "managedFields"}],
	})
	ds := denies(inp)
	count(ds) == 1
	some d in ds
	contains(d.msg, "rules of ClusterRole tenant-a-reader is owned by Terraform")
}

# S1: an ESO-synced Secret gets externalsecret_owned's answer,
# not a second denial from owned_fields.
test_s1_externalsecret_secret_left_to_externalsecret_owned if {
	count(denies(fx.es_secret_update)) == 0
}

# owned_fields only answers UPDATE and DELETE.
test_create_not_denied if {
	inp := object.union(fx.tf_image_update, {"request": {"operation": "CREATE"}})
	count(denies(inp)) == 0
}

# S18: DELETE of an object wholly owned by Terraform.
test_s18_delete_by_person_denied if {
	ds := denies(fx.tf_deployment_delete)
	count(ds) == 1
	some d in ds
	d.field == "(object)"
	d.owner == "terraform"
	contains(d.msg, "Deployment tenant-a/api is owned by Terraform (its managedFields)")
	contains(d.msg, "alice may not delete it by hand")
	contains(d.msg, "Remove it from the tenant's Terraform module for Deployment tenant-a/api")
}

test_s18_delete_by_owner_identity_allowed if {
	count(denies(object.union(fx.tf_deployment_delete, {"actor": fx.terraform_runner}))) == 0
}

test_s18_delete_allowed_when_deny_delete_false if {
	ds := owned_fields.deny with input as fx.tf_deployment_delete
		with data.driftguard.params as {"owned_fields": {"denyDelete": false}}
	count(ds) == 0
}

# denyDelete defaults to true when the policy has no params.
test_s18_deny_delete_defaults_to_true if {
	ds := owned_fields.deny with input as fx.tf_deployment_delete with data.driftguard.params as {}
	count(ds) == 1
}

test_s18_delete_annotation_owned_denied if {
	inp := object.union(fx.tf_deployment_delete, {"objectOwner": {"name": "terraform", "via": "annotation"}})
	ds := denies(inp)
	count(ds) == 1
	some d in ds
	contains(d.msg, "is owned by Terraform (driftguard.io/owner annotation)")
}

test_s18_delete_unowned_object_allowed if {
	count(denies(object.remove(fx.tf_deployment_delete, ["objectOwner"]))) == 0
}

# Deleting an ESO-synced Secret is externalsecret_owned's (warning) answer.
test_s18_delete_externalsecret_secret_not_denied if {
	count(denies(fx.es_secret_delete)) == 0
}
