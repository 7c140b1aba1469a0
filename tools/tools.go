//go:build tools

// Package tools pins the Kubernetes control-plane binaries (kube-apiserver,
// etcd and kube-controller-manager) used by the e2e tests. Build them with hack/e2e-assets.sh.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
