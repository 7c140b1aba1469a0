//go:build tools

// Package eso pins External Secrets Operator, run by the e2e suite's
// TestExternalSecretsOperator with its fake provider. It is a module of its
// own: ESO's dependencies (every cloud provider's SDK, an older
// Kubernetes) stay out of the main module and of tools/. Built by
// hack/e2e-assets.sh. v0.16.2 is the newest release the Go module proxy can
// build: from v1.0 on, its go.mod points at in-repository modules
// (replace => ./apis, ./runtime, ...) that the proxy does not serve.
package eso

import _ "github.com/external-secrets/external-secrets"
