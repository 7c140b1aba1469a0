package driftguard.policies.tenancy_guard_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.tenancy_guard

default_admins := {"users": [], "groups": ["system:masters"], "serviceAccounts": []}

ns(labels) := {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": labels}}

ns_update(old_labels, new_labels, actor) := {
	"request": {"kind": {"group": "", "version": "v1", "kind": "Namespace"}, "operation": "UPDATE", "namespace": "team-a", "name": "team-a"},
	"oldObject": ns(old_labels),
	"object": ns(new_labels),
	"actor": actor,
	"changes": [{"path": "metadata.labels[driftguard.io/tenant]", "op": "replace", "managers": [], "owner": "", "via": ""}],
	"admins": default_admins,
}

tenant := {"driftguard.io/tenant": "true", "kubernetes.io/metadata.name": "team-a"}

plain := {"kubernetes.io/metadata.name": "team-a"}

alice := object.union(fx.alice, {"admin": false})

root := object.union(fx.alice, {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"], "admin": true})

test_removing_the_tenant_label_is_denied if {
	ds := tenancy_guard.deny with input as ns_update(tenant, plain, alice)
	count(ds) == 1
	some d in ds
	d.field == "metadata.labels[driftguard.io/tenant]"
	contains(d.msg, "metadata.labels[driftguard.io/tenant] of Namespace team-a removes the tenant label driftguard.io/tenant=true (by alice)")
	contains(d.msg, "Tenant namespaces are enforced and fail closed")
	contains(d.msg, "Only driftguard admins may change or remove it (groups system:masters)")
}

test_changing_the_tenant_label_is_denied if {
	ds := tenancy_guard.deny with input as ns_update(tenant, object.union(plain, {"driftguard.io/tenant": "false"}), alice)
	some d in ds
	contains(d.msg, `changes the tenant label driftguard.io/tenant from "true" to "false"`)
}

test_admins_may_opt_out if {
	count(tenancy_guard.deny) == 0 with input as ns_update(tenant, plain, root)
}

test_opting_in_and_other_labels_are_allowed if {
	count(tenancy_guard.deny) == 0 with input as ns_update(plain, tenant, alice)
	count(tenancy_guard.deny) == 0 with input as ns_update(tenant, object.union(tenant, {"team": "x"}), alice)

	# a namespace that was not a tenant may have the label changed freely
	count(tenancy_guard.deny) == 0 with input as ns_update({"driftguard.io/tenant": "false"}, {"driftguard.io/tenant": "maybe"}, alice)
}

test_admin_must_be_true if {
	# only the boolean the Go side computes counts; a missing flag is not admin
	count(tenancy_guard.deny) == 1 with input as ns_update(tenant, plain, fx.alice)
	count(tenancy_guard.deny) == 1 with input as ns_update(tenant, plain, object.union(fx.alice, {"admin": "true"}))
}

test_configured_tenant_label if {
	p := {"tenancy_guard": {"tenantLabel": {"key": "platform.example.com/tenant", "value": "yes"}}}
	ds := tenancy_guard.deny with input as ns_update({"platform.example.com/tenant": "yes"}, {}, alice) with data.driftguard.params as p
	some d in ds
	contains(d.msg, "removes the tenant label platform.example.com/tenant=yes")

	# the default label means nothing then
	count(tenancy_guard.deny) == 0 with input as ns_update(tenant, plain, alice) with data.driftguard.params as p
}

test_admins_named_in_the_message if {
	inp := object.union(ns_update(tenant, plain, alice), {"admins": {"users": ["ops"], "groups": [], "serviceAccounts": ["argocd/argocd-application-controller"]}})
	some d in tenancy_guard.deny with input as inp
	contains(d.msg, "(users ops; service accounts argocd/argocd-application-controller)")
	inp2 := object.union(ns_update(tenant, plain, alice), {"admins": {"users": [], "groups": [], "serviceAccounts": []}})
	some d2 in tenancy_guard.deny with input as inp2
	contains(d2.msg, "(nobody: config admins is empty)")
}

cm(name) := {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "driftguard-system"}, "data": {"config.yaml": "x"}}

cm_request(op, name, actor, changes) := {
	"request": {"kind": {"group": "", "version": "v1", "kind": "ConfigMap"}, "operation": op, "namespace": "driftguard-system", "name": name},
	"oldObject": cm(name),
	"object": cm(name),
	"actor": actor,
	"changes": changes,
	"admins": default_admins,
}

protect := {"tenancy_guard": {"protectedConfigMaps": ["driftguard-system/dg-driftguard-config", "driftguard-system/dg-driftguard-policies"]}}

data_change := [{"path": "data[config.yaml]", "op": "replace", "managers": [], "owner": "", "via": ""}]

test_protected_configmap_writes_are_denied if {
	ds := tenancy_guard.deny with input as cm_request("UPDATE", "dg-driftguard-config", alice, data_change) with data.driftguard.params as protect
	some d in ds
	contains(d.msg, "ConfigMap driftguard-system/dg-driftguard-config holds driftguard's own settings")
	contains(d.msg, "changing it can switch enforcement off, so only driftguard admins may do it (groups system:masters); alice is not one")
	some d2 in tenancy_guard.deny with input as cm_request("DELETE", "dg-driftguard-policies", alice, []) with data.driftguard.params as protect
	contains(d2.msg, "deleting it")
	some d3 in tenancy_guard.deny with input as cm_request("CREATE", "dg-driftguard-policies", alice, []) with data.driftguard.params as protect
	contains(d3.msg, "creating it")
}

test_protected_configmap_admin_and_noop if {
	count(tenancy_guard.deny) == 0 with input as cm_request("UPDATE", "dg-driftguard-config", root, data_change) with data.driftguard.params as protect
	count(tenancy_guard.deny) == 0 with input as cm_request("UPDATE", "dg-driftguard-config", alice, []) with data.driftguard.params as protect
}

test_other_configmaps_are_not_guarded if {
	count(tenancy_guard.deny) == 0 with input as cm_request("UPDATE", "app-settings", alice, data_change) with data.driftguard.params as protect

	# nothing is protected by default
	count(tenancy_guard.deny) == 0 with input as cm_request("UPDATE", "dg-driftguard-config", alice, data_change)

	# same name, other namespace
	inp := object.union(cm_request("UPDATE", "dg-driftguard-config", alice, data_change), {"request": {"namespace": "tenant-a"}})
	count(tenancy_guard.deny) == 0 with input as inp with data.driftguard.params as protect
}
