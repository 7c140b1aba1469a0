# Unit tests of the shared helpers in driftguard.lib.
package driftguard.lib_test

import data.driftguard.lib
import data.driftguard.lib.fixtures_test as fx

test_image_path_matches_container_images if {
	lib.image_path("spec.template.spec.containers[api].image")
	lib.image_path("spec.template.spec.initContainers[init-db].image")
	lib.image_path("spec.ephemeralContainers[debugger-x7k2p].image")
	lib.image_path("spec.jobTemplate.spec.template.spec.containers[cron].image")
	lib.image_path("spec.containers[app].image") # a Pod
}

test_image_path_rejects_other_fields if {
	not lib.image_path("spec.template.spec.containers[api].imagePullPolicy")
	not lib.image_path("spec.template.spec.containers[api].env[IMAGE].value")
	not lib.image_path("spec.template.spec.containers")
	not lib.image_path("metadata.annotations[image]")
	not lib.image_path("spec.template.spec.sidecarcontainers[x].image")
}

test_secret_data_path_is_data_stringdata_or_type if {
	lib.secret_data_path("data")
	lib.secret_data_path("data.password")
	lib.secret_data_path("data[tls.crt]")
	lib.secret_data_path("stringData.token")
	lib.secret_data_path("type")
	not lib.secret_data_path("dataX")
	not lib.secret_data_path("stringDataBackup.token")
	not lib.secret_data_path("metadata.labels.data")
}

test_object_ref_namespaced if {
	lib.object_ref == "Deployment tenant-a/api" with input as fx.tf_image_update
}

test_object_ref_cluster_scoped if {
	lib.object_ref == "Namespace admin" with input as {"request": fx.request("", "Namespace", "namespaces", "", "admin", "UPDATE")}
}

# DELETE carries only oldObject; obj falls back to it.
test_obj_is_old_object_on_delete if {
	lib.obj == fx.tf_deployment_old with input as fx.tf_deployment_delete
	lib.obj == fx.tf_deployment_new with input as fx.tf_image_update
}

test_owner_display_and_source if {
	lib.owner_display("terraform") == "Terraform" with input as fx.tf_image_update
	lib.owner_source("terraform") == "the tenant's Terraform module for Deployment tenant-a/api (terraform plan/apply from the tenant repository)" with input as fx.tf_image_update
}

test_owner_display_and_source_fallback_for_unknown_owner if {
	lib.owner_display("tenant-operator") == "tenant-operator" with input as fx.tf_image_update
	lib.owner_source("tenant-operator") == "the owner's source of truth" with input as fx.tf_image_update
}

test_spoof_note_when_field_manager_owns_the_field if {
	note := lib.spoof_note(fx.tf_image_change) with input as object.union(fx.tf_image_update, {"actor": fx.alice_with("Terraform")})
	note == " (--field-manager=Terraform does not make alice that owner: the authenticated user decides)"
}

test_no_spoof_note_otherwise if {
	lib.spoof_note(fx.tf_image_change) == "" with input as fx.tf_image_update
	lib.spoof_note(fx.tf_image_change) == "" with input as object.union(fx.tf_image_update, {"actor": fx.alice_with("")})
}

test_externalsecret_ref if {
	ref := lib.externalsecret_ref with input as fx.es_secret_update
	ref.name == "api-feature-flags"
	not lib.externalsecret_ref with input as fx.tf_image_update
	not lib.externalsecret_ref with input as object.union(fx.es_secret_update, {"owner": {"reference": {"apiVersion": "example.com/v1"}}})
}

# A subresource request names the object it writes to, not the Scale.
test_object_ref_scale_subresource if {
	scale := {
		"request": fx.request("autoscaling", "Scale", "deployments", "tenant-a", "api", "UPDATE"),
		"parent": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "tenant-a", "name": "api", "subResource": "scale"},
	}
	lib.object_ref == "Deployment tenant-a/api (scale subresource)" with input as scale
}
