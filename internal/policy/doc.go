// Package policy loads, compiles and evaluates driftguard's Rego policies.
//
// A policy is a Rego v1 package driftguard.policies.<name> that may define
//
//	meta   := {"kinds": [...], "operations": [...], "description": "..."}
//	deny   contains {"msg": ..., "field": ...}   # a denial (or a warning in warn mode)
//	warn   contains {"msg": ..., "field": ...}   # an admission warning
//	patch  contains {"op": ..., "path": ..., "value": ...}  # JSON patch ops (mutating webhook)
//	drift  contains {"msg": ..., "field": ...}   # drift of a live object (audit)
//
// All policies are compiled once into one compiler; each gets prepared
// queries, and a request is evaluated only by the policies whose meta
// matches its kind and operation. See docs/policy-authoring.md.
//
// The files, in the order a policy goes through them:
//
//	source.go        Source; reading .rego files (ReadDir, ReadDirs) and parsing them (ParseModules)
//	capabilities.go  the built-in functions policies may not use (ForbiddenBuiltins, CheckBuiltins)
//	compile.go       Compile: one compiler for all modules, the parameters store, a Policy per package
//	metadata.go      a policy's kinds, operations and description
//	policy.go        Policy: which rules it defines, which operations it matches
//	set.go           Set: the compiled policies and their kind/operation index (Matching, DriftPolicies)
//	combined.go      the cached query that evaluates all matching policies at once
//	eval.go          AdmitAll, AdmitSelected, Policy.Admit, Policy.Drift
//	timeout.go       when the deadline passes: each policy alone, under a short extra budget
//	results.go       Finding, Result: decoding and checking what the rules returned
package policy
