# Unit tests of the image reference helpers in driftguard.lib.images.
package driftguard.lib.images_test

import data.driftguard.lib.images

test_parse_image_refs if {
	images.parse("localhost:5000/app") == {"registry": "localhost:5000", "repository": "app", "tag": "", "digest": ""}
	images.parse("localhost:5000/app:1.0@sha256:abc") == {"registry": "localhost:5000", "repository": "app", "tag": "1.0", "digest": "sha256:abc"}
	images.parse("nginx") == {"registry": "", "repository": "nginx", "tag": "", "digest": ""}
	images.parse("ghcr.io/acme/api:latest") == {"registry": "ghcr.io", "repository": "acme/api", "tag": "latest", "digest": ""}
	images.parse("library/nginx:1.2") == {"registry": "", "repository": "library/nginx", "tag": "1.2", "digest": ""}
	images.parse("nginx@sha256:abc") == {"registry": "", "repository": "nginx", "tag": "", "digest": "sha256:abc"}
}

# The tag an image runs: a registry port is no tag, no tag is latest, a
# digest-only reference has none.
test_image_tag if {
	images.tag("ghcr.io/acme/api:1.1.0") == "1.1.0"
	images.tag("localhost:5000/app:1.0@sha256:abc") == "1.0"
	images.tag("localhost:5000/app") == "latest"
	images.tag("nginx") == "latest"
	not images.tag("nginx@sha256:abc")
	not images.tag("localhost:5000/app@sha256:abc")
}

# parts reads the parts driftguard found in Go (input.workload.images)
# and parses a reference it has none for.
test_image_parts_from_the_input if {
	found := {"registry": "r.io", "repository": "found", "tag": "in-go", "digest": ""}
	images.parts("app:1.0") == found with input as {"workload": {"images": {"app:1.0": found}}}
	images.parts("other:2.0") == images.parse("other:2.0") with input as {"workload": {"images": {"app:1.0": found}}}
	images.parts("app:1.0") == images.parse("app:1.0")
	images.tag("app:1.0") == "in-go" with input as {"workload": {"images": {"app:1.0": found}}}
}
