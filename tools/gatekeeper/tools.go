//go:build tools

// Package gatekeeper pins OPA Gatekeeper, the third server test/bench
// loads (-targets ...,gatekeeper). Its module root is the manager binary.
// It is a module of its own so that Gatekeeper's dependencies stay out of
// the main module and of tools/. Built by hack/bench-assets.sh.
// Gatekeeper's own go.mod has no replace directives, so there are none to
// copy here (a module's replaces do not apply when it is a dependency).
package gatekeeper

import _ "github.com/open-policy-agent/gatekeeper/v3"
