package config

import "time"

// Request budget defaults (docs/config.md, "Request budget").
const (
	// DefaultRequestTimeout leaves a second of the Helm chart's
	// webhook.timeoutSeconds (5) for the network, TLS and the answer.
	DefaultRequestTimeout = 4 * time.Second
	// DefaultMaxChanges is far above real edits (the 8 KB Deployment of
	// the benchmarks changes a handful of fields; a kubectl apply of a
	// whole manifest a few hundred) and low enough that the policies of a
	// review at the limit finish well inside DefaultRequestTimeout.
	DefaultMaxChanges = 10000
	// DefaultMaxRequestBytes is the largest review kube-apiserver sends
	// for an object it can store: object and oldObject are each at most
	// etcd's default request limit of 1.5 MiB as stored (protobuf for
	// built-in kinds, JSON for custom resources), JSON grows bytes fields
	// (Secret data, ConfigMap binaryData) by a third in base64, and the
	// review around them (user info, options, the managedFields the API
	// server adds) takes a few KiB: 2 x 2 MiB + 256 KiB. A write above it
	// is larger than etcd would store anyway (the API server itself
	// accepts request bodies of up to 3 MiB).
	DefaultMaxRequestBytes = 4<<20 + 256<<10
)
