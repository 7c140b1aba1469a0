package driftguard.policies.version_label_test

import data.driftguard.lib.fixtures_test as fx
import data.driftguard.policies.version_label

deployment(ns, label, image) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "api", "namespace": ns},
	"spec": {"template": {
		"metadata": {"labels": {"app": "api", "version": label}},
		"spec": {"containers": [{"name": "api", "image": image}, {"name": "proxy", "image": "envoyproxy/envoy:v1.30.0"}]},
	}},
}

req(ns, op) := {"kind": {"group": "apps", "version": "v1", "kind": "Deployment"}, "operation": op, "namespace": ns, "name": "api"}

update(ns, label, image, changes) := {
	"request": req(ns, "UPDATE"),
	"object": deployment(ns, label, image),
	"oldObject": deployment(ns, "1.0.0", "ghcr.io/acme/api:1.0.0"),
	"actor": fx.alice,
	"changes": changes,
}

create(ns, label, image) := {"request": req(ns, "CREATE"), "object": deployment(ns, label, image), "actor": fx.alice}

image_change := [{"path": "spec.template.spec.containers[api].image", "op": "replace", "managers": [], "owner": "", "via": ""}]

test_image_bump_without_label_warns if {
	ws := version_label.warn with input as update("tenant-a", "1.0.0", "ghcr.io/acme/api:1.1.0", image_change)
	count(ws) == 1
	some w in ws
	w.field == "spec.template.metadata.labels.version"
	contains(w.msg, `is "1.0.0" but container api runs image tag "1.1.0"`)
	contains(w.msg, "Deployment tenant-a/api")
}

test_label_and_image_together_is_fine if {
	count(version_label.warn) == 0 with input as update("tenant-a", "1.1.0", "ghcr.io/acme/api:1.1.0", image_change)
}

test_unrelated_update_is_not_told if {
	count(version_label.warn) == 0 with input as update("tenant-a", "0.9.0", "ghcr.io/acme/api:1.0.0", [{"path": "spec.replicas", "op": "replace"}])
}

test_label_change_alone_warns if {
	ws := version_label.warn with input as update("tenant-a", "2.0.0", "ghcr.io/acme/api:1.0.0", [{"path": "spec.template.metadata.labels.version", "op": "replace"}])
	count(ws) == 1
}

test_create_with_mismatch_warns if {
	count(version_label.warn) == 1 with input as create("tenant-b", "1.0.0", "registry:5000/acme/api:1.2.0@sha256:abc")
}

test_not_a_tenant_namespace if {
	count(version_label.warn) == 0 with input as create("kubeflow", "1.0.0", "ghcr.io/acme/api:2.0.0")
}

test_no_label_no_warning if {
	inp := json.remove(create("tenant-a", "x", "ghcr.io/acme/api:2.0.0"), ["object/spec/template/metadata/labels/version"])
	count(version_label.warn) == 0 with input as inp
}

test_untagged_image_is_latest if {
	ws := version_label.warn with input as create("tenant-a", "1.0.0", "ghcr.io/acme/api")
	some w in ws
	contains(w.msg, `image tag "latest"`)
}

test_default_container_annotation if {
	inp := json.patch(create("tenant-a", "v1.30.0", "ghcr.io/acme/api:1.0.0"), [{"op": "add", "path": "/object/spec/template/metadata/annotations", "value": {"kubectl.kubernetes.io/default-container": "proxy"}}])
	count(version_label.warn) == 0 with input as inp
}

test_params_label_and_namespaces if {
	inp := json.patch(create("team-x", "1.0.0", "ghcr.io/acme/api:1.0.0"), [{"op": "add", "path": "/object/spec/template/metadata/labels/app.kubernetes.io~1version", "value": "0.1.0"}])
	ws := version_label.warn with input as inp with data.driftguard.params as {"version_label": {"tenantNamespaces": ["team-*"], "label": "app.kubernetes.io/version"}}
	some w in ws
	w.field == "spec.template.metadata.labels[app.kubernetes.io/version]"
}
