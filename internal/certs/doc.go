// Package certs makes the self-signed CA and serving certificate that
// `driftguard serve --dev` and the end-to-end tests use. Production
// certificates come from a directory (cert-manager or a rotator) and are
// reloaded by Watcher, which refuses a pair that cannot be served.
//
// It is under the request flow, not in it: the webhook's TLS listener
// serves the pair Watcher holds, so every review arrives over a
// certificate this package checked.
package certs
