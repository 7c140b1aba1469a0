package server

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
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/driftguard/driftguard/internal/metrics"
)

// testCA is a CA that signs certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf certificate for cn (and dns) with the given uses.
func (ca *testCA) issue(t *testing.T, cn string, dns []string, usage ...x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// clientAuthServer serves 200 with the webhook's TLS settings and
// --client-ca-file at caFile.
func clientAuthServer(t *testing.T, caFile string, names []string, m *metrics.Metrics) (*httptest.Server, *clientAuth, *x509.CertPool) {
	t.Helper()
	serverCA := newTestCA(t, "server-ca")
	serving := serverCA.issue(t, "webhook", []string{"localhost"}, x509.ExtKeyUsageServerAuth)
	cfg := serverTLS(false, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &serving, nil })
	ca, err := newClientAuth(caFile, names, logr.Discard(), m)
	if err != nil {
		t.Fatal(err)
	}
	ca.apply(cfg)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = cfg
	srv.Config.ErrorLog = nil
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	return srv, ca, roots
}

// call posts to srv presenting cert (nil: none) and reports whether the
// request got through.
func call(srv *httptest.Server, roots *x509.CertPool, cert *tls.Certificate) error {
	tc := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	resp, err := c.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return &httpStatusErr{resp.StatusCode}
	}
	return nil
}

type httpStatusErr struct{ code int }

func (e *httpStatusErr) Error() string { return http.StatusText(e.code) }

func TestClientCertificatesRequired(t *testing.T) {
	apiCA := newTestCA(t, "apiserver-client-ca")
	other := newTestCA(t, "someone-else")
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, apiCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry())
	srv, _, roots := clientAuthServer(t, caFile, []string{"kube-apiserver", "apiserver.example"}, m)

	good := apiCA.issue(t, "kube-apiserver", nil, x509.ExtKeyUsageClientAuth)
	bySAN := apiCA.issue(t, "something", []string{"apiserver.example"}, x509.ExtKeyUsageClientAuth)
	wrongName := apiCA.issue(t, "mallory", []string{"mallory.example"}, x509.ExtKeyUsageClientAuth)
	serverOnly := apiCA.issue(t, "kube-apiserver", nil, x509.ExtKeyUsageServerAuth)
	foreign := other.issue(t, "kube-apiserver", nil, x509.ExtKeyUsageClientAuth)

	for _, c := range []struct {
		name   string
		cert   *tls.Certificate
		ok     bool
		reason string
	}{
		{"the API server's certificate", &good, true, ""},
		{"a listed DNS name", &bySAN, true, ""},
		{"no certificate", nil, false, "no_certificate"},
		{"another CA's certificate", &foreign, false, "untrusted"},
		{"a server-only certificate", &serverOnly, false, "untrusted"},
		{"a name not listed", &wrongName, false, "name"},
	} {
		before := testutil.ToFloat64(m.ClientAuth.Refused.WithLabelValues(c.reason))
		err := call(srv, roots, c.cert)
		if c.ok != (err == nil) {
			t.Errorf("%s: got through %v (%v), want %v", c.name, err == nil, err, c.ok)
		}
		if !c.ok {
			if after := testutil.ToFloat64(m.ClientAuth.Refused.WithLabelValues(c.reason)); after != before+1 {
				t.Errorf("%s: refusals{reason=%q} %v → %v, want one more", c.name, c.reason, before, after)
			}
		}
	}
}

func TestClientCAFileReloaded(t *testing.T) {
	oldCA, newCA := newTestCA(t, "old"), newTestCA(t, "new")
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, oldCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry())
	srv, ca, roots := clientAuthServer(t, caFile, nil, m)
	now := time.Now()
	ca.now = func() time.Time { return now }
	byOld := oldCA.issue(t, "a", nil, x509.ExtKeyUsageClientAuth)
	byNew := newCA.issue(t, "b", nil, x509.ExtKeyUsageClientAuth)
	if err := call(srv, roots, &byOld); err != nil {
		t.Fatalf("the old CA's certificate: %v", err)
	}

	// a file with no certificate keeps the old CAs, counted once
	if err := os.WriteFile(caFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		now = now.Add(clientCARecheck)
		if err := call(srv, roots, &byOld); err != nil {
			t.Fatalf("after a bad file, the old CA's certificate: %v", err)
		}
	}
	if n := testutil.ToFloat64(m.ClientAuth.CAReloadFailures); n != 1 {
		t.Errorf("reload failures %v, want 1", n)
	}

	// the new CA replaces the old at the next check
	if err := os.WriteFile(caFile, newCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := call(srv, roots, &byNew); err == nil {
		t.Error("the new CA's certificate got through before the file was checked again")
	}
	now = now.Add(clientCARecheck)
	if err := call(srv, roots, &byNew); err != nil {
		t.Errorf("the new CA's certificate after the check: %v", err)
	}
	if err := call(srv, roots, &byOld); err == nil {
		t.Error("the old CA's certificate still got through")
	}
}

func TestClientCAFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.crt")
	if err := os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "missing.crt"), bad} {
		if _, err := newClientAuth(p, nil, logr.Discard(), nil); err == nil || !strings.Contains(err.Error(), "--client-ca-file") {
			t.Errorf("%s: %v, want a --client-ca-file error", p, err)
		}
	}
	if err := (Options{CertDir: "x", ClientNames: []string{"kube-apiserver"}}).checkCombinations(); err == nil {
		t.Error("--client-names without --client-ca-file was accepted")
	}
}

// The readiness check holds no client certificate: it must still see the
// server up.
func TestStartedCheckerWithClientAuth(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, newTestCA(t, "ca").pem, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, _, _ := clientAuthServer(t, caFile, nil, nil)
	// under TLS 1.2 a client without a certificate fails the handshake
	// itself (under 1.3 only its first read would), as the check would
	srv.TLS.MaxVersion = tls.VersionTLS12
	host, port := splitHostPort(t, srv.Listener.Addr().String())
	ws := &webhookServer{host: host, port: port, tls: srv.TLS}
	ws.started.Store(true)
	if err := ws.StartedChecker()(nil); err != nil {
		t.Fatalf("started check with client authentication: %v", err)
	}
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}
