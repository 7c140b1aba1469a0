# Container image references: registry, repository, tag and digest.
package driftguard.lib.images

# The parts of an image reference; "" for a part it does not have.
# "localhost:5000/app:1.0@sha256:abc" → registry "localhost:5000",
# repository "app", tag "1.0", digest "sha256:abc".
parse(ref) := {"registry": registry, "repository": repository, "tag": tag, "digest": digest} if {
	[name_tag, digest] := split_digest(ref)
	[registry, rest] := split_registry(name_tag)
	[repository, tag] := split_tag(rest)
}

# parse(ref), read from input.workload.images when driftguard has already
# split the request's container images (the same parts, in Go).
parts(ref) := p if {
	p := input.workload.images[ref]
} else := parse(ref)

# The tag an image reference runs: its tag, "latest" when it has neither
# tag nor digest, undefined for a digest-only reference.
tag(ref) := r.tag if {
	r := parts(ref)
	r.tag != ""
} else := "latest" if {
	not contains(ref, "@")
}

split_digest(ref) := [substring(ref, 0, i), substring(ref, i + 1, -1)] if {
	i := indexof(ref, "@")
	i >= 0
} else := [ref, ""]

split_registry(s) := [parts[0], concat("/", array.slice(parts, 1, count(parts)))] if {
	parts := split(s, "/")
	count(parts) > 1
	registry_host(parts[0])
} else := ["", s]

registry_host(h) if contains(h, ".")

registry_host(h) if contains(h, ":")

registry_host("localhost")

# The tag follows the last colon of the repository path (the registry's
# port has been split off already).
split_tag(s) := [substring(s, 0, i), substring(s, i + 1, -1)] if {
	i := last_index(s, ":")
	i >= 0
} else := [s, ""]

last_index(s, sub) := i if {
	idx := indexof_n(s, sub)
	count(idx) > 0
	i := max(idx)
} else := -1
