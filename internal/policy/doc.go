// Package policy loads, compiles and evaluates driftguard's Rego policies.
//
// A policy is a Rego v1 package driftguard.policies.<name>. The METADATA
// comment block (OPA's annotations) right above its package line says
// which requests it sees, and it may define
//
//	# METADATA
//	# description: What the policy guards, in one sentence.
//	# custom:
//	#   kinds: [Deployment, StatefulSet]   # or ["*"] (the default)
//	#   operations: [CREATE, UPDATE]       # of CREATE, UPDATE, DELETE, CONNECT, or ["*"]
//	package driftguard.policies.<name>
//
//	deny   contains {"msg": ..., "field": ...}   # a denial (or a warning in warn mode)
//	warn   contains {"msg": ..., "field": ...}   # an admission warning
//	patch  contains {"op": ..., "path": ..., "value": ...}  # JSON patch ops (mutating webhook)
//	drift  contains {"msg": ..., "field": ...}   # drift of a live object (audit)
//
// A finding is a string (its message) or an object with a non-empty
// string msg; anything else is an evaluation error of the policy.
// Packages without any of these rules are helpers. All policies are
// compiled once into one compiler; each gets prepared queries, and a
// request is evaluated only by the policies whose kinds and operations
// match it. See docs/policy-authoring.md and docs/policy-input.md.
//
// The files, in the order a policy goes through them:
//
//	source.go        Source; reading .rego files (ReadDir, ReadDirs), parsing them (ParseModules), load errors at a file:line
//	capabilities.go  the built-in functions policies may not use (ForbiddenBuiltins, CheckBuiltins)
//	compile.go       Compile: one compiler for all modules, the parameters store, a Policy per package
//	metadata.go      a policy's kinds, operations and description, from its METADATA annotation
//	policy.go        Policy: which rules it defines, which operations it matches
//	set.go           Set: the compiled policies and their kind/operation index (Matching, DriftPolicies)
//	combined.go      the cached query that evaluates all matching policies at once
//	eval.go          AdmitAll, AdmitSelected, Policy.Admit, Policy.Drift
//	timeout.go       when the deadline passes: each policy alone, under a short extra budget
//	results.go       Finding, Result: decoding and checking what the rules returned
package policy
