package driftguard.policies.feature_flags_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.feature_flags

flag_path := "spec.template.spec.containers[api].env[FEATURE_FLAG_X]"

change(path, op, owner) := {"path": path, "op": op, "managers": [], "owner": owner, "via": "managedFields"}

update(actor, changes) := object.union(fx.tf_image_update, {"actor": actor, "changes": changes})

test_alice_adds_a_flag_on_a_terraform_deployment_is_denied if {
	ds := feature_flags.deny with input as update(fx.alice, [change(flag_path, "add", "")])
	count(ds) == 1
	some d in ds
	d.field == flag_path
	d.owner == "terraform"
	contains(d.msg, "feature flags belong in the parameter store: add FEATURE_FLAG_X to ExternalSecret tenant-a/api-feature-flags")
	contains(d.msg, "Deployment tenant-a/api (add by alice) is managed by Terraform")
}

test_changing_a_flag_value_is_denied_with_change if {
	ds := feature_flags.deny with input as update(fx.alice, [change(concat("", [flag_path, ".value"]), "replace", "terraform")])
	some d in ds
	contains(d.msg, "change FEATURE_FLAG_X in ExternalSecret tenant-a/api-feature-flags")
}

test_init_container_flag_is_denied if {
	p := "spec.template.spec.initContainers[migrate].env[FEATURE_FLAG_Y]"
	count(feature_flags.deny) == 1 with input as update(fx.alice, [change(p, "add", "")])
}

test_the_owner_may_set_flags if {
	count(feature_flags.deny) == 0 with input as update(fx.terraform_runner, [change(flag_path, "add", "")])
}

test_other_env_vars_are_left_to_other_policies if {
	p := "spec.template.spec.containers[api].env[LOG_LEVEL]"
	count(feature_flags.deny) == 0 with input as update(fx.alice, [change(p, "add", "")])
}

test_removing_a_flag_is_not_this_policys_business if {
	count(feature_flags.deny) == 0 with input as update(fx.alice, [change(flag_path, "remove", "")])
}

test_unowned_workloads_are_free if {
	inp := object.remove(update(fx.alice, [change(flag_path, "add", "")]), ["objectOwner"])
	count(feature_flags.deny) == 0 with input as inp
}

test_field_owner_counts_without_object_owner if {
	inp := object.remove(update(fx.alice, [change(flag_path, "replace", "terraform")]), ["objectOwner"])
	count(feature_flags.deny) == 1 with input as inp
}

test_params_prefixes_and_external_secret_name if {
	p := "spec.template.spec.containers[api].env[FF_BETA]"
	params := {"feature_flags": {"prefixes": ["FF_"], "flagsExternalSecret": "flags-{name}"}}
	ds := feature_flags.deny with input as update(fx.alice, [change(p, "add", "")]) with data.driftguard.params as params
	some d in ds
	contains(d.msg, "add FF_BETA to ExternalSecret tenant-a/flags-api")
	count(feature_flags.deny) == 0 with input as update(fx.alice, [change(flag_path, "add", "")]) with data.driftguard.params as params
}
