package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/certs"
)

// writeSelfSigned puts a self-signed serving certificate valid from
// notBefore to notAfter into dir (key first, each file renamed into
// place) and returns its serial.
func writeSelfSigned(t *testing.T, dir string, notBefore, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	atomicWrite(t, filepath.Join(dir, certs.KeyFile), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	atomicWrite(t, filepath.Join(dir, certs.CertFile), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	return sn.String()
}

// handshake connects to the webhook port and returns the presented certificate.
func handshake(t *testing.T, addr string, cfg *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.InsecureSkipVerify = true //nolint:gosec // the test reads what is presented
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

func (s *server) waitMetric(t *testing.T, sample string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, _ := s.metricValue(sample + " ")
		if v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 15s, want %v", sample, v, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An expired or not-yet-valid certificate written to --cert-dir is refused
// and counted; the previous one keeps being served; a valid one is picked up.
func TestServeRefusesCertificatesOutsideTheirValidity(t *testing.T) {
	bin := serveBinary(t)
	s := startServer(t, bin, "", nil)
	first, err := handshake(t, s.webhook, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.waitMetric(t, "driftguard_certificate_expiry_timestamp_seconds", float64(first.NotAfter.Unix()))
	now := time.Now()
	for _, c := range []struct {
		reason              string
		notBefore, notAfter time.Time
	}{
		{"expired", now.Add(-48 * time.Hour), now.Add(-time.Hour)},
		{"not_yet_valid", now.Add(time.Hour), now.Add(48 * time.Hour)},
	} {
		writeSelfSigned(t, s.certDir, c.notBefore, c.notAfter)
		s.waitMetric(t, `driftguard_certificate_reload_failures_total{reason="`+c.reason+`"}`, 1)
		s.waitMetric(t, "driftguard_certificate_reload_failing", 1)
		got, err := handshake(t, s.webhook, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.SerialNumber.Cmp(first.SerialNumber) != 0 {
			t.Fatalf("%s certificate is served (serial %s), want the previous %s", c.reason, got.SerialNumber, first.SerialNumber)
		}
		if _, _, err := s.review(s.client, deploymentReview(t)); err != nil {
			t.Fatalf("a client trusting the served CA fails after the %s certificate: %v", c.reason, err)
		}
	}
	notAfter := now.Add(3 * time.Hour).Truncate(time.Second)
	serial := writeSelfSigned(t, s.certDir, now.Add(-time.Minute), notAfter)
	s.waitMetric(t, "driftguard_certificate_reload_failing", 0)
	got, err := handshake(t, s.webhook, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.SerialNumber.String() != serial {
		t.Fatalf("valid new certificate not served: serial %s, want %s", got.SerialNumber, serial)
	}
	s.waitMetric(t, "driftguard_certificate_expiry_timestamp_seconds", float64(notAfter.Unix()))
	if !containsLog(s.stderr.String(), "refusing the certificate") {
		t.Errorf("no log line about the refused certificate:\n%s", s.stderr.String())
	}
}

func containsLog(log, s string) bool { return strings.Contains(log, s) }

// TLS 1.2 offers ECDHE with AEAD ciphers only.
func TestServeTLS12ModernCiphersOnly(t *testing.T) {
	bin := serveBinary(t)
	s := startServer(t, bin, "", nil)
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256} {
		if _, err := handshake(t, s.webhook, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}); err == nil {
			t.Errorf("TLS 1.2 handshake with %s succeeded", tls.CipherSuiteName(suite))
		}
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		if _, err := handshake(t, s.webhook, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}); err != nil {
			t.Errorf("TLS 1.2 handshake with %s: %v", tls.CipherSuiteName(suite), err)
		}
	}
	if _, err := handshake(t, s.webhook, &tls.Config{MinVersion: tls.VersionTLS13}); err != nil {
		t.Errorf("TLS 1.3 handshake: %v", err)
	}

}
