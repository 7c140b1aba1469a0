//go:build e2e

package e2e

// serve --client-ca-file against a real kube-apiserver: an API server of
// its own (the suite's cannot be given an admission configuration after
// it started), whose AdmissionConfiguration gives it a client
// certificate for driftguard's host. The API server's calls get through
// (a Pod with a latest image is denied by mutable_tags); a caller without
// that certificate does not complete the TLS handshake.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// clientCert is a CA and a client certificate it signed, in PEM.
func clientCert(t *testing.T, cn string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apiserver-client-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func writeFiles(t *testing.T, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClientCertificateFromTheAPIServer(t *testing.T) {
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := clientCert(t, "kube-apiserver")
	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	host := fmt.Sprintf("127.0.0.1:%d", ports[0])

	// kube-apiserver presents the certificate to the webhook at host: its
	// kubeconfig's user is named after the webhook's host (and port)
	kubeconfig, err := yaml.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Config",
		"users": []any{map[string]any{"name": host, "user": map[string]any{
			"client-certificate-data": b64(certPEM), "client-key-data": b64(keyPEM)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	webhookConf := map[string]any{"apiVersion": "apiserver.config.k8s.io/v1", "kind": "WebhookAdmissionConfiguration",
		"kubeConfigFile": filepath.Join(dir, "webhook-kubeconfig.yaml")}
	admission, err := yaml.Marshal(map[string]any{
		"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
		"plugins": []any{
			map[string]any{"name": "ValidatingAdmissionWebhook", "configuration": webhookConf},
			map[string]any{"name": "MutatingAdmissionWebhook", "configuration": webhookConf},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, map[string][]byte{
		filepath.Join(dir, "webhook-kubeconfig.yaml"): kubeconfig,
		filepath.Join(dir, "admission.yaml"):          admission,
		filepath.Join(dir, "client-ca.crt"):           caPEM,
	})

	env := &envtest.Environment{BinaryAssetsDirectory: os.Getenv("KUBEBUILDER_ASSETS"),
		ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	env.ControlPlane.GetAPIServer().Configure().Set("admission-control-config-file", filepath.Join(dir, "admission.yaml"))
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting a control plane with the admission configuration: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// driftguard accepting only the API server's certificate
	metricsAddr, healthAddr := fmt.Sprintf("127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[2])
	args := []string{"serve", "--cert-dir", s.certDir, "--host", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--metrics-addr", metricsAddr, "--health-addr", healthAddr, "--metrics-secure=false",
		"--client-ca-file", filepath.Join(dir, "client-ca.crt"), "--client-names", "kube-apiserver"}
	inst := startInstance(t, "client-auth", healthAddr, metricsAddr, args)

	// a caller without the certificate: no handshake, so no review
	if _, err := s.httpsClient().Post("https://"+host+"/validate", "application/json", strings.NewReader(`{}`)); err == nil {
		t.Error("a caller without a client certificate got an answer")
	}
	if n, err := inst.metricSum("driftguard_webhook_client_refusals_total", map[string]string{"reason": "no_certificate"}); err != nil || n < 1 {
		t.Errorf("refusals{reason=no_certificate} = %v (%v), want at least 1", n, err)
	}

	// the API server's calls: a Pod with a latest image in a tenant namespace
	ctx := context.Background()
	ns := "tenant-mtls"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hook := fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: driftguard-client-auth}
webhooks:
- name: validate.driftguard.io
  clientConfig: {url: "https://%s/validate", caBundle: %s}
  admissionReviewVersions: [v1]
  sideEffects: NoneOnDryRun
  timeoutSeconds: 5
  failurePolicy: Fail
  rules:
  - {apiGroups: [""], apiVersions: [v1], resources: [pods], operations: [CREATE]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: %s}
`, host, b64(s.caPEM), ns)
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict([]byte(hook), &vwc); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &vwc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("registering the webhook: %v", err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "debug", Image: "busybox:latest"}}}}
	var lastErr error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) { // the API server picks the configuration up within a second or so
		_, lastErr = cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if lastErr != nil && strings.Contains(lastErr.Error(), "mutable tag latest") {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if lastErr == nil || !strings.Contains(lastErr.Error(), "mutable tag latest") {
		t.Fatalf("the API server's call with its client certificate was not answered by driftguard's policy: %v", lastErr)
	}
	t.Logf("the API server, presenting its client certificate, got driftguard's answer: %v", lastErr)
	if n, err := inst.metricSum("driftguard_admission_requests_total", map[string]string{"webhook": "validate", "kind": "Pod"}); err != nil || n < 1 {
		t.Errorf("driftguard_admission_requests_total{kind=Pod} = %v (%v), want at least 1", n, err)
	}
}
