# Manifests that still use deprecated or removed API versions break at the
# next cluster upgrade (or already only work through conversion). Warn on
# every CREATE/UPDATE sent in such a version, naming the replacement.
# Requests reach webhooks converted (matchPolicy Equivalent), so the
# version the client used is input.request.requestKind.

# METADATA
# description: >-
#   Warn on requests made in a deprecated or removed API version, naming
#   the replacement.
# custom:
#   kinds: ["*"]
#   operations: [CREATE, UPDATE]
package driftguard.policies.deprecated_apis

import data.driftguard.lib

# Rows by group/version (looked up by key: most requests use a current
# version and find nothing), each with group, version, kind ("*": every
# kind of the group/version), the replacement, and the Kubernetes minor
# version that removed it ("" when it is deprecated but still served).
builtin := {
	"extensions/v1beta1": [
		{"group": "extensions", "version": "v1beta1", "kind": "Ingress", "replacement": "networking.k8s.io/v1 Ingress", "removedIn": "1.22"},
		{"group": "extensions", "version": "v1beta1", "kind": "Deployment", "replacement": "apps/v1 Deployment", "removedIn": "1.16"},
		{"group": "extensions", "version": "v1beta1", "kind": "DaemonSet", "replacement": "apps/v1 DaemonSet", "removedIn": "1.16"},
		{"group": "extensions", "version": "v1beta1", "kind": "ReplicaSet", "replacement": "apps/v1 ReplicaSet", "removedIn": "1.16"},
		{"group": "extensions", "version": "v1beta1", "kind": "NetworkPolicy", "replacement": "networking.k8s.io/v1 NetworkPolicy", "removedIn": "1.16"},
		{"group": "extensions", "version": "v1beta1", "kind": "PodSecurityPolicy", "replacement": "Pod Security Admission (namespace labels pod-security.kubernetes.io/*)", "removedIn": "1.25"},
	],
	"apps/v1beta1": [
		{"group": "apps", "version": "v1beta1", "kind": "*", "replacement": "apps/v1", "removedIn": "1.16"},
	],
	"apps/v1beta2": [
		{"group": "apps", "version": "v1beta2", "kind": "*", "replacement": "apps/v1", "removedIn": "1.16"},
	],
	"networking.k8s.io/v1beta1": [
		{"group": "networking.k8s.io", "version": "v1beta1", "kind": "Ingress", "replacement": "networking.k8s.io/v1 Ingress", "removedIn": "1.22"},
		{"group": "networking.k8s.io", "version": "v1beta1", "kind": "IngressClass", "replacement": "networking.k8s.io/v1 IngressClass", "removedIn": "1.22"},
	],
	"policy/v1beta1": [
		{"group": "policy", "version": "v1beta1", "kind": "PodSecurityPolicy", "replacement": "Pod Security Admission (namespace labels pod-security.kubernetes.io/*)", "removedIn": "1.25"},
		{"group": "policy", "version": "v1beta1", "kind": "PodDisruptionBudget", "replacement": "policy/v1 PodDisruptionBudget", "removedIn": "1.25"},
	],
	"batch/v1beta1": [
		{"group": "batch", "version": "v1beta1", "kind": "CronJob", "replacement": "batch/v1 CronJob", "removedIn": "1.25"},
	],
	"autoscaling/v2beta1": [
		{"group": "autoscaling", "version": "v2beta1", "kind": "HorizontalPodAutoscaler", "replacement": "autoscaling/v2 HorizontalPodAutoscaler", "removedIn": "1.25"},
	],
	"autoscaling/v2beta2": [
		{"group": "autoscaling", "version": "v2beta2", "kind": "HorizontalPodAutoscaler", "replacement": "autoscaling/v2 HorizontalPodAutoscaler", "removedIn": "1.26"},
	],
	"discovery.k8s.io/v1beta1": [
		{"group": "discovery.k8s.io", "version": "v1beta1", "kind": "EndpointSlice", "replacement": "discovery.k8s.io/v1 EndpointSlice", "removedIn": "1.25"},
	],
	"events.k8s.io/v1beta1": [
		{"group": "events.k8s.io", "version": "v1beta1", "kind": "Event", "replacement": "events.k8s.io/v1 Event", "removedIn": "1.25"},
	],
	"node.k8s.io/v1beta1": [
		{"group": "node.k8s.io", "version": "v1beta1", "kind": "RuntimeClass", "replacement": "node.k8s.io/v1 RuntimeClass", "removedIn": "1.25"},
	],
	"storage.k8s.io/v1beta1": [
		{"group": "storage.k8s.io", "version": "v1beta1", "kind": "CSIStorageCapacity", "replacement": "storage.k8s.io/v1 CSIStorageCapacity", "removedIn": "1.27"},
		{"group": "storage.k8s.io", "version": "v1beta1", "kind": "*", "replacement": "storage.k8s.io/v1", "removedIn": "1.22"},
	],
	"flowcontrol.apiserver.k8s.io/v1beta1": [
		{"group": "flowcontrol.apiserver.k8s.io", "version": "v1beta1", "kind": "*", "replacement": "flowcontrol.apiserver.k8s.io/v1", "removedIn": "1.26"},
	],
	"flowcontrol.apiserver.k8s.io/v1beta2": [
		{"group": "flowcontrol.apiserver.k8s.io", "version": "v1beta2", "kind": "*", "replacement": "flowcontrol.apiserver.k8s.io/v1", "removedIn": "1.29"},
	],
	"flowcontrol.apiserver.k8s.io/v1beta3": [
		{"group": "flowcontrol.apiserver.k8s.io", "version": "v1beta3", "kind": "*", "replacement": "flowcontrol.apiserver.k8s.io/v1", "removedIn": "1.32"},
	],
	"admissionregistration.k8s.io/v1beta1": [
		{"group": "admissionregistration.k8s.io", "version": "v1beta1", "kind": "MutatingWebhookConfiguration", "replacement": "admissionregistration.k8s.io/v1 MutatingWebhookConfiguration", "removedIn": "1.22"},
		{"group": "admissionregistration.k8s.io", "version": "v1beta1", "kind": "ValidatingWebhookConfiguration", "replacement": "admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration", "removedIn": "1.22"},
	],
	"apiextensions.k8s.io/v1beta1": [
		{"group": "apiextensions.k8s.io", "version": "v1beta1", "kind": "*", "replacement": "apiextensions.k8s.io/v1", "removedIn": "1.22"},
	],
	"apiregistration.k8s.io/v1beta1": [
		{"group": "apiregistration.k8s.io", "version": "v1beta1", "kind": "*", "replacement": "apiregistration.k8s.io/v1", "removedIn": "1.22"},
	],
	"certificates.k8s.io/v1beta1": [
		{"group": "certificates.k8s.io", "version": "v1beta1", "kind": "*", "replacement": "certificates.k8s.io/v1", "removedIn": "1.22"},
	],
	"coordination.k8s.io/v1beta1": [
		{"group": "coordination.k8s.io", "version": "v1beta1", "kind": "*", "replacement": "coordination.k8s.io/v1", "removedIn": "1.22"},
	],
	"rbac.authorization.k8s.io/v1beta1": [
		{"group": "rbac.authorization.k8s.io", "version": "v1beta1", "kind": "*", "replacement": "rbac.authorization.k8s.io/v1", "removedIn": "1.22"},
	],
	"scheduling.k8s.io/v1beta1": [
		{"group": "scheduling.k8s.io", "version": "v1beta1", "kind": "*", "replacement": "scheduling.k8s.io/v1", "removedIn": "1.22"},
	],
	"v1": [
		{"group": "", "version": "v1", "kind": "Endpoints", "replacement": "discovery.k8s.io/v1 EndpointSlice", "removedIn": ""},
	],
}

params := lib.params("deprecated_apis", {
	# extra rows, same shape as builtin (e.g. a CRD's old version)
	"extra": [],
	# group/version strings (e.g. "v1", "apps/v1beta1") not to warn about
	"ignore": [],
})

# The version the client used: requestKind (before conversion), else kind.
gvk := k if {
	k := input.request.requestKind
	k.kind
} else := input.request.kind

gv_text := concat("/", [gvk.group, gvk.version]) if gvk.group != "" else := gvk.version

# The most specific row: one naming the kind wins over a "*" row; extra
# rows (config) win over builtin ones.
candidates := array.concat(
	[r | some r in params.extra; r.group == gvk.group; r.version == gvk.version],
	object.get(builtin, gv_text, []),
)

matching := array.concat(
	[r | some r in candidates; r.kind == gvk.kind],
	[r | some r in candidates; r.kind == "*"],
)

row := matching[0]

status := sprintf("removed in Kubernetes %s (served here only by an older API server or through conversion)", [row.removedIn]) if object.get(row, "removedIn", "") != ""

status := "deprecated" if object.get(row, "removedIn", "") == ""

replacement := row.replacement if contains(row.replacement, " ")

replacement := sprintf("%s %s", [row.replacement, gvk.kind]) if not contains(row.replacement, " ")

warn contains {"field": "apiVersion", "owner": lib.object_owner, "msg": msg} if {
	row
	not gv_text in params.ignore
	msg := sprintf("%s %s of %s is %s; use %s instead (update the manifest in its source).", [
		gv_text, gvk.kind, lib.object_ref, status, replacement,
	])
}
