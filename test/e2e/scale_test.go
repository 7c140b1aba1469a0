//go:build e2e

package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/driftguard/driftguard/internal/certs"
)

// seenScale is what a webhook was sent for one scale request.
type seenScale struct {
	webhook                    string // validate or mutate
	kind, subResource          string
	objectMF, oldObjectMF      string // managedFields of the Scales, as JSON ("" when absent)
	objectKeys, oldObjectKeys  []string
	objectMetaKeys, oldMetaKey []string
	options                    string
}

// TestScaleReviewContents records what kube-apiserver sends validating and
// mutating webhooks for `kubectl scale` and pins it (docs/policy-input.md
// says it): both get autoscaling/v1 Scales; the mutating webhook's carry
// managedFields (oldObject: the parent's entries that own spec.replicas,
// converted to the Scale; object: the scaling manager's new scale entry),
// the validating webhook's carry none. driftguard uses neither (a review's
// managedFields could be forged by anyone reaching the webhook port) and
// reads the parent instead.
func TestScaleReviewContents(t *testing.T) {
	const probeNS = "scale-probe"
	mustSucceed(t, s.kubectl("create", "namespace", probeNS))
	defer s.kubectl("delete", "namespace", probeNS, "--wait=false")

	var mu sync.Mutex
	var seen []seenScale
	mux := http.NewServeMux()
	record := func(webhook string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var rv admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &rv); err != nil || rv.Request == nil {
				http.Error(w, "bad review", http.StatusBadRequest)
				return
			}
			req := rv.Request
			ss := seenScale{webhook: webhook, kind: req.Kind.Group + "/" + req.Kind.Version + " " + req.Kind.Kind, subResource: req.SubResource}
			ss.objectMF, ss.objectKeys, ss.objectMetaKeys = managedFieldsOf(req.Object.Raw)
			ss.oldObjectMF, ss.oldObjectKeys, ss.oldMetaKey = managedFieldsOf(req.OldObject.Raw)
			ss.options = string(req.Options.Raw)
			mu.Lock()
			seen = append(seen, ss)
			mu.Unlock()
			out := admissionv1.AdmissionReview{Response: &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}}
			out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(out)
		}
	}
	mux.HandleFunc("/validate", record("validate"))
	mux.HandleFunc("/mutate", record("mutate"))
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.certDir, certs.CertFile), filepath.Join(s.certDir, certs.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	defer srv.Close()
	port := l.Addr().(*net.TCPAddr).Port

	hook := func(name, path string) string {
		return fmt.Sprintf(`
- name: %s
  clientConfig: {url: "https://127.0.0.1:%d%s", caBundle: %s}
  admissionReviewVersions: [v1]
  sideEffects: NoneOnDryRun
  failurePolicy: Fail
  rules:
  - {apiGroups: [apps], apiVersions: [v1], resources: [deployments/scale], operations: [UPDATE], scope: Namespaced}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: %s}
`, name, port, path, b64(s.caPEM), probeNS)
	}
	meta := "metadata:\n  name: driftguard-e2e-scale-probe\n  labels: {app.kubernetes.io/name: driftguard-e2e, driftguard.io/ignore: \"true\"}\n"
	cfg := "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n" + meta + "webhooks:" + hook("validate.scale-probe.driftguard.io", "/validate") +
		"---\napiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\n" + meta + "webhooks:" + hook("mutate.scale-probe.driftguard.io", "/mutate")
	mustSucceed(t, s.kubectlIn(cfg, "apply", "-f", "-"))
	defer s.kubectl("delete", "validatingwebhookconfiguration,mutatingwebhookconfiguration", "driftguard-e2e-scale-probe", "--ignore-not-found")

	mustSucceed(t, kIn(asTerraform, terraformDeploymentIn(probeNS, "api", imgV1),
		"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
	// webhook configurations take effect within moments: scale until both were called
	deadline := time.Now().Add(20 * time.Second)
	replicas := 3
	for {
		r := k(asTerraform, "scale", "deployment/api", fmt.Sprintf("--replicas=%d", replicas), "-n", probeNS)
		expectAllowed(t, r)
		replicas++
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	byHook := map[string]seenScale{}
	for _, ss := range seen {
		byHook[ss.webhook] = ss
	}
	for _, webhook := range []string{"mutate", "validate"} {
		ss, ok := byHook[webhook]
		if !ok {
			t.Fatalf("the %s webhook was never called for a scale (got %d reviews)", webhook, len(seen))
		}
		t.Logf("%s webhook: kind %s subResource %q options %s; object keys %v metadata %v managedFields %s; oldObject keys %v metadata %v managedFields %s",
			webhook, ss.kind, ss.subResource, ss.options, ss.objectKeys, ss.objectMetaKeys, ss.objectMF, ss.oldObjectKeys, ss.oldMetaKey, ss.oldObjectMF)
		if ss.kind != "autoscaling/v1 Scale" || ss.subResource != "scale" {
			t.Errorf("%s webhook: kind %s subResource %q, want an autoscaling/v1 Scale of subresource scale", webhook, ss.kind, ss.subResource)
		}
		if want := []string{"apiVersion", "kind", "metadata", "spec", "status"}; !slices.Equal(ss.objectKeys, want) || !slices.Equal(ss.oldObjectKeys, want) {
			t.Errorf("%s webhook: Scale keys %v / %v, want %v", webhook, ss.objectKeys, ss.oldObjectKeys, want)
		}
	}
	mut, val := byHook["mutate"], byHook["validate"]
	// mutating: the parent's owner of spec.replicas (Terraform) converted to
	// the Scale, and the scaling manager's new entry of subresource scale
	if !strings.Contains(mut.oldObjectMF, `"manager":"Terraform"`) || !strings.Contains(mut.oldObjectMF, `"f:replicas"`) {
		t.Errorf("mutate webhook: oldObject managedFields %s, want Terraform's entry owning spec.replicas", mut.oldObjectMF)
	}
	if !strings.Contains(mut.objectMF, `"subresource":"scale"`) || !strings.Contains(mut.objectMF, `"f:replicas"`) {
		t.Errorf("mutate webhook: object managedFields %s, want the scaling manager's scale entry", mut.objectMF)
	}
	// validating: no managedFields at all
	if val.objectMF != "" || val.oldObjectMF != "" || slices.Contains(val.objectMetaKeys, "managedFields") || slices.Contains(val.oldMetaKey, "managedFields") {
		t.Errorf("validate webhook: Scale managedFields %q / %q, want none", val.objectMF, val.oldObjectMF)
	}
}

// managedFieldsOf returns an object's managedFields as JSON, its top-level
// keys and its metadata keys.
func managedFieldsOf(raw []byte) (mf string, keys, metaKeys []string) {
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil {
		return "", nil, nil
	}
	for k := range o {
		keys = append(keys, k)
	}
	var md map[string]json.RawMessage
	_ = json.Unmarshal(o["metadata"], &md)
	for k := range md {
		metaKeys = append(metaKeys, k)
	}
	if m, ok := md["managedFields"]; ok {
		mf = string(m)
	}
	sort.Strings(keys)
	sort.Strings(metaKeys)
	return mf, keys, metaKeys
}
