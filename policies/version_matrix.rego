# The version matrix (config versionMatrix) declares the image each
# component should run. Live workloads that run something else are drift;
# admission warns on changes that move a workload away from the matrix.
# docs/scenarios.md S13.

# METADATA
# description: >-
#   Compare workload images and reconciler inputs (ConfigMap keys) with
#   the version matrix: drift for live mismatches, a warning for changes
#   that move away from it.
# custom:
#   kinds: [Deployment, StatefulSet, DaemonSet, Pod, ConfigMap]
#   operations: [CREATE, UPDATE]
#   changes:
#     - spec.template.spec.containers[*].image
#     - spec.containers[*].image
#     - data
package driftguard.policies.version_matrix

import data.driftguard.lib

pod_spec := input.object.spec.template.spec if input.object.spec.template
pod_spec := input.object.spec if input.request.kind.kind == "Pod"

image_field(c) := sprintf("spec.template.spec.containers[%s].image", [c.name]) if input.object.spec.template
image_field(c) := sprintf("spec.containers[%s].image", [c.name]) if input.request.kind.kind == "Pod"

row_applies(m, c) if m.container == ""
row_applies(m, c) if m.container == c.name

mismatch contains {"component": m.component, "expected": m.image, "image": c.image, "field": image_field(c)} if {
	some m in input.matrix
	some c in pod_spec.containers
	row_applies(m, c)
	c.image != m.image
}

drift contains {"field": x.field, "msg": msg} if {
	some x in mismatch
	msg := sprintf("%s of %s runs %s; the version matrix says component %s is %s.", [x.field, lib.object_ref, x.image, x.component, x.expected])
}

changed(field) if {
	some c in input.changes
	c.path == field
}

warn contains {"field": x.field, "msg": msg} if {
	some x in mismatch
	input.request.operation == "UPDATE"
	changed(x.field)
	msg := sprintf("%s of %s moves to %s, away from the version matrix: component %s is %s. Update the matrix (and the reconciler inputs) if this is an upgrade.", [x.field, lib.object_ref, x.image, x.component, x.expected])
}

warn contains {"field": x.field, "msg": msg} if {
	some x in mismatch
	input.request.operation == "CREATE"
	msg := sprintf("%s of %s is %s, not %s as the version matrix says for component %s.", [x.field, lib.object_ref, x.image, x.expected, x.component])
}

# Reconciler inputs: ConfigMap keys that carry a component's version
# (e.g. kubeflow/pipeline-install-config appVersion).
key_field(k) := sprintf("data.%s", [k]) if regex.match(`^[A-Za-z0-9_-]+$`, k)
key_field(k) := sprintf("data[%s]", [k]) if not regex.match(`^[A-Za-z0-9_-]+$`, k)

input_mismatch contains {"component": m.component, "expected": m.expected, "value": v, "field": key_field(m.key)} if {
	some m in input.matrixInputs
	v := object.get(object.get(input.object, "data", {}), m.key, "")
	v != m.expected
}

drift contains {"field": x.field, "msg": msg} if {
	some x in input_mismatch
	msg := sprintf("%s of %s is %q; the version matrix says component %s is %q.", [x.field, lib.object_ref, x.value, x.component, x.expected])
}

warn contains {"field": x.field, "msg": msg} if {
	some x in input_mismatch
	input.request.operation == "UPDATE"
	changed(x.field)
	msg := sprintf("%s of %s moves to %q, away from the version matrix (component %s is %q); the reconciler will render children from it. Update the matrix first if this is an upgrade.", [x.field, lib.object_ref, x.value, x.component, x.expected])
}
