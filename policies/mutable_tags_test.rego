package driftguard.policies.mutable_tags_test

import data.driftguard.policies.mutable_tags

pod_template(containers) := {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": containers}}

deployment(image) := {
	"apiVersion": "apps/v1", "kind": "Deployment",
	"metadata": {"name": "api", "namespace": "tenant-a"},
	"spec": {"template": pod_template([{"name": "api", "image": image}])},
}

req(kind, ns, op) := {"kind": {"kind": kind}, "operation": op, "namespace": ns, "name": "api"}

create(obj, ns) := {"request": req(obj.kind, ns, "CREATE"), "object": obj, "actor": {"username": "alice"}}

update(old, new) := {"request": req(new.kind, "tenant-a", "UPDATE"), "object": new, "oldObject": old, "actor": {"username": "alice"}}

img_path := "spec.template.spec.containers[api].image"

on := {"mutable_tags": {"warnWithoutDigest": true}}

test_latest_is_denied if {
	ds := mutable_tags.deny with input as create(deployment("ghcr.io/acme/api:latest"), "tenant-a")
	count(ds) == 1
	some d in ds
	d.field == img_path
	contains(d.msg, "is ghcr.io/acme/api:latest, which has the mutable tag latest")
	contains(d.msg, "ghcr.io/acme/api:<version>")
}

test_no_tag_is_denied if {
	ds := mutable_tags.deny with input as create(deployment("nginx"), "tenant-a")
	some d in ds
	contains(d.msg, "no tag (so latest)")
}

test_registry_port_is_not_a_tag if {
	count(mutable_tags.deny) == 1 with input as create(deployment("localhost:5000/app"), "tenant-a")
	count(mutable_tags.deny) == 0 with input as create(deployment("localhost:5000/app:1.0"), "tenant-a")
}

test_digest_pins if {
	count(mutable_tags.deny) == 0 with input as create(deployment("nginx@sha256:0123"), "tenant-a")
	count(mutable_tags.deny) == 0 with input as create(deployment("ghcr.io/acme/api:latest@sha256:0123"), "tenant-a")
	count(mutable_tags.warn) == 0 with input as create(deployment("nginx@sha256:0123"), "tenant-a") with data.driftguard.params as on
}

test_non_tenant_namespaces_are_free if {
	count(mutable_tags.deny) == 0 with input as create(deployment("nginx:latest"), "kubeflow")
}

test_tenant_globs_from_params if {
	params := {"mutable_tags": {"tenantNamespaces": ["team-*", "team-ops"]}}
	count(mutable_tags.deny) == 1 with input as create(deployment("nginx"), "team-ops") with data.driftguard.params as params
	count(mutable_tags.deny) == 0 with input as create(deployment("nginx"), "tenant-a") with data.driftguard.params as params
}

test_update_only_judges_changed_images if {
	count(mutable_tags.deny) == 0 with input as update(deployment("nginx:latest"), deployment("nginx:latest"))
	count(mutable_tags.deny) == 1 with input as update(deployment("nginx:1.25"), deployment("nginx:latest"))
}

test_warn_without_digest_only_when_enabled_and_image_set if {
	count(mutable_tags.warn) == 0 with input as create(deployment("nginx:1.25"), "tenant-a")
	ws := mutable_tags.warn with input as create(deployment("nginx:1.25"), "tenant-a") with data.driftguard.params as on
	some w in ws
	contains(w.msg, "nginx:1.25 without a digest")
	count(mutable_tags.warn) == 0 with input as update(deployment("nginx:1.25"), deployment("nginx:1.25")) with data.driftguard.params as on
	count(mutable_tags.warn) == 1 with input as update(deployment("nginx:1.25"), deployment("nginx:1.26")) with data.driftguard.params as on
}

test_init_ephemeral_and_pod_containers if {
	pod := {"kind": "Pod", "metadata": {"name": "api"}, "spec": {
		"initContainers": [{"name": "init", "image": "busybox"}],
		"containers": [{"name": "api", "image": "nginx:1.25"}],
		"ephemeralContainers": [{"name": "debug", "image": "busybox:latest"}],
	}}
	ds := mutable_tags.deny with input as create(pod, "tenant-a")
	{d.field | some d in ds} == {"spec.initContainers[init].image", "spec.ephemeralContainers[debug].image"}
}

test_cronjob_job_template if {
	cj := {"kind": "CronJob", "metadata": {"name": "api"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "report", "image": "report"}]}}}}}}
	ds := mutable_tags.deny with input as create(cj, "tenant-a")
	{d.field | some d in ds} == {"spec.jobTemplate.spec.template.spec.containers[report].image"}
}

# With the changes list (as driftguard builds it), an UPDATE that changes
# no container list is judged by the images its changes name, looked up
# by the change path; the library finds the container in input.workload
# when driftguard supplies it.
changed(old, new, paths) := object.union(update(old, new), {"changes": [{"path": p, "op": "replace"} | some p in paths]})

with_facts(inp) := object.union(inp, {"workload": {
	"specPath": "spec.template.spec",
	"containers": {"containers[api]": {"type": "containers", "name": "api", "path": "spec.template.spec.containers[api]", "c": inp.object.spec.template.spec.containers[0]}},
	"oldContainers": {"containers[api]": {"type": "containers", "name": "api", "path": "spec.template.spec.containers[api]", "c": inp.oldObject.spec.template.spec.containers[0]}},
	"images": {},
}})

test_update_judges_the_image_its_changes_name if {
	inp := changed(deployment("nginx:1.25"), deployment("nginx:latest"), [img_path])
	{d.field | some d in mutable_tags.deny} == {img_path} with input as inp
	{d.field | some d in mutable_tags.deny} == {img_path} with input as with_facts(inp)

	# a scale of a Deployment that already runs latest is not told about it
	scale := changed(deployment("nginx:latest"), deployment("nginx:latest"), ["spec.replicas"])
	count(mutable_tags.deny) == 0 with input as scale
	count(mutable_tags.deny) == 0 with input as with_facts(scale)

	# a change path of another container names no image of this one
	other := changed(deployment("nginx:1.25"), deployment("nginx:latest"), ["spec.template.spec.containers[sidecar].image"])
	count(mutable_tags.deny) == 0 with input as with_facts(other)
}
