package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

type testPair struct {
	certPEM, keyPEM []byte
	serial          string
}

// selfSigned makes a serving certificate valid from notBefore to notAfter.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) testPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return testPair{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		serial:  tmpl.SerialNumber.String(),
	}
}

func writePair(t *testing.T, dir string, certPEM, keyPEM []byte) {
	t.Helper()
	for name, b := range map[string][]byte{KeyFile: keyPEM, CertFile: certPEM} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// tlsServer accepts connections and completes handshakes with w's certificate.
func tlsServer(t *testing.T, w *Watcher) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: w.GetCertificate, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				_ = c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// servedSerial does a TLS handshake and returns the presented certificate's serial.
func servedSerial(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test reads the presented certificate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestWatcherRefusesCertificatesOutsideTheirValidity(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	good := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	writePair(t, dir, good.certPEM, good.keyPEM)
	refused := map[string]int{}
	var served []string
	failing := false
	w := &Watcher{
		CertPath: filepath.Join(dir, CertFile), KeyPath: filepath.Join(dir, KeyFile), Log: logr.Discard(),
		OnRefused: func(reason string, _ error) { refused[reason]++ },
		OnServe:   func(c *x509.Certificate) { served = append(served, c.SerialNumber.String()) },
		OnState:   func(f bool) { failing = f },
	}
	if err := w.Load(); err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, w)
	if got := servedSerial(t, addr); got != good.serial {
		t.Fatalf("served %s, want the loaded certificate %s", got, good.serial)
	}

	steps := []struct {
		name   string
		pair   testPair
		reason string
	}{
		{"expired", selfSigned(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour)), RefusedExpired},
		{"not yet valid", selfSigned(t, now.Add(24*time.Hour), now.Add(48*time.Hour)), RefusedNotYetValid},
	}
	for _, s := range steps {
		writePair(t, dir, s.pair.certPEM, s.pair.keyPEM)
		w.Poll()
		w.Poll() // the same files again: counted once
		if refused[s.reason] != 1 || !failing {
			t.Fatalf("%s certificate: refusals %v failing=%v, want one %s", s.name, refused, failing, s.reason)
		}
		if got := servedSerial(t, addr); got != good.serial {
			t.Fatalf("%s certificate was served (serial %s); want the previous %s", s.name, got, good.serial)
		}
	}

	// a key that is not the certificate's: reported once it has settled
	other := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	writePair(t, dir, other.certPEM, good.keyPEM)
	w.Poll()
	if refused[RefusedKeyMismatch] != 0 {
		t.Fatal("a pair seen once (perhaps half written) was reported at once")
	}
	w.Poll()
	if refused[RefusedKeyMismatch] != 1 {
		t.Fatalf("mismatched key: refusals %v, want one key_mismatch", refused)
	}
	if got := servedSerial(t, addr); got != good.serial {
		t.Fatalf("mismatched pair was served (serial %s)", got)
	}

	// a valid new certificate is picked up and the failure clears
	fresh := selfSigned(t, now.Add(-time.Minute), now.Add(2*time.Hour))
	writePair(t, dir, fresh.certPEM, fresh.keyPEM)
	w.Poll()
	if got := servedSerial(t, addr); got != fresh.serial {
		t.Fatalf("valid new certificate not served: %s, want %s", got, fresh.serial)
	}
	if failing {
		t.Fatal("still failing after a valid certificate")
	}
	if len(served) != 2 || served[1] != fresh.serial {
		t.Fatalf("OnServe calls %v, want the loaded and the fresh certificate", served)
	}
}

// A not-yet-valid certificate is served once its NotBefore has passed.
func TestWatcherServesCertificateOnceValid(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	good := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	writePair(t, dir, good.certPEM, good.keyPEM)
	clock := now
	w := &Watcher{CertPath: filepath.Join(dir, CertFile), KeyPath: filepath.Join(dir, KeyFile), Log: logr.Discard(), Now: func() time.Time { return clock }}
	if err := w.Load(); err != nil {
		t.Fatal(err)
	}
	later := selfSigned(t, now.Add(10*time.Minute), now.Add(3*time.Hour))
	writePair(t, dir, later.certPEM, later.keyPEM)
	w.Poll()
	if leaf(w.Serving()).SerialNumber.String() != good.serial {
		t.Fatal("not-yet-valid certificate served")
	}
	clock = now.Add(11 * time.Minute)
	w.Poll()
	if got := leaf(w.Serving()).SerialNumber.String(); got != later.serial {
		t.Fatalf("serving %s once valid, want %s", got, later.serial)
	}
}
