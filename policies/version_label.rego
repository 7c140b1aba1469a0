# A tenant workload's pod-template `version` label should say what its
# main container runs. Dashboards, alerts and the "what version are we
# on?" question read the label; the runtime runs the image. Warn when a
# CREATE or UPDATE leaves them disagreeing.

# METADATA
# description: >-
#   Warn when a tenant workload's pod-template version label no longer
#   equals its main container's image tag.
# custom:
#   kinds: [Deployment, StatefulSet, DaemonSet]
#   operations: [CREATE, UPDATE]
#   changes:
#     - spec.template.metadata.labels
#     - spec.template.spec.containers[*].image
package driftguard.policies.version_label

import data.driftguard.lib
import data.driftguard.lib.images
import data.driftguard.lib.paths

params := lib.params("version_label", {
	"tenantNamespaces": ["tenant-*"],
	"label": "version",
})

tenant if lib.matches_any(params.tenantNamespaces, input.request.namespace)

template := input.object.spec.template

# The main container: the one the kubectl.kubernetes.io/default-container
# annotation names, else the first.
main_container := input.workload.containers[input.workload.main].c if {
	input.workload.main
} else := c if {
	name := template.metadata.annotations["kubectl.kubernetes.io/default-container"]
	some c in template.spec.containers
	c.name == name
} else := template.spec.containers[0]

label_field := paths.key_path("spec.template.metadata.labels", params.label)

image_field := sprintf("spec.template.spec.containers[%s].image", [main_container.name])

label_value := template.metadata.labels[params.label]

tag := images.tag(main_container.image)

mismatch if label_value != tag

# On UPDATE only when the request touched the label or the main image:
# an unrelated edit (scale, env) is not told about an old mismatch.
relevant if input.request.operation == "CREATE"

relevant if {
	input.request.operation == "UPDATE"
	touched
	some c in input.changes
	c.path in {label_field, image_field}
}

# A cheap first look before the main container is worked out: some
# change is a pod-template label or an image.
touched if {
	some c in input.changes
	startswith(c.path, "spec.template.metadata.labels")
}

touched if {
	some c in input.changes
	endswith(c.path, ".image")
}

warn contains {"field": label_field, "owner": lib.object_owner, "msg": msg} if {
	tenant
	relevant
	mismatch
	msg := sprintf("%s of %s is %q but container %s runs image tag %q (%s); set the label to %q together with the image (in the workload's source) so dashboards and the version matrix agree.", [
		label_field, lib.object_ref, label_value, main_container.name, tag, main_container.image, tag,
	])
}
