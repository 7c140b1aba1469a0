// Package audit evaluates the policies' drift rules against live objects
// and exports the result as gauges (driftguard_drift_objects by policy,
// namespace and kind). It reads objects from controller-runtime's
// informer cache and, with several replicas, runs on the leader only.
//
// It is not on a request's path: with `serve --cluster` it runs every
// audit interval beside the webhook, with the policy set the webhook
// answers with (internal/loader), building each live object's input with
// internal/input.
package audit
