# Unit tests of externalsecret_owned: hand edits of the data of a Secret
# synced by an ExternalSecret are denied with a pointer to the parameter
# store; ESO itself passes; deleting such a Secret warns. docs/scenarios.md S1, S2.
package driftguard.policies.externalsecret_owned_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.externalsecret_owned
import data.driftguard.policies.owned_fields

denies(inp) := r if {
	r := externalsecret_owned.deny with input as inp with data.driftguard.params as fx.default_params
}

warns(inp) := r if {
	r := externalsecret_owned.warn with input as inp with data.driftguard.params as fx.default_params
}

with_changes(changes) := object.union(fx.es_secret_update, {"changes": changes})

# S1: alice's kubectl edit adds FEATURE_FLAG_ENABLE_AGENTS=True.
test_s1_feature_flag_edit_denied if {
	ds := denies(fx.es_secret_update)
	count(ds) == 1
	some d in ds
	d.field == "data.FEATURE_FLAG_ENABLE_AGENTS"
	d.owner == "api-feature-flags"
	startswith(d.msg, "FEATURE_FLAG_ENABLE_AGENTS (add) of Secret tenant-a/api-feature-flags")
	contains(d.msg, "is synced by ExternalSecret tenant-a/api-feature-flags")
	contains(d.msg, "External Secrets Operator's next sync will overwrite a hand edit")
	contains(d.msg, "Feature flags belong in the parameter store.")
	contains(d.msg, "Change it in the parameter store entries synced by ExternalSecret tenant-a/api-feature-flags")
}

# ... and is the only denial: owned_fields leaves this Secret alone.
test_s1_single_denial_across_policies if {
	count(denies(fx.es_secret_update)) == 1
	count(owned_fields.deny) == 0 with input as fx.es_secret_update with data.driftguard.params as fx.default_params
	count(warns(fx.es_secret_update)) == 0
}

# S2: ESO's service account writes the same change.
test_s2_eso_identity_allowed if {
	count(denies(object.union(fx.es_secret_update, {"actor": fx.eso}))) == 0
}

# A field manager is no identity: alice posing as external-secrets.
test_s2_spoofed_eso_field_manager_denied if {
	count(denies(object.union(fx.es_secret_update, {"actor": fx.alice_with("external-secrets")}))) == 1
}

# Terraform declares the ExternalSecret, not the Secret's values.
test_terraform_identity_denied if {
	count(denies(object.union(fx.es_secret_update, {"actor": fx.terraform_runner}))) == 1
}

test_each_changed_key_denied_and_named if {
	ds := denies(with_changes([
		fx.add_flag_change,
		{"path": "data.database-url", "op": "replace", "managers": ["external-secrets"], "owner": "external-secrets", "via": "managedFields"},
		{"path": "data.FEATURE_FLAG_NEW_UI", "op": "remove", "managers": ["external-secrets"], "owner": "external-secrets", "via": "managedFields"},
	]))
	count(ds) == 3
	{d.field | some d in ds} == {"data.FEATURE_FLAG_ENABLE_AGENTS", "data.database-url", "data.FEATURE_FLAG_NEW_UI"}
	some rm in ds
	rm.field == "data.FEATURE_FLAG_NEW_UI"
	startswith(rm.msg, "FEATURE_FLAG_NEW_UI (remove) of Secret tenant-a/api-feature-flags")
}

# A key that is not a feature flag gets no flag note, and its name is
# given whole (a key starting with "data" must not lose that prefix).
test_non_flag_key_named_without_flag_note if {
	ds := denies(with_changes([{"path": "data.database-url", "op": "replace", "managers": ["external-secrets"], "owner": "external-secrets", "via": "managedFields"}]))
	count(ds) == 1
	some d in ds
	startswith(d.msg, "database-url (replace) of Secret tenant-a/api-feature-flags")
	not contains(d.msg, "Feature flags belong")
	contains(d.msg, "parameter store")
}

# Keys with dots are bracketed in paths (data[config.yaml]); the message
# names the key itself.
test_dotted_key_named if {
	ds := denies(with_changes([{"path": "data[config.yaml]", "op": "add", "managers": [], "owner": "external-secrets", "via": "ownerReference"}]))
	count(ds) == 1
	some d in ds
	d.field == "data[config.yaml]"
	startswith(d.msg, "config.yaml (add) of Secret")
}

# The whole data map added at once is named as such.
test_whole_data_map_named if {
	ds := denies(with_changes([{"path": "data", "op": "add", "managers": [], "owner": "external-secrets", "via": "ownerReference"}]))
	count(ds) == 1
	some d in ds
	startswith(d.msg, "data (add) of Secret")
}

test_type_change_denied if {
	ds := denies(with_changes([{"path": "type", "op": "replace", "managers": ["external-secrets"], "owner": "external-secrets", "via": "managedFields"}]))
	count(ds) == 1
	some d in ds
	d.field == "type"
}

# Metadata (labels, annotations) is not the synced data.
test_metadata_change_allowed if {
	count(denies(with_changes([{"path": "metadata.labels[team]", "op": "add", "managers": [], "owner": "", "via": ""}]))) == 0
}

# A Secret without a controlling ExternalSecret is not this policy's.
test_secret_without_externalsecret_owner_allowed if {
	inp := object.remove(fx.es_secret_update, ["owner"])
	count(denies(inp)) == 0
}

test_non_controller_kind_named_externalsecret_elsewhere_allowed if {
	inp := object.union(fx.es_secret_update, {"owner": {"reference": {"apiVersion": "example.com/v1"}, "group": "example.com"}})
	count(denies(inp)) == 0
}

# DELETE of the synced Secret: a warning, not a denial.
test_delete_by_person_warns if {
	ws := warns(fx.es_secret_delete)
	count(ws) == 1
	some w in ws
	w.field == "(object)"
	w.owner == "api-feature-flags"
	contains(w.msg, "Secret tenant-a/api-feature-flags is synced by ExternalSecret tenant-a/api-feature-flags")
	contains(w.msg, "will recreate it from the parameter store")
	count(denies(fx.es_secret_delete)) == 0
}

test_delete_by_eso_no_warning if {
	count(warns(object.union(fx.es_secret_delete, {"actor": fx.eso}))) == 0
}

test_update_has_no_delete_warning if {
	count(warns(object.union(fx.es_secret_update, {"changes": []}))) == 0
}

# No Secret value (base64 or decoded) appears in any message of any
# bundled policy, for updates and deletes of the Secret.
test_no_secret_value_in_any_message if {
	inputs := [
		fx.es_secret_update,
		with_changes([
			fx.add_flag_change,
			{"path": "data.database-url", "op": "replace", "managers": ["external-secrets"], "owner": "external-secrets", "via": "managedFields"},
			{"path": "data.FEATURE_FLAG_NEW_UI", "op": "remove", "managers": ["external-secrets"], "owner": "external-secrets", "via": "managedFields"},
		]),
		fx.es_secret_delete,
	]
	msgs := {m | some inp in inputs; some m in fx.all_messages(inp, fx.default_params)}

	# 3 denials (the flag's twice, identical), 1 delete warning
	count(msgs) == 4
	every m in msgs {
		every v in fx.secret_values {
			not contains(m, v)
			not contains(m, base64.decode(v))
		}
	}
}
