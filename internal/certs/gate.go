package certs

import (
	"crypto/tls"
	"crypto/x509"
	"sync"
	"time"
)

// Gate serves the certificate from Source (controller-runtime's
// certwatcher) only once the API server trusts it: while a newly mounted
// certificate does not verify against the CAs that every webhook
// configuration's caBundle holds, the certificate served before it keeps
// being served (as long as it is valid). Together with the CA overlap of
// MergeBundle a CA rotation never presents a certificate the API server
// cannot verify, whichever of the caBundle update and the Secret volume
// refresh comes first.
type Gate struct {
	Source func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Now    func() time.Time

	mu         sync.Mutex
	trusted    *x509.CertPool // nil: not known yet, serve what Source has
	gen        uint64
	checked    *tls.Certificate
	checkedGen uint64
	serving    *tls.Certificate
}

// SetTrusted sets the CAs every webhook configuration trusts.
func (g *Gate) SetTrusted(cas []*x509.Certificate) {
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	g.mu.Lock()
	g.trusted = pool
	g.gen++
	g.mu.Unlock()
}

// GetCertificate is tls.Config.GetCertificate.
func (g *Gate) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c, err := g.Source(hello)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c == g.checked && g.gen == g.checkedGen {
		return g.serving, nil
	}
	g.checked, g.checkedGen = c, g.gen
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	if g.serving == nil || g.trusted == nil || verifies(c, g.trusted, now()) || !valid(g.serving, now()) {
		g.serving = c
	}
	return g.serving, nil
}

// Serving is the certificate handed out last (nil before the first handshake).
func (g *Gate) Serving() *tls.Certificate {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.serving
}

func leaf(c *tls.Certificate) *x509.Certificate {
	if c.Leaf != nil {
		return c.Leaf
	}
	if len(c.Certificate) == 0 {
		return nil
	}
	l, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return l
}

func verifies(c *tls.Certificate, pool *x509.CertPool, now time.Time) bool {
	l := leaf(c)
	if l == nil {
		return false
	}
	inter := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(ic)
		}
	}
	_, err := l.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err == nil
}

func valid(c *tls.Certificate, now time.Time) bool {
	l := leaf(c)
	return l != nil && now.Before(l.NotAfter) && !now.Before(l.NotBefore)
}
