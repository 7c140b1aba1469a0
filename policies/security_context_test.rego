package driftguard.policies.security_context_test

import data.driftguard.policies.security_context

hardened_sc := {
	"runAsNonRoot": true,
	"readOnlyRootFilesystem": true,
	"allowPrivilegeEscalation": false,
	"capabilities": {"drop": ["ALL"]},
}

deployment(pod_sc, container_sc) := {
	"apiVersion": "apps/v1", "kind": "Deployment",
	"metadata": {"name": "api", "namespace": "tenant-a"},
	"spec": {"template": {"spec": {
		"securityContext": pod_sc,
		"containers": [{"name": "api", "image": "ghcr.io/acme/api:1.0.0", "securityContext": container_sc}],
	}}},
}

hardened := deployment({"runAsNonRoot": true}, hardened_sc)

req(op, ns) := {"kind": {"kind": "Deployment"}, "operation": op, "namespace": ns, "name": "api"}

update(old, new) := {"request": req("UPDATE", "tenant-a"), "object": new, "oldObject": old, "actor": {"username": "system:serviceaccount:infra:terraform"}}

create(obj, ns) := {"request": req("CREATE", ns), "object": obj, "actor": {"username": "alice"}}

cpath := "spec.template.spec.containers[api].securityContext"

fields(ds) := {d.field | some d in ds}

test_unchanged_is_fine if {
	count(security_context.deny) == 0 with input as update(hardened, hardened)
}

test_tightening_is_fine if {
	count(security_context.deny) == 0 with input as update(deployment({}, {}), hardened)
}

test_read_only_root_filesystem_true_to_false_names_container_and_field if {
	ds := security_context.deny with input as update(hardened, deployment({"runAsNonRoot": true}, object.union(hardened_sc, {"readOnlyRootFilesystem": false})))
	fields(ds) == {concat(".", [cpath, "readOnlyRootFilesystem"])}
	some d in ds
	contains(d.msg, "readOnlyRootFilesystem of container api loosened from true to false")
	contains(d.msg, "Deployment tenant-a/api")
}

test_allow_privilege_escalation_removed if {
	ds := security_context.deny with input as update(hardened, deployment({"runAsNonRoot": true}, object.remove(hardened_sc, ["allowPrivilegeEscalation"])))
	fields(ds) == {concat(".", [cpath, "allowPrivilegeEscalation"])}
	some d in ds
	contains(d.msg, "from false to removed")
}

test_run_as_non_root_pod_level_removed if {
	ds := security_context.deny with input as update(hardened, deployment({}, hardened_sc))
	fields(ds) == {"spec.template.spec.securityContext.runAsNonRoot"}
	some d in ds
	contains(d.msg, "runAsNonRoot of the pod loosened from true to removed")

	# a container that inherited it loosens too
	ds2 := security_context.deny with input as update(
		deployment({"runAsNonRoot": true}, {"runAsNonRoot": true}),
		deployment({}, {}),
	)
	count(ds2) == 2
}

test_container_run_as_non_root_removed_but_pod_still_true if {
	count(security_context.deny) == 0 with input as update(hardened, deployment({"runAsNonRoot": true}, object.remove(hardened_sc, ["runAsNonRoot"])))
}

test_container_run_as_non_root_false if {
	ds := security_context.deny with input as update(hardened, deployment({"runAsNonRoot": true}, object.union(hardened_sc, {"runAsNonRoot": false})))
	fields(ds) == {concat(".", [cpath, "runAsNonRoot"])}
}

test_drop_all_lost if {
	ds := security_context.deny with input as update(hardened, deployment({"runAsNonRoot": true}, object.union(hardened_sc, {"capabilities": {"drop": ["NET_RAW"]}})))
	some d in ds
	d.field == concat(".", [cpath, "capabilities.drop"])
	contains(d.msg, "container api no longer drops capability ALL")
}

test_capability_added if {
	ds := security_context.deny with input as update(hardened, deployment({"runAsNonRoot": true}, object.union(hardened_sc, {"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}})))
	some d in ds
	d.field == concat(".", [cpath, "capabilities.add"])
	contains(d.msg, "gains capability NET_ADMIN")
}

test_privileged_on_create_is_denied if {
	ds := security_context.deny with input as create(deployment({}, {"privileged": true}), "tenant-a")
	fields(ds) == {concat(".", [cpath, "privileged"])}
	some d in ds
	contains(d.msg, "container api is privileged")
}

test_privileged_outside_tenants_is_free if {
	count(security_context.deny) == 0 with input as create(deployment({}, {"privileged": true}), "monitoring")
}

test_loosening_outside_tenants_is_free if {
	inp := object.union(update(hardened, deployment({}, {})), {"request": req("UPDATE", "kube-system")})
	count(security_context.deny) == 0 with input as inp
}

test_tenant_globs_from_params if {
	params := {"security_context": {"tenantNamespaces": ["team-*"]}}
	count(security_context.deny) == 1 with input as create(deployment({}, {"privileged": true}), "team-a") with data.driftguard.params as params
}

test_cronjob_and_pod if {
	cj := {"kind": "CronJob", "metadata": {"name": "api"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "r", "securityContext": {"privileged": true}}]}}}}}}
	ds := security_context.deny with input as {"request": {"kind": {"kind": "CronJob"}, "operation": "CREATE", "namespace": "tenant-b", "name": "api"}, "object": cj, "actor": {"username": "alice"}}
	fields(ds) == {"spec.jobTemplate.spec.template.spec.containers[r].securityContext.privileged"}
	old := {"kind": "Pod", "spec": {"initContainers": [{"name": "init", "securityContext": {"readOnlyRootFilesystem": true}}]}}
	new := {"kind": "Pod", "spec": {"initContainers": [{"name": "init"}]}}
	ds2 := security_context.deny with input as {"request": {"kind": {"kind": "Pod"}, "operation": "UPDATE", "namespace": "tenant-b", "name": "p"}, "object": new, "oldObject": old, "actor": {"username": "alice"}}
	fields(ds2) == {"spec.initContainers[init].securityContext.readOnlyRootFilesystem"}
}
