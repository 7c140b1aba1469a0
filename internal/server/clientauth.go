package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/driftguard/driftguard/internal/metrics"
)

// clientAuth makes the webhook server require a client certificate
// (--client-ca-file): only a caller holding a certificate for client
// authentication signed by one of the file's CAs, and with --client-names
// one of those names (its subject common name or a DNS name), completes
// the TLS handshake. kube-apiserver presents such a certificate when its
// AdmissionConfiguration gives it one for the webhook's host
// (docs/security.md); then no other caller of the port can post reviews,
// so none can make driftguard answer, log or record Events for objects
// of its choosing.
//
// The file is read again when it changes (checked at most every
// clientCARecheck, on a handshake); a file with no usable certificate
// keeps the previous CAs and is counted
// (driftguard_webhook_client_ca_reload_failures_total).
type clientAuth struct {
	path  string
	names []string // empty: any name
	log   logr.Logger
	m     *metrics.Metrics // nil: none
	now   func() time.Time

	mu      sync.Mutex
	pool    *x509.CertPool
	raw     []byte // the file's contents the pool was made of
	bad     string // the last failed read (error and contents), logged once
	checked time.Time
}

const clientCARecheck = 10 * time.Second

func newClientAuth(path string, names []string, log logr.Logger, m *metrics.Metrics) (*clientAuth, error) {
	a := &clientAuth{path: path, names: names, log: log, m: m, now: time.Now}
	raw, pool, err := readClientCAs(path)
	if err != nil {
		return nil, fmt.Errorf("--client-ca-file: %w", err)
	}
	a.raw, a.pool, a.checked = raw, pool, a.now()
	return a, nil
}

// readClientCAs reads a PEM bundle of CA certificates.
func readClientCAs(path string) ([]byte, *x509.CertPool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return raw, pool, nil
}

// roots is the current CA pool, read again when the file changed. A
// change with no usable certificate (or a file that cannot be read) is
// logged and counted once, and the previous CAs stay.
func (a *clientAuth) roots() *x509.CertPool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if now.Sub(a.checked) < clientCARecheck {
		return a.pool
	}
	a.checked = now
	raw, err := os.ReadFile(a.path)
	if err == nil && bytes.Equal(raw, a.raw) {
		return a.pool
	}
	if err == nil {
		pool := x509.NewCertPool()
		if pool.AppendCertsFromPEM(raw) {
			a.raw, a.pool, a.bad = raw, pool, ""
			a.log.Info("client CAs reloaded", "file", a.path)
			return a.pool
		}
		err = fmt.Errorf("%s holds no PEM certificate", a.path)
	}
	if key := fmt.Sprintf("%v %x", err, raw); key != a.bad {
		a.bad = key
		a.log.Error(err, "reading --client-ca-file; the previous CAs stay in use")
		if a.m != nil {
			a.m.ClientAuth.CAReloadFailures.Inc()
		}
	}
	return a.pool
}

// apply makes c require and check client certificates.
func (a *clientAuth) apply(c *tls.Config) {
	// requested, then required and verified in VerifyConnection against
	// the current CAs, so that every refusal is counted (crypto/tls checks
	// the client's proof of its key whenever a certificate is sent)
	c.ClientAuth = tls.RequestClientCert
	c.VerifyConnection = a.verify
}

var errNoClientCert = errors.New("no client certificate")

func (a *clientAuth) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return a.refuse("no_certificate", errNoClientCert)
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: a.roots(), Intermediates: inter, CurrentTime: a.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return a.refuse("untrusted", fmt.Errorf("client certificate %q: %w", leaf.Subject.CommonName, err))
	}
	if len(a.names) > 0 && !slices.Contains(a.names, leaf.Subject.CommonName) &&
		!slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return slices.Contains(a.names, n) }) {
		return a.refuse("name", fmt.Errorf("client certificate %q (DNS names %v) is not one of --client-names", leaf.Subject.CommonName, leaf.DNSNames))
	}
	return nil
}

func (a *clientAuth) refuse(reason string, err error) error {
	if a.m != nil {
		a.m.ClientAuth.Refused.WithLabelValues(reason).Inc()
	}
	return err
}
