// Package baseline keeps the permission baseline: what controller service
// accounts need (config permissionBaseline). It checks each need with a
// SubjectAccessReview against the API server (missing permissions become
// the driftguard_permission_missing gauge), and indexes which RBAC objects
// each need currently depends on, so admission can deny or warn when such
// an object is deleted or changed (docs/scenarios.md S14).
//
// In one request's flow it is asked once, by internal/input when the
// reviewed object is a Role, ClusterRole or binding (BaselineLookup), for
// the needs that depend on that object; the SubjectAccessReviews run in
// the background (`serve --cluster`), never per request.
package baseline
