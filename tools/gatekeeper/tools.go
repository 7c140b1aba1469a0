//go:build tools

// Package gatekeeper pins OPA Gatekeeper, the third server test/bench
// loads (-targets ...,gatekeeper). Its module root is the manager binary.
// It is a module of its own so that Gatekeeper's dependencies stay out of
// the main module and of tools/. Built by hack/bench-assets.sh.
package gatekeeper

import _ "github.com/open-policy-agent/gatekeeper/v3"
