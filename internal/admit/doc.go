// Package admit answers admission reviews: it checks the HTTP request,
// builds the policy input (internal/input), evaluates the matching
// policies (internal/policy) and turns their results into an answer
// (allow, deny, warnings, JSON patch), counted in internal/metrics.
//
// In one request's flow it is both ends: handler.go receives the review
// from the API server and writes the answer; in between, decide.go has
// internal/input build the policy input, has internal/policy evaluate
// the matching policies, applies each policy's mode, break-glass and
// failurePolicy, and driftrecord.go stamps or clears the drift record in
// the mutating webhook's patch.
package admit
