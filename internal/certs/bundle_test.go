package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// pair is one CA with a serving certificate it signed.
type pair struct {
	caPEM []byte
	cert  *tls.Certificate
}

func newPair(t *testing.T, validFor time.Duration) pair {
	t.Helper()
	dir := t.TempDir()
	if err := Generate(dir, []string{"localhost"}, validFor); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return pair{caPEM: ca, cert: &c}
}

func fingerprints(p []byte) []string {
	var out []string
	for _, c := range ParseCerts(p) {
		out = append(out, c.Subject.String()+"/"+c.SerialNumber.String())
	}
	return out
}

func same(a, b []byte) bool {
	fa, fb := fingerprints(a), fingerprints(b)
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i] != fb[i] {
			return false
		}
	}
	return true
}

func concatPEM(ps ...[]byte) []byte { return bytes.Join(ps, nil) }

func TestMergeBundle(t *testing.T) {
	old, cur := newPair(t, time.Hour), newPair(t, time.Hour)
	now := time.Now()
	const overlap = 10 * time.Minute

	// bootstrap and steady state: the current CA, byte for byte
	for _, existing := range [][]byte{nil, cur.caPEM} {
		b, until := MergeBundle(existing, cur.caPEM, time.Time{}, now, overlap)
		if !bytes.Equal(b, cur.caPEM) || !until.IsZero() {
			t.Errorf("existing %d bytes: bundle %v until %v, want the current CA alone", len(existing), fingerprints(b), until)
		}
	}

	// a rotation: the new CA first, the old one kept, an overlap starts
	b, until := MergeBundle(old.caPEM, cur.caPEM, time.Time{}, now, overlap)
	if !same(b, concatPEM(cur.caPEM, old.caPEM)) || !until.Equal(now.Add(overlap)) {
		t.Fatalf("rotation: bundle %v until %v, want [current old] until now+overlap", fingerprints(b), until)
	}
	// ... a rotation also restarts a running overlap
	if _, u := MergeBundle(old.caPEM, cur.caPEM, now.Add(time.Minute), now, overlap); !u.Equal(now.Add(overlap)) {
		t.Errorf("rotation during an overlap: until %v", u)
	}

	// during the overlap the bundle stays and so does its end
	later := now.Add(overlap / 2)
	b2, until2 := MergeBundle(b, cur.caPEM, until, later, overlap)
	if !bytes.Equal(b2, b) || !until2.Equal(until) {
		t.Errorf("during the overlap: bundle %v until %v, want it unchanged until %v", fingerprints(b2), until2, until)
	}
	// after it, the current CA alone
	b3, until3 := MergeBundle(b, cur.caPEM, until, until, overlap)
	if !bytes.Equal(b3, cur.caPEM) || !until3.IsZero() {
		t.Errorf("after the overlap: bundle %v until %v, want the current CA alone", fingerprints(b3), until3)
	}
	// extra CAs without a recorded overlap get one, not forever
	if _, u := MergeBundle(b, cur.caPEM, time.Time{}, later, overlap); !u.Equal(later.Add(overlap)) {
		t.Errorf("no recorded overlap: until %v, want %v", u, later.Add(overlap))
	}

	// an expired previous CA is dropped at once
	b4, _ := MergeBundle(old.caPEM, cur.caPEM, time.Time{}, now.Add(2*time.Hour), overlap)
	if !bytes.Equal(b4, cur.caPEM) {
		t.Errorf("expired previous CA kept: %v", fingerprints(b4))
	}
	// a leaf certificate is not a CA and is not kept
	leafPEM := leafPEM(t, old.cert)
	if b5, _ := MergeBundle(leafPEM, cur.caPEM, time.Time{}, now, overlap); !bytes.Equal(b5, cur.caPEM) {
		t.Errorf("non-CA certificate kept: %v", fingerprints(b5))
	}
	// garbage in the current CA changes nothing
	if b6, _ := MergeBundle(old.caPEM, []byte("not PEM"), time.Time{}, now, overlap); !bytes.Equal(b6, old.caPEM) {
		t.Errorf("an unparsable current CA replaced the bundle")
	}
}

func leafPEM(t *testing.T, c *tls.Certificate) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
}

func TestGate(t *testing.T) {
	a, b := newPair(t, time.Hour), newPair(t, time.Hour)
	src := a.cert
	g := &Gate{Source: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return src, nil }}
	get := func() *tls.Certificate {
		c, err := g.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if get() != a.cert {
		t.Fatal("before any trust is known the mounted certificate is served")
	}
	g.SetTrusted(ParseCerts(a.caPEM))
	src = b.cert // a new certificate is mounted, its CA not yet trusted
	if get() != a.cert {
		t.Error("a certificate the caBundles do not trust yet was served")
	}
	g.SetTrusted(ParseCerts(concatPEM(b.caPEM, a.caPEM)))
	if get() != b.cert {
		t.Error("the new certificate is trusted now but was not served")
	}
	// once served, a trust change that drops it still never goes back
	g.SetTrusted(ParseCerts(a.caPEM))
	src = a.cert
	if get() != a.cert {
		t.Error("the mounted, trusted certificate is always served")
	}

	// the old certificate expired: serve the new one even if untrusted
	c := newPair(t, time.Hour)
	g2 := &Gate{Source: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return src, nil }}
	src = a.cert
	g2.GetCertificate(&tls.ClientHelloInfo{})
	g2.SetTrusted(ParseCerts(a.caPEM))
	src = c.cert
	g2.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if got, _ := g2.GetCertificate(&tls.ClientHelloInfo{}); got != c.cert {
		t.Error("an expired certificate was kept instead of the mounted one")
	}
}

func TestBundleKeeperSync(t *testing.T) {
	ctx := context.Background()
	old, cur := newPair(t, 24*time.Hour), newPair(t, 24*time.Hour)
	cs := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "dg", Name: "cert"}, Data: map[string][]byte{"ca.crt": old.caPEM}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "dg"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "v.dg.io"}}},
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "dg"},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "m.dg.io"}}},
	)
	now := time.Now()
	gate := &Gate{}
	k := &BundleKeeper{Client: cs, Namespace: "dg", Secret: "cert", Validating: "dg", Mutating: "dg",
		Overlap: time.Hour, Gate: gate, Log: logr.Discard(), Now: func() time.Time { return now }, Injected: make(chan struct{})}
	getS := func(n string) (*corev1.Secret, error) {
		return cs.CoreV1().Secrets("dg").Get(ctx, n, metav1.GetOptions{})
	}
	getV := func(n string) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
		return cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, n, metav1.GetOptions{})
	}
	getM := func(n string) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
		return cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, n, metav1.GetOptions{})
	}
	bundles := func() ([]byte, []byte, string) {
		v, _ := getV("dg")
		m, _ := getM("dg")
		return v.Webhooks[0].ClientConfig.CABundle, m.Webhooks[0].ClientConfig.CABundle, v.Annotations[PreviousCAUntilAnnotation]
	}
	trusts := func(p pair) bool {
		gate.Source = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return p.cert, nil }
		gate.serving, gate.checked = nil, nil
		gate.GetCertificate(&tls.ClientHelloInfo{}) // first: served as is
		gate.checked = nil
		return gate.trusted != nil && verifies(p.cert, gate.trusted, now)
	}

	// bootstrap
	if _, err := k.sync(ctx, getS, getV, getM); err != nil {
		t.Fatal(err)
	}
	v, m, ann := bundles()
	if !bytes.Equal(v, old.caPEM) || !bytes.Equal(m, old.caPEM) || ann != "" {
		t.Fatalf("bootstrap: bundles %v / %v, annotation %q", fingerprints(v), fingerprints(m), ann)
	}
	select {
	case <-k.Injected:
	default:
		t.Fatal("Injected not closed after both configurations trust the CA")
	}
	if !trusts(old) || trusts(cur) {
		t.Error("gate trust after bootstrap: want the old CA only")
	}

	// CA rotation: the Secret holds the new CA
	sec, _ := getS("cert")
	sec.Data["ca.crt"] = cur.caPEM
	if _, err := cs.CoreV1().Secrets("dg").Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	next, err := k.sync(ctx, getS, getV, getM)
	if err != nil {
		t.Fatal(err)
	}
	v, m, ann = bundles()
	want := concatPEM(cur.caPEM, old.caPEM)
	if !same(v, want) || !same(m, want) || ann == "" {
		t.Fatalf("rotation: bundles %v / %v, annotation %q; want [new old] and an overlap end", fingerprints(v), fingerprints(m), ann)
	}
	if !next.Equal(now.Add(time.Hour)) {
		t.Errorf("next wake-up %v, want the overlap's end %v", next, now.Add(time.Hour))
	}
	if !trusts(old) || !trusts(cur) {
		t.Error("during the overlap both CAs must be trusted")
	}

	// a helm upgrade resets one caBundle: repaired with the overlap kept
	vc, _ := getV("dg")
	vc.Webhooks[0].ClientConfig.CABundle = nil
	cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, vc, metav1.UpdateOptions{})
	now = now.Add(10 * time.Minute)
	if _, err := k.sync(ctx, getS, getV, getM); err != nil {
		t.Fatal(err)
	}
	if v, _, _ = bundles(); !bytes.Equal(v, cur.caPEM) {
		t.Errorf("reset caBundle: %v, want the current CA", fingerprints(v))
	}

	// the overlap ends: the new CA alone, annotation gone
	now = now.Add(time.Hour)
	if _, err := k.sync(ctx, getS, getV, getM); err != nil {
		t.Fatal(err)
	}
	v, m, ann = bundles()
	if !bytes.Equal(v, cur.caPEM) || !bytes.Equal(m, cur.caPEM) || ann != "" {
		t.Errorf("after the overlap: bundles %v / %v, annotation %q; want the new CA alone", fingerprints(v), fingerprints(m), ann)
	}
	if trusts(old) || !trusts(cur) {
		t.Error("after the overlap only the new CA is trusted")
	}

	// a misspelt configuration name is an error, not a silent success
	k2 := &BundleKeeper{Client: cs, Namespace: "dg", Secret: "cert", Validating: "dg-typo", Mutating: "dg", Log: logr.Discard(), Now: time.Now, Injected: make(chan struct{})}
	if _, err := k2.sync(ctx, getS, getV, getM); err == nil {
		t.Error("a missing ValidatingWebhookConfiguration must be an error")
	}
	select {
	case <-k2.Injected:
		t.Error("Injected closed although a configuration is missing")
	default:
	}
}
