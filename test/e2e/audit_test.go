//go:build e2e

package e2e

// The drift audit, the version matrix and the permission baseline against
// the real API server (docs/scenarios.md S12, S13, S14, and S10's drift record), with a
// real Prometheus (Debian package, started here on loopback) scraping
// driftguard and evaluating the shipped alert rules
// (deploy/prometheus/driftguard-rules.yaml). The rules' `for:` durations
// (5-15 minutes) are shortened to 0s in the copy Prometheus loads; the
// expressions are the shipped ones.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/report"
)

const auditNS = "audit-a"

// the finding scenario 12's hand edit makes, as the Report shows it
const (
	wantReportField = "spec.template.spec.containers[api].env[LOG_LEVEL].value"
	wantReportOwner = "terraform"
)

func auditDeployment(name, image string) string { return terraformDeploymentIn(auditNS, name, image) }

// prometheus runs Prometheus scraping driftguard with the shipped rules.
type prometheus struct {
	addr string
	cmd  *exec.Cmd
}

func startPrometheus(t *testing.T) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: run hack/install-prometheus.sh (hack/test.sh does)")
	}
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join(s.repoRoot, "deploy", "prometheus", "driftguard-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fast := regexp.MustCompile(`(?m)^(\s+for:\s*)\S+`).ReplaceAll(rules, []byte("${1}0s"))
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), fast, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
  - job_name: driftguard
    static_configs: [{targets: ["%s"]}]
`, s.metricsAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{addr: addr, cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Logf("prometheus log tail:\n%s", tail(string(b), 20))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			return p
		}
		if resp != nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready on %s", addr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitFiring polls the Prometheus alerts API until an alert with these
// labels is firing.
func (p *prometheus) waitFiring(t *testing.T, alert string, labels map[string]string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.addr + "/api/v1/alerts")
		if err == nil {
			var body struct {
				Data struct {
					Alerts []struct {
						Labels map[string]string `json:"labels"`
						State  string            `json:"state"`
					} `json:"alerts"`
				} `json:"data"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			for _, a := range body.Data.Alerts {
				if a.Labels["alertname"] != alert || a.State != "firing" {
					continue
				}
				ok := true
				for k, v := range labels {
					ok = ok && a.Labels[k] == v
				}
				if ok {
					return
				}
			}
			b, _ := json.Marshal(body.Data.Alerts)
			last = string(b)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("alert %s%v did not reach firing within %s; alerts: %s", alert, labels, timeout, last)
}

// waitGauge polls a driftguard gauge until cond holds.
func waitGauge(t *testing.T, name string, labels map[string]string, cond func(float64) bool, timeout time.Duration) float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := metric(t, name, labels)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v is %v after %s", name, labels, v, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func setConfig(t *testing.T, extra string) {
	t.Helper()
	loads := metric(t, "driftguard_policy_loads_total", nil)
	cfg := string(config.DefaultYAML())
	for _, key := range []string{"versionMatrix: []\n", "permissionBaseline: []\n"} {
		cfg = strings.Replace(cfg, key, "", 1)
	}
	if err := writeFileAtomic(s.configFile, []byte(cfg+"\n"+extra)); err != nil {
		t.Fatal(err)
	}
	waitMetricAbove(t, "driftguard_policy_loads_total", nil, loads, 15*time.Second)
}

func TestAuditMatrixBaselineAlerts(t *testing.T) {
	if !s.bundled {
		t.Skip("needs the bundled policies")
	}
	prom := startPrometheus(t)
	setConfig(t, `
versionMatrix:
  - name: kfp-frontend
    image: ghcr.io/kubeflow/kfp-frontend:2.5.0
    workloads: [{kind: Deployment, namespace: audit-a, name: ml-pipeline-ui, container: frontend}]
    inputs: [{configMap: audit-a/pipeline-install-config, key: appVersion, value: "2.5.0"}]
permissionBaseline:
  - serviceAccount: kubeflow/argo
    permissions:
      - {verbs: [list, watch], group: argoproj.io, resource: workflows}
`)
	t.Cleanup(func() {
		if err := writeFileAtomic(s.configFile, config.DefaultYAML()); err != nil {
			t.Error(err)
		}
	})
	mustSucceed(t, s.kubectl("create", "namespace", auditNS))
	// a namespace driftguard does not watch yet: edits here "happened before driftguard ran"
	mustSucceed(t, s.kubectl("label", "namespace", auditNS, "driftguard.io/ignore=true"))

	driftLabels := map[string]string{"policy": "owned_fields", "namespace": auditNS, "kind": "Deployment"}
	t.Run("12: pre-existing hand edit on a Terraform object is drift until the owner re-applies", func(t *testing.T) {
		mustSucceed(t, kIn(asTerraform, auditDeployment("api", "ghcr.io/acme/api:1.0.0"),
			"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
		mustSucceed(t, k(asAlice, "set", "env", "deployment/api", "-n", auditNS, "LOG_LEVEL=debug", "--field-manager=kubectl-edit"))
		mustSucceed(t, s.kubectl("label", "namespace", auditNS, "driftguard.io/ignore-"))
		waitGauge(t, "driftguard_drift_objects", driftLabels, func(v float64) bool { return v == 1 }, 20*time.Second)
		prom.waitFiring(t, "DriftguardDriftPresent", driftLabels, 60*time.Second)
		// the namespace's OpenReports Report names the object, the field and its owner
		rep := waitReport(t, auditNS, "naming the hand edit", func(r *orv1.Report) bool {
			return len(reportFindings(r, "Deployment", "api")) > 0
		}, 20*time.Second)
		fs := reportFindings(rep, "Deployment", "api")
		if len(fs) != 1 || fs[0].Policy != "owned_fields" || fs[0].Field != wantReportField || fs[0].Owner != wantReportOwner ||
			rep.Summary.Fail != 1 || rep.Labels[report.ManagedByLabel] != report.ManagedBy {
			t.Fatalf("report findings %+v (summary %+v, labels %v), want one owned_fields finding on %s owned by %s",
				fs, rep.Summary, rep.Labels, wantReportField, wantReportOwner)
		}
		t.Logf("kubectl get reports -A:\n%s", s.kubectl("get", "reports.openreports.io", "-A").stdout)
		t.Logf("kubectl get report driftguard -n %s -o yaml:\n%s", auditNS, s.kubectl("get", "reports.openreports.io", report.Name, "-n", auditNS, "-o", "yaml").stdout)

		mustSucceed(t, kIn(asTerraform, auditDeployment("api", "ghcr.io/acme/api:1.0.0"),
			"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
		if mgrs := get(t, "deployment/api", auditNS, "{.metadata.managedFields[*].manager}"); strings.Contains(mgrs, "kubectl-edit") {
			t.Fatalf("managers after the forced re-apply: %s", mgrs)
		}
		waitGauge(t, "driftguard_drift_objects", driftLabels, func(v float64) bool { return v == 0 }, 20*time.Second)
		waitReport(t, auditNS, "without the resolved finding", func(r *orv1.Report) bool {
			return len(reportFindings(r, "Deployment", "api")) == 0
		}, 20*time.Second)
	})

	t.Run("10: a break-glass drift record is drift and fires the break-glass alert", func(t *testing.T) {
		r := k(asBreakGlass, "patch", "deployment", "api", "-n", auditNS, "-p",
			`{"metadata":{"annotations":{"driftguard.io/break-glass":"INC-7"}},"spec":{"template":{"spec":{"containers":[{"name":"api","image":"ghcr.io/acme/api:9.9.9"}]}}}}`)
		expectAllowed(t, r)
		if _, edits := driftRecord(t, "deployment/api", auditNS); len(edits) != 1 {
			t.Fatalf("drift record edits %v", edits)
		}
		waitGauge(t, "driftguard_drift_objects", driftLabels, func(v float64) bool { return v == 1 }, 20*time.Second)
		prom.waitFiring(t, "DriftguardBreakGlassUsed", nil, 60*time.Second)
		prom.waitFiring(t, "DriftguardDriftPresent", driftLabels, 60*time.Second)
	})

	t.Run("13: version matrix mismatch is drift; moving away warns", func(t *testing.T) {
		labels := map[string]string{"policy": "version_matrix", "namespace": auditNS, "kind": "Deployment"}
		r := k(asAlice, "create", "deployment", "ml-pipeline-ui", "-n", auditNS, "--image=gcr.io/ml-pipeline/frontend:2.0.5")
		expectAllowed(t, r)
		expectWarning(t, r, 1, "version matrix", "kfp-frontend", "ghcr.io/kubeflow/kfp-frontend:2.5.0")
		waitGauge(t, "driftguard_drift_objects", labels, func(v float64) bool { return v == 1 }, 20*time.Second)
		// the upgrade to the matrix version: no warning, drift resolves
		r = k(asAlice, "set", "image", "deployment/ml-pipeline-ui", "-n", auditNS, "frontend=ghcr.io/kubeflow/kfp-frontend:2.5.0")
		expectAllowed(t, r)
		expectNoWarning(t, r)
		waitGauge(t, "driftguard_drift_objects", labels, func(v float64) bool { return v == 0 }, 20*time.Second)
		// moving away again warns
		r = k(asAlice, "set", "image", "deployment/ml-pipeline-ui", "-n", auditNS, "frontend=gcr.io/ml-pipeline/frontend:2.0.6")
		expectAllowed(t, r)
		expectWarning(t, r, 1, "away from the version matrix")

		// the reconciler input that carries the version
		cmLabels := map[string]string{"policy": "version_matrix", "namespace": auditNS, "kind": "ConfigMap"}
		mustSucceed(t, k(asAlice, "create", "configmap", "pipeline-install-config", "-n", auditNS, "--from-literal=appVersion=2.5.0"))
		r = k(asAlice, "patch", "configmap", "pipeline-install-config", "-n", auditNS, "-p", `{"data":{"appVersion":"2.0.5"}}`)
		expectAllowed(t, r)
		expectWarning(t, r, 1, "data.appVersion", "away from the version matrix", "2.5.0")
		waitGauge(t, "driftguard_drift_objects", cmLabels, func(v float64) bool { return v == 1 }, 20*time.Second)
	})

	t.Run("14: permission baseline: a needed binding is protected; losing it is a gap that alerts", func(t *testing.T) {
		sa := map[string]string{"service_account": "kubeflow/argo"}
		waitGauge(t, "driftguard_permission_missing", sa, func(v float64) bool { return v == 2 }, 20*time.Second)
		mustSucceed(t, s.kubectlIn(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: argo-workflows}
rules:
- {apiGroups: [argoproj.io], resources: [workflows], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: argo-workflows}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: argo-workflows}
subjects:
- {kind: ServiceAccount, namespace: kubeflow, name: argo}
`, "apply", "-f", "-"))
		waitGauge(t, "driftguard_permission_missing", sa, func(v float64) bool { return v == 0 }, 20*time.Second)

		r := k(asAlice, "delete", "clusterrolebinding", "argo-workflows")
		expectDenied(t, r, "ClusterRoleBinding argo-workflows", "list workflows.argoproj.io cluster-wide for kubeflow/argo")
		mustSucceed(t, s.kubectl("get", "clusterrolebinding", "argo-workflows"))

		// it goes anyway (an exempt identity, like a controller or an upgrade)
		mustSucceed(t, s.kubectl("delete", "clusterrolebinding", "argo-workflows",
			"--as=system:kube-controller-manager"))
		waitGauge(t, "driftguard_permission_missing", sa, func(v float64) bool { return v == 2 }, 20*time.Second)
		prom.waitFiring(t, "DriftguardPermissionGap", sa, 60*time.Second)
	})
}
