# Tenant workloads run pinned images: a `latest` tag or no tag at all (and
# no digest) is denied, since what runs changes whenever the tag moves;
# an image without a digest gets a warning. Docs: docs/policies/mutable_tags.md.

# METADATA
# description: >-
#   Deny mutable image tags (latest, or no tag and no digest) on tenant
#   workloads; warn about images without a digest.
# custom:
#   kinds: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob]
#   operations: [CREATE, UPDATE]
#   changes:
#     - spec.containers[*].image
#     - spec.initContainers[*].image
#     - spec.ephemeralContainers[*].image
#     - spec.template.spec.containers[*].image
#     - spec.template.spec.initContainers[*].image
#     - spec.template.spec.ephemeralContainers[*].image
#     - spec.jobTemplate.spec.template.spec.containers[*].image
#     - spec.jobTemplate.spec.template.spec.initContainers[*].image
#     - spec.jobTemplate.spec.template.spec.ephemeralContainers[*].image
package driftguard.policies.mutable_tags

import data.driftguard.lib
import data.driftguard.lib.images
import data.driftguard.lib.workloads

params := lib.params("mutable_tags", {"tenantNamespaces": ["tenant-*"], "warnWithoutDigest": false})

# Off when params are absent: the bundled suites and e2e scenarios change
# tenant images without digests and count warnings exactly. The
# recommended config turns it on (docs/policies/mutable_tags.md).
warn_without_digest := params.warnWithoutDigest

tenant if lib.matches_any(params.tenantNamespaces, input.request.namespace)

new_containers := workloads.new_containers

old_containers := workloads.old_containers

# Images this request sets: every image on CREATE; on UPDATE those that
# differ from the old object's (so a legacy image does not block a scale).
# An UPDATE that adds, removes or replaces containers is compared
# container by container; any other UPDATE sets exactly the images its
# changes name, looked up without walking every container.
compare_all if workloads.unguarded

compare_all if workloads.structural_change

set_images contains {"path": sprintf("%s.image", [c.path]), "image": c.c.image} if {
	compare_all
	some key, c in new_containers
	c.c.image != object.get(old_containers, [key, "c", "image"], "")
}

set_images contains {"path": c.path, "image": image} if {
	not compare_all
	some c in input.changes
	endswith(c.path, ".image")
	c.op != "remove"
	startswith(c.path, workloads.spec_prefix)
	x := new_containers[trim_suffix(substring(c.path, count(workloads.spec_prefix), -1), ".image")]
	image := x.c.image
}

mutable(ref) := "the mutable tag latest" if {
	r := images.parts(ref)
	r.digest == ""
	r.tag == "latest"
}

mutable(ref) := "no tag (so latest)" if {
	r := images.parts(ref)
	r.digest == ""
	r.tag == ""
}

deny contains {"field": i.path, "owner": lib.object_owner, "msg": msg} if {
	tenant
	some i in set_images
	why := mutable(i.image)
	msg := sprintf("%s of %s is %s, which has %s: what runs changes whenever the tag moves. Pin a version tag or a digest (%s:<version> or %s@sha256:<digest>).%s", [
		i.path, lib.object_ref, i.image, why, repo(i.image), repo(i.image), lib.owner_hint,
	])
}

warn contains {"field": i.path, "owner": lib.object_owner, "msg": msg} if {
	tenant
	warn_without_digest
	some i in set_images
	not mutable(i.image)
	images.parts(i.image).digest == ""
	msg := sprintf("%s of %s is %s without a digest: the tag can be moved to another image. Consider %s@sha256:<digest>.", [
		i.path, lib.object_ref, i.image, i.image,
	])
}

# The image reference without tag or digest.
repo(ref) := concat("/", [r.registry, r.repository]) if {
	r := images.parts(ref)
	r.registry != ""
}

repo(ref) := r.repository if {
	r := images.parts(ref)
	r.registry == ""
}
