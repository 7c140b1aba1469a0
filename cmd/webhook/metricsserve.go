package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"

	"github.com/driftguard/driftguard/internal/certs"
)

// errMetricsNeedCluster explains why secure metrics need --cluster.
var errMetricsNeedCluster = errors.New("--metrics-secure (the default) serves /metrics over HTTPS to callers the API server authenticates (TokenReview) and authorizes (SubjectAccessReview for GET /metrics), which needs --cluster; pass --metrics-secure=false to serve /metrics over plain HTTP (local use only)")

// metricsAuth wraps h so that only callers with a bearer token the API
// server accepts, and who may get the non-resource URL /metrics, are
// answered: 401 without a valid token, 403 without the permission.
// Results are cached (a minute for tokens, five for allowed reviews).
func metricsAuth(log logr.Logger, cfg *rest.Config, h http.Handler) (http.Handler, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics authentication: %w", err)
	}
	filter, err := filters.WithAuthenticationAndAuthorization(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("metrics authentication: %w", err)
	}
	return filter(log, h)
}

// metricsTLS is the TLS configuration of the HTTPS metrics server: the
// webhook's serving certificate from --cert-dir (held by w once loaded;
// with --cert-rotation that happens once the rotator has written it) and
// the same protocol settings.
func metricsTLS(w *atomic.Pointer[certs.Watcher]) *tls.Config {
	c := &tls.Config{NextProtos: []string{"http/1.1"}}
	modernTLS(c)
	c.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cw := w.Load()
		if cw == nil {
			return nil, errors.New("the serving certificate is not loaded yet")
		}
		return cw.GetCertificate(h)
	}
	return c
}
