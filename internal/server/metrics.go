package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/driftguard/driftguard/internal/certs"
)

// errMetricsNeedCluster explains why secure metrics need --cluster.
var errMetricsNeedCluster = errors.New("--metrics-secure (the default) serves /metrics over HTTPS to callers the API server authenticates (TokenReview) and authorizes (SubjectAccessReview for GET /metrics), which needs --cluster; pass --metrics-secure=false to serve /metrics over plain HTTP (local use only)")

// metricsAuth wraps h so that only callers with a bearer token the API
// server accepts (TokenReview), and who may get the non-resource URL
// /metrics (SubjectAccessReview), are answered: 401 without a valid token,
// 403 without the permission, 503 when the API server cannot be asked.
// Answers are cached (a minute for tokens, five minutes for an allowed and
// 30s for a denied review). The delegating authenticator and authorizer
// are k8s.io/apiserver's, configured as controller-runtime's metrics
// filters configure them; those answer 500, with an error and a stack
// trace in the log, to every invalid token, which any caller of the port
// could send.
func metricsAuth(log logr.Logger, cfg *rest.Config, h http.Handler) (http.Handler, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics authentication: %w", err)
	}
	backoff := &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		TokenAccessReviewClient:  cs.AuthenticationV1(),
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      backoff,
		CacheTTL:                 time.Minute,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("metrics authentication: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: cs.AuthorizationV1(),
		AllowCacheTTL:             5 * time.Minute,
		DenyCacheTTL:              30 * time.Second,
		WebhookRetryBackoff:       backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("metrics authorization: %w", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, ok, err := authn.AuthenticateRequest(r)
		if err != nil || !ok {
			// a missing, invalid or expired token (or a TokenReview that
			// failed: the error says which)
			if err != nil {
				log.Info("metrics request not authenticated", "remote", r.RemoteAddr, "error", err.Error())
			}
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		attrs := authorizer.AttributesRecord{User: res.User, Verb: strings.ToLower(r.Method), Path: r.URL.Path}
		decision, reason, err := authz.Authorize(r.Context(), attrs)
		switch {
		case err != nil:
			log.Info("metrics request: SubjectAccessReview failed", "user", res.User.GetName(), "error", err.Error())
			http.Error(w, "authorization unavailable", http.StatusServiceUnavailable)
		case decision != authorizer.DecisionAllow:
			log.V(1).Info("metrics request forbidden", "user", res.User.GetName(), "reason", reason)
			http.Error(w, fmt.Sprintf("Forbidden: %s may not get %s", res.User.GetName(), r.URL.Path), http.StatusForbidden)
		default:
			h.ServeHTTP(w, r)
		}
	}), nil
}

// metricsTLS is the TLS configuration of the HTTPS metrics server: the
// webhook's serving certificate from --cert-dir (held by w once loaded;
// with --cert-rotation that happens once the rotator has written it) and
// the same protocol settings.
func metricsTLS(w *atomic.Pointer[certs.Watcher]) *tls.Config {
	return serverTLS(false, func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cw := w.Load()
		if cw == nil {
			return nil, errors.New("the serving certificate is not loaded yet")
		}
		return cw.GetCertificate(h)
	})
}
