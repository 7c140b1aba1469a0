// Package server runs driftguard's admission webhook: one Run(ctx,
// Options) from start-up to shutdown. cmd/webhook parses the serve flags
// into Options (one field per flag, named after it) and calls Run.
//
// Run, in the order one start-up takes:
//
//   - options.go: the Options, the --dev defaults (local addresses, plain
//     HTTP metrics, a self-signed certificate) and the checks of flags
//     that need one another;
//   - memory.go: the garbage collector's target and soft memory limit,
//     and the review memory budget that follows from it;
//   - run.go: wiring: the Prometheus registry, the cluster clients, the
//     config and policies (loader), the admission engine and its
//     reloader;
//   - cluster.go (--cluster): the owner and scale lookups, the controller
//     manager with the drift audit and the permission baseline;
//   - certrotation.go (--cert-rotation): the certificate rotator and the
//     CA bundle keeper;
//   - certs.go: the serving certificate from --cert-dir and the TLS
//     settings;
//   - webhook.go: the HTTPS server of /validate and /mutate (per-request
//     deadlines, the connection cap);
//   - metrics.go: /metrics over HTTPS for callers the API server
//     authenticates and authorizes;
//   - listeners.go: the health and metrics listeners and /readyz;
//   - lifecycle.go: every component in one errgroup: the first one that
//     fails ends Run with its error; a shutdown turns /readyz to 503,
//     waits --shutdown-delay, drains the webhook server, then closes the
//     health and metrics listeners.
package server
