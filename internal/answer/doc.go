// Package answer answers one admission request offline with the
// webhook's own code: the engine's decision gives each matching policy's
// verdict, the validating handler the answer (allowed, message,
// warnings) and, on request, the mutating handler the JSON patch.
// `driftguard eval` prints an Answer; the fixture suites (internal/suite)
// compare it with what a case expects.
package answer
