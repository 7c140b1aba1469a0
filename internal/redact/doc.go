// Package redact hides Secret values wherever driftguard prints an object
// or a policy input: `driftguard eval` (text and JSON, --show-input and
// --mutate), `driftguard test` reports, and anything that logs them. Keys
// stay (they name what changed); values become "(redacted: N bytes)".
//
// What is redacted:
//   - data and stringData of a Secret (kind Secret, any apiVersion), in
//     object and oldObject alike;
//   - the kubectl.kubernetes.io/last-applied-configuration annotation of
//     any kind: it is the whole manifest as last applied, and a Secret's
//     carries its values.
//
// Redaction copies what it changes and never modifies its argument.
//
// It is not on the webhook's path (answers carry messages, not objects):
// it sits between a policy input or answer and whatever prints it.
package redact
