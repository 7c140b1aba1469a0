package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Reasons a certificate in the directory is not served, the values of
// Watcher.OnRefused's reason.
const (
	RefusedExpired     = "expired"       // NotAfter has passed
	RefusedNotYetValid = "not_yet_valid" // NotBefore is in the future
	RefusedKeyMismatch = "key_mismatch"  // unparsable pair or key of another certificate
	RefusedUnreadable  = "unreadable"    // a file is missing or cannot be read
)

// Watcher serves the certificate and key in two files and picks up a new
// pair when the files change, but only a pair that can be served: a
// certificate outside its validity window (expired, not yet valid), or one
// whose key does not match, is refused, logged and reported, and the
// certificate served before it keeps being served. controller-runtime's
// certwatcher would serve any pair that parses.
//
// A pair that fails to parse is reported only once it has stayed the same
// for two polls: whoever writes the files one by one (key, then
// certificate) is not reported in between.
type Watcher struct {
	CertPath, KeyPath string
	// Interval between reads of the files (default 2s).
	Interval time.Duration
	Log      logr.Logger
	// Now is the clock (tests replace it).
	Now func() time.Time
	// OnServe is called with each certificate that starts being served.
	OnServe func(*x509.Certificate)
	// OnRefused is called once for each new content of the files that is
	// refused, with one of the Refused* reasons.
	OnRefused func(reason string, err error)
	// OnState is called after each poll: failing is true while the files
	// hold a pair that is refused (the previous certificate is served).
	OnState func(failing bool)

	mu      sync.RWMutex
	current *tls.Certificate

	seenCert, seenKey []byte // the contents last looked at
	pending           bool   // seen* failed to parse once, not reported yet
	failing           bool   // the files hold a pair that is refused
	reported          bool   // the refusal of seen* was reported
}

// Load reads the files for the first time. A pair outside its validity
// window is served all the same (there is nothing else to serve) but
// reported; an unreadable or mismatched pair is an error.
func (w *Watcher) Load() error {
	certPEM, keyPEM, err := w.read()
	if err != nil {
		return err
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("certificate %s and key %s: %w", w.CertPath, w.KeyPath, err)
	}
	w.seenCert, w.seenKey = certPEM, keyPEM
	if reason, err := w.window(c.Leaf); err != nil {
		w.failing, w.reported = true, true
		w.refused(reason, err)
	}
	w.serve(&c)
	w.state()
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (w *Watcher) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.current == nil {
		return nil, errors.New("no serving certificate loaded")
	}
	return w.current, nil
}

// Serving is the certificate being served (nil before Load).
func (w *Watcher) Serving() *tls.Certificate {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.current
}

// Start polls the files until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	iv := w.Interval
	if iv <= 0 {
		iv = 2 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.Poll()
		}
	}
}

// Poll reads the files once and serves a new pair if it may be served.
func (w *Watcher) Poll() {
	defer w.state()
	certPEM, keyPEM, err := w.read()
	if err != nil {
		w.fail(RefusedUnreadable, err, true)
		return
	}
	same := bytes.Equal(certPEM, w.seenCert) && bytes.Equal(keyPEM, w.seenKey)
	if !same {
		w.seenCert, w.seenKey, w.pending, w.reported = certPEM, keyPEM, false, false
	} else if !w.pending && !w.failing {
		return // nothing new
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		w.fail(RefusedKeyMismatch, fmt.Errorf("certificate %s and key %s: %w", w.CertPath, w.KeyPath, err), true)
		return
	}
	w.pending = false
	// checked on every poll while failing: a not-yet-valid certificate
	// becomes servable in time, a served one expires
	if reason, err := w.window(c.Leaf); err != nil {
		w.fail(reason, err, false)
		return
	}
	w.failing, w.reported = false, false
	if cur := w.Serving(); cur != nil && bytes.Equal(cur.Certificate[0], c.Certificate[0]) {
		return
	}
	w.serve(&c)
	w.Log.Info("serving a new certificate", "serial", c.Leaf.SerialNumber.String(), "notAfter", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

// fail records a refused pair, reported once per content of the files; a
// pair that may be half written (settle) is reported only when it is
// still there at the next poll.
func (w *Watcher) fail(reason string, err error, settle bool) {
	if settle && !w.pending && !w.reported {
		w.pending = true
		return
	}
	w.pending, w.failing = false, true
	if !w.reported {
		w.reported = true
		w.refused(reason, err)
	}
}

func (w *Watcher) read() ([]byte, []byte, error) {
	certPEM, err := os.ReadFile(w.CertPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(w.KeyPath)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

func (w *Watcher) window(l *x509.Certificate) (string, error) {
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	switch {
	case l == nil:
		return RefusedKeyMismatch, errors.New("no certificate in the pair")
	case now.After(l.NotAfter):
		return RefusedExpired, fmt.Errorf("certificate %s (serial %s) expired at %s", w.CertPath, l.SerialNumber, l.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(l.NotBefore):
		return RefusedNotYetValid, fmt.Errorf("certificate %s (serial %s) is not valid before %s", w.CertPath, l.SerialNumber, l.NotBefore.UTC().Format(time.RFC3339))
	}
	return "", nil
}

func (w *Watcher) serve(c *tls.Certificate) {
	w.mu.Lock()
	w.current = c
	w.mu.Unlock()
	if w.OnServe != nil && c.Leaf != nil {
		w.OnServe(c.Leaf)
	}
}

func (w *Watcher) refused(reason string, err error) {
	if w.Serving() != nil {
		w.Log.Error(err, "refusing the certificate in the directory; the previous certificate stays served", "reason", reason)
	} else {
		w.Log.Error(err, "serving a certificate outside its validity window: there is no other", "reason", reason)
	}
	if w.OnRefused != nil {
		w.OnRefused(reason, err)
	}
}

func (w *Watcher) state() {
	if w.OnState != nil {
		w.OnState(w.failing)
	}
}
