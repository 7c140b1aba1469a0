// Package suite runs driftguard's policy tests: fixture suites (YAML files
// of admission requests and the answers expected for them, evaluated
// through the same engine and handlers as the webhook) and the Rego unit
// tests of the policy directories. It writes text, JSON and JUnit XML
// reports. docs/policy-authoring.md describes the suite format.
package suite
