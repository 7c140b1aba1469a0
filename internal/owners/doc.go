// Package owners looks up controlling owner objects in the cluster, so a
// policy can see the parent's settings (e.g. a paused Deployment will
// not revert its ReplicaSets). Lookups go through the controller-runtime
// manager's informer cache (shared with the audit) and are bounded in time: an unknown parent is reported
// as unknown, never waited on.
//
// In one request's flow it is asked by internal/input (ParentLookup)
// while the policy input is built, and only with `serve --cluster`.
package owners
