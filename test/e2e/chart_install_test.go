//go:build e2e

package e2e

// TestChartInstall installs the rendered Helm chart (charts/driftguard)
// into the suite's real kube-apiserver with server-side apply, runs the
// driftguard binary the way the chart's Deployment would (envtest has no
// kubelet, so the Deployment's pods never run), points the chart's own
// webhook configurations at it, and drives one denial and one warning
// through them.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/certs"
)

const (
	chartRelease   = "dg"
	chartNamespace = "driftguard-chart"
	chartTenant    = "chart-tenant"
	// a tenant label of its own, so the chart's tenant entries (failurePolicy
	// Fail) match chart-tenant and no namespace of the other scenarios
	chartTenantKey   = "e2e.driftguard.io/chart-tenant"
	chartTenantValue = "yes"
	// helm built as a Go tool has no Kubernetes version stamped in (as in test/chart)
	chartKubeVersion = "v1.37.0"
)

type chartObj = map[string]any

func chartStr(o any, path string) string {
	for _, p := range strings.Split(path, ".") {
		m, ok := o.(map[string]any)
		if !ok {
			return ""
		}
		o = m[p]
	}
	s, _ := o.(string)
	return s
}

// helmBinary builds helm through the tools module (cached in the Go build
// cache afterwards) and returns the cached executable.
func helmBinary(t *testing.T) string {
	t.Helper()
	gotool := func(args ...string) string {
		cmd := exec.Command("go", append([]string{"tool"}, args...)...)
		cmd.Dir = s.repoRoot
		cmd.Env = append(os.Environ(), "GOWORK=off")
		var e bytes.Buffer
		cmd.Stderr = &e
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go tool %s: %v\n%s", strings.Join(args, " "), err, e.String())
		}
		return strings.TrimSpace(string(out))
	}
	gotool("-modfile=tools/helm/go.mod", "helm", "version", "--short")
	return gotool("-n", "-modfile=tools/helm/go.mod", "helm")
}

func TestChartInstall(t *testing.T) {
	tmp := t.TempDir()

	// ---- 1. render the chart (provided certificates, our CA bundle) ----
	certDir := filepath.Join(tmp, "certs")
	if err := certs.Generate(certDir, []string{"localhost", "127.0.0.1"}, 24*time.Hour); err != nil {
		t.Fatalf("generating certificates: %v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(certDir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	tlsSecret := chartRelease + "-serving-tls"
	helmCmd := exec.Command(helmBinary(t), "template", chartRelease, "charts/driftguard",
		"-n", chartNamespace, "--kube-version", chartKubeVersion,
		"--set", "certificates.mode=provided",
		"--set", "certificates.provided.secretName="+tlsSecret,
		"--set", "certificates.provided.caBundle="+b64(caPEM),
		"--set", "webhook.tenantNamespaceLabel.key="+chartTenantKey,
		"--set-string", "webhook.tenantNamespaceLabel.value="+chartTenantValue,
		// the Prometheus Operator CRDs are not installed in the e2e API server
		"--set", "metrics.serviceMonitor.enabled=false",
		"--set", "metrics.prometheusRule.enabled=false",
		// the suite's API server has the OpenReports CRDs already (main_test.go); the cleanup must not delete them
		"--set", "reports.installCRDs=false",
	)
	helmCmd.Dir = s.repoRoot
	home := filepath.Join(tmp, "helm")
	helmCmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var helmErr bytes.Buffer
	helmCmd.Stderr = &helmErr
	out, err := helmCmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, helmErr.String())
	}
	var objs []chartObj
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		var o chartObj
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if len(o) != 0 {
			objs = append(objs, o)
		}
	}
	one := func(kind, nameSuffix string) chartObj {
		t.Helper()
		var found []chartObj
		for _, o := range objs {
			if chartStr(o, "kind") == kind && strings.HasSuffix(chartStr(o, "metadata.name"), nameSuffix) {
				found = append(found, o)
			}
		}
		if len(found) != 1 {
			t.Fatalf("the chart renders %d %s objects named *%s, want 1", len(found), kind, nameSuffix)
		}
		return found[0]
	}

	// ---- cleanup: webhook configurations first, then the instance, then the rest ----
	var (
		hookNames []string // "validatingwebhookconfiguration/NAME", ...
		applied   string   // the YAML applied
		proc      *exec.Cmd
		procDone  chan struct{}
		procErr   error
		logFile   = filepath.Join(tmp, "driftguard-chart.log")
	)
	t.Cleanup(func() {
		if len(hookNames) > 0 {
			if r := s.kubectl(append(append([]string{"delete"}, hookNames...), "--ignore-not-found", "--wait=false")...); r.code != 0 {
				t.Errorf("deleting the chart's webhook configurations: %s", r)
			}
		}
		if proc != nil && proc.Process != nil {
			select {
			case <-procDone:
			default:
				// the chart passes --shutdown-delay (10s by default): it keeps serving that long
				_ = proc.Process.Signal(syscall.SIGTERM)
				select {
				case <-procDone:
				case <-time.After(40 * time.Second):
					t.Errorf("the chart's driftguard did not stop within 40s of SIGTERM; killing it")
					_ = proc.Process.Kill()
					<-procDone
				}
			}
		}
		if t.Failed() {
			if b, err := os.ReadFile(logFile); err == nil {
				t.Logf("----- last 60 lines of the chart's driftguard log -----\n%s", tail(string(b), 60))
			}
		}
		if applied != "" {
			_ = s.kubectlIn(applied, "delete", "-f", "-", "--ignore-not-found", "--wait=false")
		}
		_ = s.kubectl("delete", "deployment", "api", "kf-child", "-n", chartTenant, "--ignore-not-found", "--wait=false")
		_ = s.kubectl("delete", "namespace", chartTenant, chartNamespace, "--ignore-not-found", "--wait=false")
	})

	// ---- 2. server-side apply everything the API server knows ----
	// The namespaces first: chart-tenant is a tenant of the chart's webhooks
	// (failurePolicy Fail) and, with driftguard.io/ignore=true, skipped by
	// the suite's own driftguard-e2e webhooks, so only the chart answers there.
	mustSucceed(t, s.kubectlIn(fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %s}
---
apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels: {%s: %q, driftguard.io/ignore: "true"}
`, chartNamespace, chartTenant, chartTenantKey, chartTenantValue), "apply", "--server-side", "--field-manager=e2e", "-f", "-"))
	// The Secret the chart expects in provided mode (the Deployment mounts it).
	mustSucceed(t, s.kubectl("create", "secret", "tls", tlsSecret, "-n", chartNamespace,
		"--cert", filepath.Join(certDir, certs.CertFile), "--key", filepath.Join(certDir, certs.KeyFile)))

	r := s.kubectl("api-resources", "--no-headers")
	mustSucceed(t, r)
	known := map[string]bool{} // apiVersion/kind
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 {
			known[f[len(f)-3]+"/"+f[len(f)-1]] = true
		}
	}
	var docs []string
	kinds := map[string]int{}
	for _, o := range objs {
		gvk := chartStr(o, "apiVersion") + "/" + chartStr(o, "kind")
		if !known[gvk] {
			t.Logf("skipping %s %s: the API server does not serve %s", chartStr(o, "kind"), chartStr(o, "metadata.name"), gvk)
			continue
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
		kinds[chartStr(o, "kind")]++
		if strings.HasSuffix(chartStr(o, "kind"), "WebhookConfiguration") {
			hookNames = append(hookNames, strings.ToLower(chartStr(o, "kind"))+"/"+chartStr(o, "metadata.name"))
		}
	}
	applied = strings.Join(docs, "---\n")
	if r := s.kubectlIn(applied, "apply", "--server-side", "--field-manager=helm", "-f", "-"); r.code != 0 {
		t.Fatalf("server-side apply of the rendered chart:\n%s", r)
	}
	for kind, n := range map[string]int{
		"Deployment": 1, "Service": 1, "ServiceAccount": 1, "ConfigMap": 2, "PodDisruptionBudget": 1,
		"ClusterRole": 1, "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1,
		"ValidatingWebhookConfiguration": 1, "MutatingWebhookConfiguration": 1,
	} {
		if kinds[kind] < n {
			t.Errorf("the chart rendered %d %s object(s), want at least %d", kinds[kind], kind, n)
		}
	}
	// every applied object is stored
	if r := s.kubectlIn(applied, "get", "-f", "-", "-o", "name"); r.code != 0 {
		t.Fatalf("reading back the applied objects:\n%s", r)
	} else if got := len(strings.Fields(r.stdout)); got != len(docs) {
		t.Fatalf("applied %d objects, the API server has %d:\n%s", len(docs), got, r.stdout)
	} else {
		names := strings.Fields(r.stdout)
		sort.Strings(names)
		t.Logf("installed %d objects: %s", len(names), strings.Join(names, " "))
	}
	if t.Failed() {
		t.FailNow()
	}

	// ---- 3. run the binary as the chart's Deployment would ----
	dep := one("Deployment", "")
	containers, _ := dep["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
	if len(containers) != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", len(containers))
	}
	container := containers[0].(map[string]any)
	var chartArgs []string
	for _, a := range container["args"].([]any) {
		chartArgs = append(chartArgs, a.(string))
	}
	cfgMap := one("ConfigMap", "-config")
	polMap := one("ConfigMap", "-policies")
	cfgDir, polDir := filepath.Join(tmp, "config"), filepath.Join(tmp, "policies")
	for _, d := range []string{cfgDir, polDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var cfgYAML string
	if cfgData, _ := cfgMap["data"].(map[string]any); cfgData != nil {
		cfgYAML, _ = cfgData["config.yaml"].(string)
	}
	if cfgYAML == "" {
		t.Fatal("the config ConfigMap has no config.yaml")
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "config.yaml"), []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if pol, _ := polMap["data"].(map[string]any); pol != nil {
		for name, text := range pol {
			if err := os.WriteFile(filepath.Join(polDir, name), []byte(text.(string)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	webhookPort := ports[0]
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	healthAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	// The container's paths and ports become local ones; every other flag
	// is passed unchanged (--cluster, --leader-elect, --reload-interval,
	// --shutdown-delay, ...). Nothing needs dropping: in-cluster config is
	// replaced by KUBECONFIG, and POD_NAMESPACE (the leader-election Lease)
	// is set from the Deployment's fieldRef below.
	replace := map[string]string{
		"--config":       filepath.Join(cfgDir, "config.yaml"),
		"--policies":     polDir,
		"--cert-dir":     certDir,
		"--port":         strconv.Itoa(webhookPort),
		"--metrics-addr": metricsAddr,
		"--health-addr":  healthAddr,
	}
	seen := map[string]bool{}
	args := []string{}
	for _, a := range chartArgs {
		name, _, hasValue := strings.Cut(a, "=")
		if v, ok := replace[name]; ok {
			if !hasValue {
				t.Fatalf("chart arg %q: expected --flag=value", a)
			}
			seen[name] = true
			a = name + "=" + v
		}
		args = append(args, a)
	}
	for name := range replace {
		if !seen[name] {
			t.Fatalf("the Deployment's args %q have no %s", chartArgs, name)
		}
	}
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("the Deployment's args %q do not start with serve", chartArgs)
	}
	// the container listens on all interfaces; locally, loopback only;
	// the suite's helpers scrape /metrics over plain HTTP (the chart's
	// HTTPS metrics are TestMetricsSecure's and the chart tests')
	args = append(args, "--host=127.0.0.1", "--metrics-secure=false")
	env := append(os.Environ(), "KUBECONFIG="+s.kubeconfig)
	if envs, _ := container["env"].([]any); envs != nil {
		for _, e := range envs {
			e := e.(map[string]any)
			name := chartStr(e, "name")
			switch {
			case e["value"] != nil:
				env = append(env, name+"="+fmt.Sprint(e["value"]))
			case chartStr(e, "valueFrom.fieldRef.fieldPath") == "metadata.namespace":
				env = append(env, name+"="+chartNamespace)
			case chartStr(e, "valueFrom.fieldRef.fieldPath") == "metadata.name":
				env = append(env, name+"=dg-driftguard-local") // the pod's name, which Events name as reportingInstance
			default:
				t.Fatalf("the Deployment's env %v cannot be resolved outside a pod", e)
			}
		}
	}
	lf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	proc = exec.Command(s.binary, args...)
	proc.Stdout, proc.Stderr = lf, lf
	proc.Env = env
	if err := proc.Start(); err != nil {
		lf.Close()
		t.Fatalf("starting the chart's driftguard: %v", err)
	}
	procDone = make(chan struct{})
	go func() { procErr = proc.Wait(); lf.Close(); close(procDone) }()
	t.Logf("chart's driftguard: %s %s (log %s)", s.binary, strings.Join(args, " "), logFile)
	// the suite's helpers, aimed at this instance
	ci := *s
	ci.metricsAddr, ci.healthAddr, ci.logFile, ci.procDone = metricsAddr, healthAddr, logFile, procDone
	if err := ci.waitReady(30 * time.Second); err != nil {
		t.Fatalf("%v (exit: %v)", err, procErr)
	}

	// Point each webhook of the chart's two configurations at the running
	// instance: clientConfig.service -> clientConfig.url, caBundle kept.
	if len(hookNames) != 2 {
		t.Fatalf("the chart rendered webhook configurations %q, want a validating and a mutating one", hookNames)
	}
	for _, resource := range hookNames {
		kind, name, _ := strings.Cut(resource, "/")
		var rendered chartObj
		for _, o := range objs {
			if strings.ToLower(chartStr(o, "kind")) == kind && chartStr(o, "metadata.name") == name {
				rendered = o
			}
		}
		var ops []map[string]any
		for i, w := range rendered["webhooks"].([]any) {
			cc := w.(map[string]any)["clientConfig"].(map[string]any)
			svc, _ := cc["service"].(map[string]any)
			if svc == nil || chartStr(cc, "caBundle") != b64(caPEM) {
				t.Fatalf("%s webhook %d: clientConfig %v, want a service and our caBundle", resource, i, cc)
			}
			path := chartStr(svc, "path")
			if path != "/validate" && path != "/mutate" {
				t.Fatalf("%s webhook %d: service path %q", resource, i, path)
			}
			ops = append(ops,
				map[string]any{"op": "test", "path": fmt.Sprintf("/webhooks/%d/name", i), "value": chartStr(w, "name")},
				map[string]any{"op": "remove", "path": fmt.Sprintf("/webhooks/%d/clientConfig/service", i)},
				map[string]any{"op": "add", "path": fmt.Sprintf("/webhooks/%d/clientConfig/url", i), "value": fmt.Sprintf("https://127.0.0.1:%d%s", webhookPort, path)})
		}
		patch, _ := json.Marshal(ops)
		mustSucceed(t, s.kubectl("patch", resource, "--type=json", "-p", string(patch)))
		// everything but the client config is the chart's
		stored := getObj(t, resource, "")
		sw, rw := stored["webhooks"].([]any), rendered["webhooks"].([]any)
		if len(sw) != len(rw) {
			t.Fatalf("%s: %d webhooks stored, %d rendered", resource, len(sw), len(rw))
		}
		for i := range sw {
			sh, rh := sw[i].(map[string]any), rw[i].(map[string]any)
			for _, k := range []string{"name", "failurePolicy", "namespaceSelector", "matchConditions", "timeoutSeconds", "rules", "sideEffects"} {
				sj, _ := json.Marshal(sh[k])
				rj, _ := json.Marshal(rh[k])
				if k == "rules" || k == "namespaceSelector" {
					// the API server defaults fields; compare what the chart set
					if !jsonSubset(rh[k], sh[k]) {
						t.Errorf("%s %s: stored %s = %s, rendered %s", resource, rh["name"], k, sj, rj)
					}
					continue
				}
				if string(sj) != string(rj) {
					t.Errorf("%s %s: stored %s = %s, rendered %s", resource, rh["name"], k, sj, rj)
				}
			}
			if u := chartStr(sh, "clientConfig.url"); !strings.HasPrefix(u, fmt.Sprintf("https://127.0.0.1:%d/", webhookPort)) || chartStr(sh, "clientConfig.caBundle") != b64(caPEM) {
				t.Errorf("%s %s: clientConfig %v", resource, rh["name"], sh["clientConfig"])
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Wait until the API server calls the chart's instance for chart-tenant
	// (before the patch is loaded, the tenant entry fails closed).
	probe := map[string]string{"webhook": "validate", "kind": "ConfigMap", "dry_run": "true"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		before, err := ci.metricSum("driftguard_admission_requests_total", probe)
		if err != nil {
			t.Fatal(err)
		}
		r := s.kubectl("create", "configmap", "chart-probe", "-n", chartTenant, "--dry-run=server", "-o", "name")
		after, err := ci.metricSum("driftguard_admission_requests_total", probe)
		if err != nil {
			t.Fatal(err)
		}
		if r.code == 0 && after > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server did not call the chart's driftguard through the chart's webhooks within 30s; last probe:\n%s", r)
		}
		time.Sleep(200 * time.Millisecond)
	}

	chartMetric := func(name string, labels map[string]string) float64 {
		t.Helper()
		v, err := ci.metricSum(name, labels)
		if err != nil {
			t.Fatalf("chart instance metric %s: %v", name, err)
		}
		return v
	}
	decisionLabels := func(policy, decision string) map[string]string {
		return map[string]string{"policy": policy, "decision": decision, "dry_run": "false"}
	}

	// ---- 4a. one deny: alice changes the Terraform-owned image ----
	t.Run("deny: alice sets the image of a Terraform-owned Deployment", func(t *testing.T) {
		mustSucceed(t, kIn(asTerraform, terraformDeploymentIn(chartTenant, "api", imgV1),
			"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
		suiteDeny := decisions(t, "owned_fields", "deny", "false") // the suite's own instance
		before := chartMetric("driftguard_admission_decisions_total", decisionLabels("owned_fields", "deny"))
		r := k(asAlice, "set", "image", "deployment/api", "api="+imgV2, "-n", chartTenant)
		if r.code == 0 {
			t.Fatalf("expected a denial, but kubectl succeeded:\n%s", r)
		}
		// the chart's entry name proves the chart's configuration answered
		if !strings.Contains(r.stderr, `admission webhook "tenants.validate.driftguard.io" denied the request`) {
			t.Fatalf("expected a denial by the chart's tenants.validate.driftguard.io:\n%s", r)
		}
		want := "[owned_fields] " + imagePath + " of Deployment " + chartTenant + "/api is owned by Terraform"
		if !strings.Contains(r.stderr, want) {
			t.Errorf("denial does not contain %q:\n%s", want, r)
		}
		if got := chartMetric("driftguard_admission_decisions_total", decisionLabels("owned_fields", "deny")) - before; got != 1 {
			t.Errorf("the chart's instance counted %v owned_fields denials, want 1", got)
		}
		suiteDeny.expectDelta(t, 0)
		if got := get(t, "deployment/api", chartTenant, imageJP); got != imgV1 {
			t.Errorf("image = %q after the denial, want %q", got, imgV1)
		}
	})

	// ---- 4b. one warning: a child of the (Kubeflow profile) Namespace ----
	t.Run("warning: alice changes the image of a Deployment controlled by Namespace/"+chartTenant, func(t *testing.T) {
		nsUID := uid(t, "namespace/"+chartTenant, "")
		mustSucceed(t, kIn(asKubeflow, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: kf-child
  namespace: %[1]s
  ownerReferences:
  - {apiVersion: v1, kind: Namespace, name: %[1]s, uid: %[2]s, controller: true}
spec:
  replicas: 1
  selector:
    matchLabels: {app: kf-child}
  template:
    metadata:
      labels: {app: kf-child}
    spec:
      containers:
      - {name: kf-child, image: %[3]s}
`, chartTenant, nsUID, kfpImage), "create", "-f", "-"))
		suiteWarn := decisions(t, "revert_warning", "warn", "false")
		before := chartMetric("driftguard_admission_decisions_total", decisionLabels("revert_warning", "warn"))
		r := k(asAlice, "set", "image", "deployment/kf-child", "kf-child="+kfpImage2, "-n", chartTenant)
		expectAllowed(t, r)
		expectWarning(t, r, 1,
			"[revert_warning] spec.template.spec.containers[kf-child].image of Deployment "+chartTenant+"/kf-child will be reverted",
			"its controlling owner is Namespace/"+chartTenant)
		if got := chartMetric("driftguard_admission_decisions_total", decisionLabels("revert_warning", "warn")) - before; got != 1 {
			t.Errorf("the chart's instance counted %v revert warnings, want 1", got)
		}
		suiteWarn.expectDelta(t, 0)
		if got := get(t, "deployment/kf-child", chartTenant, imageJP); got != kfpImage2 {
			t.Errorf("image = %q after the allowed change, want %q", got, kfpImage2)
		}
	})
}

// jsonSubset reports whether every field of want is in have with the same
// value (lists element by element, same length).
func jsonSubset(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !jsonSubset(v, h[k]) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !jsonSubset(w[i], h[i]) {
				return false
			}
		}
		return true
	default:
		wj, _ := json.Marshal(want)
		hj, _ := json.Marshal(have)
		return string(wj) == string(hj)
	}
}
