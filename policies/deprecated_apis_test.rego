package driftguard.policies.deprecated_apis_test

import data.driftguard.policies.deprecated_apis

req(kind, request_kind) := {"request": {"kind": kind, "requestKind": request_kind, "operation": "CREATE", "namespace": "tenant-a", "name": "web"}}

gvk(g, v, k) := {"group": g, "version": v, "kind": k}

test_converted_ingress_warns_with_the_requested_version if {
	ws := deprecated_apis.warn with input as req(gvk("networking.k8s.io", "v1", "Ingress"), gvk("extensions", "v1beta1", "Ingress"))
	count(ws) == 1
	some w in ws
	w.field == "apiVersion"
	contains(w.msg, "extensions/v1beta1 Ingress of Ingress tenant-a/web is removed in Kubernetes 1.22")
	contains(w.msg, "use networking.k8s.io/v1 Ingress instead")
}

test_current_versions_are_fine if {
	count(deprecated_apis.warn) == 0 with input as req(gvk("apps", "v1", "Deployment"), gvk("apps", "v1", "Deployment"))
}

test_without_request_kind_uses_kind if {
	ws := deprecated_apis.warn with input as {"request": {"kind": gvk("batch", "v1beta1", "CronJob"), "operation": "UPDATE", "namespace": "tenant-a", "name": "nightly"}}
	some w in ws
	contains(w.msg, "use batch/v1 CronJob")
}

test_group_wide_row if {
	ws := deprecated_apis.warn with input as {"request": {"kind": gvk("flowcontrol.apiserver.k8s.io", "v1beta3", "FlowSchema"), "operation": "CREATE", "namespace": "", "name": "fs"}}
	some w in ws
	contains(w.msg, "flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema of FlowSchema fs is removed in Kubernetes 1.32")
	contains(w.msg, "use flowcontrol.apiserver.k8s.io/v1 FlowSchema")
}

test_psp_has_no_successor_version if {
	ws := deprecated_apis.warn with input as req(gvk("policy", "v1beta1", "PodSecurityPolicy"), gvk("policy", "v1beta1", "PodSecurityPolicy"))
	some w in ws
	contains(w.msg, "use Pod Security Admission")
}

test_hpa_v2beta2 if {
	ws := deprecated_apis.warn with input as req(gvk("autoscaling", "v2", "HorizontalPodAutoscaler"), gvk("autoscaling", "v2beta2", "HorizontalPodAutoscaler"))
	some w in ws
	contains(w.msg, "removed in Kubernetes 1.26")
}

test_deprecated_but_served if {
	ws := deprecated_apis.warn with input as req(gvk("", "v1", "Endpoints"), gvk("", "v1", "Endpoints"))
	some w in ws
	contains(w.msg, "v1 Endpoints of Endpoints tenant-a/web is deprecated; use discovery.k8s.io/v1 EndpointSlice instead")
}

test_specific_row_wins_over_group_row if {
	ws := deprecated_apis.warn with input as req(gvk("storage.k8s.io", "v1beta1", "CSIStorageCapacity"), gvk("storage.k8s.io", "v1beta1", "CSIStorageCapacity"))
	count(ws) == 1
	some w in ws
	contains(w.msg, "removed in Kubernetes 1.27")
}

test_params_extra_and_ignore if {
	p := {"deprecated_apis": {
		"extra": [{"group": "acme.io", "version": "v1alpha1", "kind": "*", "replacement": "acme.io/v1", "removedIn": ""}],
		"ignore": ["v1"],
	}}
	ws := deprecated_apis.warn with input as req(gvk("acme.io", "v1alpha1", "Database"), gvk("acme.io", "v1alpha1", "Database")) with data.driftguard.params as p
	some w in ws
	contains(w.msg, "use acme.io/v1 Database")
	count(deprecated_apis.warn) == 0 with input as req(gvk("", "v1", "Endpoints"), gvk("", "v1", "Endpoints")) with data.driftguard.params as p
}
