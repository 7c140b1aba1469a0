//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

const metricsRBAC = `
apiVersion: v1
kind: Namespace
metadata: {name: metrics-e2e}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: scraper, namespace: metrics-e2e}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: stranger, namespace: metrics-e2e}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-driftguard-metrics-reader}
rules:
- nonResourceURLs: ["/metrics"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-driftguard-metrics-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-driftguard-metrics-reader}
subjects:
- {kind: ServiceAccount, name: scraper, namespace: metrics-e2e}
`

// TestMetricsSecure runs a driftguard with the default --metrics-secure
// (HTTPS, TokenReview and SubjectAccessReview against the suite's API
// server) and scrapes it as Prometheus would: without a token 401, with
// the token of a service account that may not get /metrics 403, with the
// token of one bound to a metrics-reader ClusterRole 200. Plain HTTP is
// not answered.
func TestMetricsSecure(t *testing.T) {
	if r := s.kubectlIn(metricsRBAC, "apply", "-f", "-"); r.code != 0 {
		t.Fatalf("creating service accounts and RBAC: %s", r)
	}
	token := func(sa string) string {
		r := s.kubectl("create", "token", sa, "-n", "metrics-e2e", "--duration", "10m")
		if r.code != 0 {
			t.Fatalf("kubectl create token %s: %s", sa, r)
		}
		return strings.TrimSpace(r.stdout)
	}
	scraper, stranger := token("scraper"), token("stranger")

	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	healthAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	args := []string{"serve", "--cluster", "--audit=false", "--cert-dir", s.certDir, "--config", s.configFile,
		"--host", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--metrics-addr", metricsAddr, "--health-addr", healthAddr}
	startInstance(t, "metrics-secure", healthAddr, metricsAddr, args, "KUBECONFIG="+s.kubeconfig)

	c := s.httpsClient()
	get := func(tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://"+metricsAddr+"/metrics", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET /metrics: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(""); code != http.StatusUnauthorized {
		t.Errorf("no token: HTTP %d %.200s, want 401", code, body)
	}
	if code, body := get("not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("invalid token: HTTP %d %.200s, want 401", code, body)
	}
	if code, body := get(stranger); code != http.StatusForbidden {
		t.Errorf("token without the reader role: HTTP %d %.200s, want 403", code, body)
	} else if strings.Contains(body, "driftguard_") {
		t.Error("403 answer carries metrics")
	}
	code, body := get(scraper)
	if code != http.StatusOK || !strings.Contains(body, "driftguard_policies_loaded") {
		t.Fatalf("token with the reader role: HTTP %d %.300s, want 200 with driftguard metrics", code, body)
	}
	// plain HTTP gets no metrics
	if resp, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(b), "driftguard_") {
			t.Errorf("plain HTTP scrape answered: HTTP %d", resp.StatusCode)
		}
	}
}
