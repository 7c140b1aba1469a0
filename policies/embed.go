// Package policies embeds the bundled Rego policies and their tests so
// the binary runs on built-in defaults. Each policy is documented in
// docs/policies.md.
package policies

import "embed"

// FS holds the bundled policies (*.rego) and their unit tests (*_test.rego).
//
//go:embed *.rego lib/*.rego
var FS embed.FS
