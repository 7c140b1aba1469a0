package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/driftguard/driftguard/internal/certs"
	"github.com/driftguard/driftguard/internal/metrics"
)

// certPollInterval is how often the files in --cert-dir are read.
const certPollInterval = time.Second

// loadServingCert reads tls.crt and tls.key in dir for the webhook (and
// the HTTPS metrics) server. The watcher refuses a new pair outside its
// validity window or with a key of another certificate (the previous one
// keeps being served) and reports each refusal in sm; m.CertExpiry is the
// expiry of the certificate being served.
func loadServingCert(log logr.Logger, m *metrics.Metrics, sm *metrics.Serving, dir string) (*certs.Watcher, error) {
	w := &certs.Watcher{
		CertPath: filepath.Join(dir, certs.CertFile), KeyPath: filepath.Join(dir, certs.KeyFile),
		Interval: certPollInterval, Log: log.WithName("certificate"),
		OnServe:   func(c *x509.Certificate) { m.CertExpiry.Set(float64(c.NotAfter.Unix())) },
		OnRefused: func(reason string, _ error) { sm.CertReloadFailures.WithLabelValues(reason).Inc() },
		OnState: func(failing bool) {
			v := 0.0
			if failing {
				v = 1
			}
			sm.CertReloadFailing.Set(v)
		},
	}
	for _, r := range []string{certs.RefusedExpired, certs.RefusedNotYetValid, certs.RefusedKeyMismatch, certs.RefusedUnreadable} {
		sm.CertReloadFailures.WithLabelValues(r) // present at 0, so increase() sees the first one
	}
	return w, w.Load()
}

// watchServedExpiry keeps m.CertExpiry at the expiry of the certificate
// the gate serves (with --cert-rotation it may hold a new one back).
func watchServedExpiry(ctx context.Context, m *metrics.Metrics, gate *certs.Gate) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if c := gate.Serving(); c != nil && len(c.Certificate) > 0 {
				if l, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
					m.CertExpiry.Set(float64(l.NotAfter.Unix()))
				}
			}
		}
	}
}

// modernTLS limits TLS 1.2 to ECDHE key exchange with AEAD ciphers
// (AES-GCM, ChaCha20-Poly1305); TLS 1.3's suites are not configurable and
// all AEAD.
func modernTLS(c *tls.Config) {
	c.MinVersion = tls.VersionTLS12
	c.CipherSuites = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// serverTLS is the TLS configuration of the webhook and the HTTPS
// metrics server: modernTLS, HTTP/1.1 unless http2, and the certificate
// getCert returns.
func serverTLS(http2 bool, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	c := &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	modernTLS(c)
	if !http2 {
		c.NextProtos = []string{"http/1.1"}
	}
	c.GetCertificate = getCert
	return c
}
