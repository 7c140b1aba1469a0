// Package metrics defines driftguard's Prometheus metrics. Labels are
// bounded by design: policy names and decisions come from the loaded
// policy set; operations are the four Kubernetes has and kinds not named
// by a policy, the config or the Kubernetes API are counted as "_other"
// (internal/admit/labels.go), never object names or users. See
// docs/metrics.md.
//
// In one request's flow it is the last step: internal/admit counts the
// answer, each policy's decision, errors and latency once the answer is
// known. Outside requests, internal/loader counts policy loads and
// internal/audit and internal/baseline set their gauges.
package metrics
