//go:build e2e

package e2e

// TestWebhookCalls counts the calls kube-apiserver makes to the Helm
// chart's webhooks for a realistic write mix: people (kubectl, impersonated),
// declared owners (Terraform, External Secrets Operator), an operator, and
// the controllers, kubelets and components of the control plane (Pods,
// ReplicaSets, status updates, Events, Leases). The chart's webhook
// configurations are rendered, pointed at the suite's driftguard (whose
// config is the chart's default one: test/chart checks files/config.yaml
// against the embedded default) and installed once per variant:
//
//	conditions off  the chart's rules, no matchConditions at all
//	chart default   the chart as installed today
//	narrowing       webhook.narrowing.enabled=true (a-policy-can-answer)
//	run-time        the same entries with the a-policy-can-answer that
//	                internal/narrowing computes from what the suite's
//	                driftguard loads (what --narrow-webhooks sets)
//
// The same mix runs in a tenant namespace (failurePolicy Fail entries) and
// in another namespace of each variant. Calls are read from the API
// server's own apiserver_admission_webhook_admission_duration_seconds
// (by webhook name, operation and type), per step of the mix; what
// driftguard answered from its driftguard_admission_decisions_total and
// driftguard_admission_requests_total{answer="patched"}. The table is
// logged (docs/benchmarks.md "Webhook calls through kube-apiserver").
//
// The test fails if a variant changes any kubectl answer of the mix
// (exit code, denial text, warnings), if narrowing does not send fewer
// calls than the chart default, or if it sends no call at all.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/narrowing"
)

const (
	callsRelease   = "calls"
	callsNamespace = "driftguard-calls"
	callsTenantKey = "e2e.driftguard.io/calls-tenant"
	callsTenantVal = "yes"
)

var (
	asRSController     = []string{"--as=system:serviceaccount:kube-system:replicaset-controller"}
	asDeployController = []string{"--as=system:serviceaccount:kube-system:deployment-controller"}
	asKubelet          = []string{"--as=system:node:calls-node", "--as-group=system:nodes"}
	asKCM              = []string{"--as=system:kube-controller-manager"}
	asOperator         = []string{"--as=system:serviceaccount:operators:tenant-operator"}
)

// callStat is one webhook's calls as the API server counts them.
type callStat struct {
	count uint64
	sum   float64 // seconds
}

// isChartHook: the chart's webhook entries (not the suite's own
// validate.driftguard.io and mutate.driftguard.io).
func isChartHook(name string) bool {
	for _, p := range []string{"tenants.", "others.", "settings.", "tenant-label."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// apiserverCalls scrapes the API server's /metrics: the chart's webhook
// calls by "name operation type".
func apiserverCalls(t *testing.T) map[string]callStat {
	t.Helper()
	r := s.kubectl("get", "--raw", "/metrics")
	if r.code != 0 {
		t.Fatalf("reading the API server's metrics: %s", r)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("parsing the API server's metrics: %v", err)
	}
	out := map[string]callStat{}
	fam := fams["apiserver_admission_webhook_admission_duration_seconds"]
	if fam == nil {
		return out
	}
	for _, m := range fam.GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		if !isChartHook(l["name"]) || m.GetHistogram() == nil {
			continue
		}
		k := l["name"] + " " + l["operation"] + " " + l["type"]
		c := out[k]
		c.count += m.GetHistogram().GetSampleCount()
		c.sum += m.GetHistogram().GetSampleSum()
		out[k] = c
	}
	return out
}

// driftguardRequests reads driftguard's driftguard_admission_requests_total
// (real writes) by "webhook kind operation".
func driftguardRequests(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	if fam := fams["driftguard_admission_requests_total"]; fam != nil {
		for _, m := range fam.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["dry_run"] != "false" {
				continue
			}
			out[l["webhook"]+" "+l["kind"]+" "+l["operation"]] += m.GetCounter().GetValue()
		}
	}
	return out
}

func callsDelta(before, after map[string]callStat) (n uint64, sum float64, by map[string]uint64) {
	by = map[string]uint64{}
	for k, a := range after {
		d := a.count - before[k].count
		if d > 0 {
			by[k] = d
			n += d
			sum += a.sum - before[k].sum
		}
	}
	return n, sum, by
}

// renderCallsHooks renders the chart's webhook configurations with extra
// --set arguments, pointed at the suite's driftguard.
func renderCallsHooks(t *testing.T, helm string, set ...string) string {
	t.Helper()
	args := append([]string{"template", callsRelease, "charts/driftguard", "-n", callsNamespace,
		"--kube-version", chartKubeVersion, "--show-only", "templates/webhooks.yaml",
		"--set", "certificates.mode=provided",
		"--set", "certificates.provided.secretName=calls-tls",
		"--set", "certificates.provided.caBundle=" + b64(s.caPEM),
		"--set", "webhook.tenantNamespaceLabel.key=" + callsTenantKey,
		"--set-string", "webhook.tenantNamespaceLabel.value=" + callsTenantVal,
	}, set...)
	cmd := exec.Command(helm, args...)
	cmd.Dir = s.repoRoot
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("helm template %v: %v\n%s", set, err, stderr)
	}
	var docs []string
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		var o chartObj
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if len(o) == 0 {
			continue
		}
		hooks, _ := o["webhooks"].([]any)
		for _, h := range hooks {
			cc := h.(map[string]any)["clientConfig"].(map[string]any)
			svc, _ := cc["service"].(map[string]any)
			if svc == nil {
				t.Fatalf("webhook %v has no clientConfig.service", h.(map[string]any)["name"])
			}
			delete(cc, "service")
			cc["url"] = fmt.Sprintf("https://127.0.0.1:%d%s", s.webhookPort, svc["path"])
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	if len(docs) != 2 {
		t.Fatalf("the chart rendered %d webhook configurations, want 2", len(docs))
	}
	return strings.Join(docs, "---\n")
}

// mixStep is one kind of write of the mix.
type mixStep struct {
	group string // "Kind OPERATION by whom"
	run   func(t *testing.T, ns string) []result
}

// outcome is what kubectl showed for one write: its exit code, denial
// and warnings (the answer that must not change).
func outcome(r result) string {
	var ws []string
	for _, w := range r.warnings() {
		ws = append(ws, w)
	}
	sort.Strings(ws)
	d := denial(r)
	// object names and namespaces differ per variant
	re := regexp.MustCompile(`calls-v[0-9]+-(tenant|other)`)
	return re.ReplaceAllString(fmt.Sprintf("exit=%d denial=%q warnings=%q", r.code, d, ws), "NS")
}

func callsMix() []mixStep {
	many := func(n int, f func(i int) result) []result {
		var out []result
		for i := range n {
			out = append(out, f(i))
		}
		return out
	}
	podYAML := func(ns string, i int, rsUID string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: web-1-%[2]d
  namespace: %[1]s
  labels: {app: web}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: %[3]s, controller: true, blockOwnerDeletion: true}
spec:
  containers:
  - {name: web, image: %[4]s}
`, ns, i, rsUID, imgV1)
	}
	return []mixStep{
		{"Deployment CREATE by a person", func(t *testing.T, ns string) []result {
			return []result{kIn(asAlice, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: %s}
`, ns, imgV1), "apply", "-f", "-")}
		}},
		{"Deployment CREATE by Terraform", func(t *testing.T, ns string) []result {
			return []result{kIn(asTerraform, terraformDeploymentIn(ns, "api", imgV1),
				"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-")}
		}},
		{"ReplicaSet CREATE by a kube-system controller", func(t *testing.T, ns string) []result {
			depUID := uid(t, "deployment/web", ns)
			return []result{kIn(asDeployController, fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-1
  namespace: %s
  labels: {app: web}
  ownerReferences:
  - {apiVersion: apps/v1, kind: Deployment, name: web, uid: %s, controller: true, blockOwnerDeletion: true}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: %s}
`, ns, depUID, imgV1), "create", "-f", "-")}
		}},
		{"Pod CREATE by a kube-system controller", func(t *testing.T, ns string) []result {
			rsUID := uid(t, "replicaset/web-1", ns)
			return many(4, func(i int) result { return kIn(asRSController, podYAML(ns, i, rsUID), "create", "-f", "-") })
		}},
		{"pods/status UPDATE by a kubelet", func(t *testing.T, ns string) []result {
			return many(8, func(i int) result {
				return k(asKubelet, "patch", fmt.Sprintf("pod/web-1-%d", i%4), "-n", ns, "--subresource=status", "--type=merge",
					"-p", fmt.Sprintf(`{"status":{"phase":"Running","message":"probe %d"}}`, i))
			})
		}},
		{"deployments/status UPDATE by a kube-system controller", func(t *testing.T, ns string) []result {
			return many(3, func(i int) result {
				return k(asDeployController, "patch", "deployment/web", "-n", ns, "--subresource=status", "--type=merge",
					"-p", fmt.Sprintf(`{"status":{"observedGeneration":1,"replicas":2,"updatedReplicas":%d}}`, i))
			})
		}},
		{"Event CREATE by the controller manager", func(t *testing.T, ns string) []result {
			return many(6, func(i int) result {
				return kIn(asKCM, fmt.Sprintf(`apiVersion: v1
kind: Event
metadata: {name: web.%d, namespace: %s}
involvedObject: {kind: Deployment, name: web, namespace: %s, apiVersion: apps/v1}
reason: ScalingReplicaSet
message: Scaled up replica set web-1 to 2
type: Normal
source: {component: deployment-controller}
`, i, ns, ns), "create", "-f", "-")
			})
		}},
		{"Event CREATE by an operator", func(t *testing.T, ns string) []result {
			return many(3, func(i int) result {
				return kIn(asOperator, fmt.Sprintf(`apiVersion: v1
kind: Event
metadata: {name: op.%d, namespace: %s}
involvedObject: {kind: ConfigMap, name: settings, namespace: %s, apiVersion: v1}
reason: Reconciled
message: reconciled
type: Normal
source: {component: tenant-operator}
`, i, ns, ns), "create", "-f", "-")
			})
		}},
		{"Lease CREATE/UPDATE by an operator", func(t *testing.T, ns string) []result {
			out := []result{kIn(asOperator, fmt.Sprintf(`apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: tenant-operator, namespace: %s}
spec: {holderIdentity: op-0, leaseDurationSeconds: 15}
`, ns), "create", "-f", "-")}
			return append(out, many(6, func(i int) result {
				return k(asOperator, "patch", "lease/tenant-operator", "-n", ns, "--type=merge",
					"-p", fmt.Sprintf(`{"spec":{"renewTime":"2026-01-01T00:00:%02d.000000Z"}}`, i))
			})...)
		}},
		{"ConfigMap CREATE by a person", func(t *testing.T, ns string) []result {
			return many(3, func(i int) result {
				return k(asAlice, "create", "configmap", fmt.Sprintf("settings-%d", i), "-n", ns, "--from-literal=LOG_LEVEL=info")
			})
		}},
		{"ConfigMap UPDATE by an operator", func(t *testing.T, ns string) []result {
			return many(4, func(i int) result {
				return k(asOperator, "patch", "configmap/settings-0", "-n", ns, "--type=merge",
					"-p", fmt.Sprintf(`{"data":{"generation":"%d"}}`, i))
			})
		}},
		{"Secret CREATE by a person", func(t *testing.T, ns string) []result {
			return []result{k(asAlice, "create", "secret", "generic", "db", "-n", ns, "--from-literal=password=s3cret")}
		}},
		{"Secret CREATE/UPDATE by External Secrets Operator", func(t *testing.T, ns string) []result {
			return many(3, func(i int) result {
				return kIn(asESO, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: synced, namespace: %s}
stringData: {token: "v%d"}
`, ns, i), "apply", "--server-side", "--field-manager=externalsecrets.external-secrets.io/synced", "--force-conflicts", "-f", "-")
			})
		}},
		{"Service/ServiceAccount CREATE by a person", func(t *testing.T, ns string) []result {
			out := many(2, func(i int) result {
				return k(asAlice, "create", "service", "clusterip", fmt.Sprintf("web-%d", i), "-n", ns, "--tcp=80:8080")
			})
			return append(out, k(asAlice, "create", "serviceaccount", "web", "-n", ns))
		}},
		{"Service UPDATE by a person", func(t *testing.T, ns string) []result {
			return many(2, func(i int) result {
				return k(asAlice, "label", fmt.Sprintf("service/web-%d", i), "-n", ns, "tier=frontend")
			})
		}},
		{"ExternalSecret CREATE/UPDATE by an operator", func(t *testing.T, ns string) []result {
			out := []result{kIn(asOperator, fmt.Sprintf(`apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: synced, namespace: %s}
spec: {refreshInterval: 1h, target: {name: synced}}
`, ns), "create", "-f", "-")}
			return append(out, many(4, func(i int) result {
				return k(asOperator, "annotate", "--overwrite", "externalsecret/synced", "-n", ns, fmt.Sprintf("force-sync=%d", i))
			})...)
		}},
		{"deployments/scale UPDATE by a person", func(t *testing.T, ns string) []result {
			return many(2, func(i int) result {
				return k(asAlice, "scale", "deployment/web", "-n", ns, fmt.Sprintf("--replicas=%d", 3+i))
			})
		}},
		{"Deployment UPDATE by a person", func(t *testing.T, ns string) []result {
			return []result{
				k(asAlice, "set", "image", "deployment/web", "web="+imgV2, "-n", ns),
				// denied: Terraform owns the image
				k(asAlice, "set", "image", "deployment/api", "api="+imgV2, "-n", ns),
			}
		}},
		{"Pod UPDATE/DELETE by a person", func(t *testing.T, ns string) []result {
			return []result{
				k(asAlice, "label", "pod/web-1-0", "-n", ns, "debug=true"),
				k(asAlice, "delete", "pod/web-1-1", "-n", ns, "--wait=false"),
			}
		}},
		{"ConfigMap/Service DELETE by a person", func(t *testing.T, ns string) []result {
			return []result{
				k(asAlice, "delete", "configmap/settings-2", "-n", ns, "--wait=false"),
				k(asAlice, "delete", "service/web-1", "-n", ns, "--wait=false"),
			}
		}},
	}
}

func TestWebhookCalls(t *testing.T) {
	if !s.bundled {
		t.Skip("the call counts are for the bundled policies")
	}
	helm := helmBinary(t)
	variants := []struct {
		name string
		set  []string
		// runTime replaces the rendered a-policy-can-answer with the Go-generated one
		runTime bool
	}{
		{"conditions off", []string{"--set-json", "webhook.matchConditions=[]"}, false},
		{"chart default", nil, false},
		{"narrowing", []string{"--set", "webhook.narrowing.enabled=true"}, false},
		{"run-time", []string{"--set", "webhook.narrowing.enabled=true"}, true},
	}
	spaces := func(i int) []string {
		return []string{fmt.Sprintf("calls-v%d-tenant", i), fmt.Sprintf("calls-v%d-other", i)}
	}

	// RBAC for the identities only this test acts as, and the namespaces
	// (skipped by the suite's own webhooks: driftguard.io/ignore=true).
	var setup strings.Builder
	setup.WriteString(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-calls-admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: replicaset-controller, namespace: kube-system}
- {kind: ServiceAccount, name: deployment-controller, namespace: kube-system}
- {kind: ServiceAccount, name: tenant-operator, namespace: operators}
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: "system:node:calls-node"}
`)
	var allNS []string
	for i := range variants {
		for j, n := range spaces(i) {
			allNS = append(allNS, n)
			label := ""
			if j == 0 {
				label = fmt.Sprintf("%s: %q, ", callsTenantKey, callsTenantVal)
			}
			fmt.Fprintf(&setup, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {%sdriftguard.io/ignore: \"true\"}\n", n, label)
		}
	}
	t.Cleanup(func() {
		_ = s.kubectl("delete", "validatingwebhookconfiguration/"+callsRelease+"-driftguard-validating",
			"mutatingwebhookconfiguration/"+callsRelease+"-driftguard-mutating", "--ignore-not-found", "--wait=false")
		_ = s.kubectl(append([]string{"delete", "namespace", "--ignore-not-found", "--wait=false"}, allNS...)...)
		_ = s.kubectl("delete", "clusterrolebinding/e2e-calls-admins", "--ignore-not-found")
	})
	mustSucceed(t, s.kubectlIn(setup.String(), "apply", "-f", "-"))

	type row struct {
		writes int
		calls  []uint64
	}
	mix := callsMix()
	rows := make([]row, len(mix))
	type variantResult struct {
		writes            int
		calls             uint64
		seconds           float64
		by                map[string]uint64
		denied, warned    float64
		patched           float64
		outcomes          []string
		kinds             map[string]float64 // driftguard's requests by webhook, kind, operation
		failedKubectlRuns []string
	}
	var results []variantResult
	decisionsOf := func(decision string) float64 {
		return metric(t, "driftguard_admission_decisions_total", map[string]string{"decision": decision, "dry_run": "false"})
	}
	for vi, v := range variants {
		hooks := renderCallsHooks(t, helm, v.set...)
		if v.runTime {
			hooks = runTimeConditions(t, hooks)
		}
		mustSucceed(t, s.kubectlIn(hooks, "apply", "--server-side", "--field-manager=helm", "--force-conflicts", "-f", "-"))
		tenantNS := spaces(vi)[0]
		// live: a dry-run Deployment create in the tenant namespace is sent
		// through the chart's tenant entry (and, with narrowing, a Service
		// create is not: the new configuration is the one in use)
		deadline := time.Now().Add(30 * time.Second)
		for {
			b := apiserverCalls(t)
			r1 := k(asAlice, "create", "deployment", "probe", "-n", tenantNS, "--image="+imgV1, "--dry-run=server")
			m := apiserverCalls(t)
			r2 := k(asAlice, "create", "service", "clusterip", "probe", "-n", tenantNS, "--tcp=80:80", "--dry-run=server")
			a := apiserverCalls(t)
			cm := m["tenants.validate.driftguard.io CREATE validating"].count - b["tenants.validate.driftguard.io CREATE validating"].count
			svc := a["tenants.validate.driftguard.io CREATE validating"].count - m["tenants.validate.driftguard.io CREATE validating"].count
			wantSvc := uint64(1)
			if v.name == "narrowing" || v.runTime {
				wantSvc = 0
			}
			if r1.code == 0 && r2.code == 0 && cm == 1 && svc == wantSvc {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the chart's webhooks are not in use after 30s (Deployment probe sent %d times, Service probe %d times, want 1 and %d):\n%s\n%s",
					v.name, cm, svc, wantSvc, r1, r2)
			}
			time.Sleep(300 * time.Millisecond)
		}

		var res variantResult
		dBefore, wBefore := decisionsOf("deny"), decisionsOf("warn")
		pBefore := metric(t, "driftguard_admission_requests_total", map[string]string{"webhook": "mutate", "answer": "patched", "dry_run": "false"})
		kindsBefore := driftguardRequests(t)
		start := apiserverCalls(t)
		prev := start
		for si, step := range mix {
			var n int
			for _, ns := range spaces(vi) {
				for _, r := range step.run(t, ns) {
					n++
					res.outcomes = append(res.outcomes, step.group+": "+outcome(r))
					if r.code != 0 && denial(r) == "" {
						res.failedKubectlRuns = append(res.failedKubectlRuns, r.String())
					}
				}
			}
			cur := apiserverCalls(t)
			d, _, _ := callsDelta(prev, cur)
			prev = cur
			rows[si].writes = n
			rows[si].calls = append(rows[si].calls, d)
			res.writes += n
		}
		res.calls, res.seconds, res.by = callsDelta(start, prev)
		res.kinds = map[string]float64{}
		for k, v := range driftguardRequests(t) {
			if d := v - kindsBefore[k]; d > 0 {
				res.kinds[k] = d
			}
		}
		res.denied = decisionsOf("deny") - dBefore
		res.warned = decisionsOf("warn") - wBefore
		res.patched = metric(t, "driftguard_admission_requests_total", map[string]string{"webhook": "mutate", "answer": "patched", "dry_run": "false"}) - pBefore
		for _, f := range res.failedKubectlRuns {
			t.Errorf("%s: a write of the mix failed:\n%s", v.name, f)
		}
		results = append(results, res)
	}

	// the table
	var b strings.Builder
	fmt.Fprintf(&b, "webhook calls kube-apiserver made to the chart's webhooks (validating + mutating), per step of the mix (x2 namespaces):\n")
	fmt.Fprintf(&b, "%-52s %6s", "step", "writes")
	for _, v := range variants {
		fmt.Fprintf(&b, " %15s", v.name)
	}
	b.WriteString("\n")
	for si, step := range mix {
		fmt.Fprintf(&b, "%-52s %6d", step.group, rows[si].writes)
		for _, c := range rows[si].calls {
			fmt.Fprintf(&b, " %15d", c)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%-52s %6d", "total", results[0].writes)
	for _, r := range results {
		fmt.Fprintf(&b, " %15d", r.calls)
	}
	b.WriteString("\n")
	for i, r := range results {
		perCall, perWrite := 0.0, 0.0
		if r.calls > 0 {
			perCall = r.seconds / float64(r.calls) * 1000
		}
		if r.writes > 0 {
			perWrite = r.seconds / float64(r.writes) * 1000
		}
		keys := make([]string, 0, len(r.by))
		for k := range r.by {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var by []string
		for _, k := range keys {
			by = append(by, fmt.Sprintf("%s=%d", k, r.by[k]))
		}
		fmt.Fprintf(&b, "%s: %d calls for %d writes, %.1f s in webhooks (%.2f ms per call, %.2f ms per write); driftguard answered deny %v, warn %v, patched %v; by webhook/operation/type: %s\n",
			variants[i].name, r.calls, r.writes, r.seconds, perCall, perWrite, r.denied, r.warned, r.patched, strings.Join(by, " "))
	}
	// what driftguard received, by kind and operation (the chart's
	// webhooks; the suite's own skip the mix's namespaces, but not
	// cluster-scoped objects, e.g. the audit's ClusterReport)
	keySet := map[string]bool{}
	for _, r := range results {
		for k := range r.kinds {
			keySet[k] = true
		}
	}
	keys := make([]string, 0, len(keySet))
	for k := range keySet {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(&b, "requests driftguard received (driftguard_admission_requests_total, dry_run=false), by webhook, kind and operation:\n")
	fmt.Fprintf(&b, "%-52s", "webhook kind operation")
	for _, v := range variants {
		fmt.Fprintf(&b, " %15s", v.name)
	}
	b.WriteString("\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%-52s", k)
		for _, r := range results {
			fmt.Fprintf(&b, " %15v", r.kinds[k])
		}
		b.WriteString("\n")
	}
	def, nar, rt := results[1], results[2], results[3]
	if def.calls > 0 {
		fmt.Fprintf(&b, "narrowing vs chart default: %d -> %d calls (%.1f%% fewer)\n", def.calls, nar.calls, 100*(1-float64(nar.calls)/float64(def.calls)))
		fmt.Fprintf(&b, "run-time vs chart default: %d -> %d calls (%.1f%% fewer)\n", def.calls, rt.calls, 100*(1-float64(rt.calls)/float64(def.calls)))
	}
	if off := results[0]; off.calls > 0 {
		fmt.Fprintf(&b, "narrowing vs conditions off: %d -> %d calls (%.1f%% fewer)\n", off.calls, nar.calls, 100*(1-float64(nar.calls)/float64(off.calls)))
	}
	t.Log(b.String())

	// no answer changed
	for i := 1; i < len(results); i++ {
		a, z := results[0].outcomes, results[i].outcomes
		if len(a) != len(z) {
			t.Fatalf("%s ran %d writes, %s %d", variants[0].name, len(a), variants[i].name, len(z))
		}
		for j := range a {
			if a[j] != z[j] {
				t.Errorf("write %d answered differently:\n  %s: %s\n  %s: %s", j, variants[0].name, a[j], variants[i].name, z[j])
			}
		}
		if results[i].denied != results[0].denied || results[i].warned != results[0].warned || results[i].patched != results[0].patched {
			t.Errorf("driftguard's answers differ: %s deny %v warn %v patched %v, %s deny %v warn %v patched %v",
				variants[0].name, results[0].denied, results[0].warned, results[0].patched,
				variants[i].name, results[i].denied, results[i].warned, results[i].patched)
		}
	}
	if results[0].denied < 2 {
		t.Errorf("the mix was denied %v times, want the Terraform-owned image denied in both namespaces", results[0].denied)
	}
	if nar.calls == 0 || nar.calls >= def.calls {
		t.Errorf("narrowing made %d calls, the chart default %d: want fewer, and some", nar.calls, def.calls)
	}
	if rt.calls == 0 || rt.calls >= def.calls {
		t.Errorf("the run-time condition made %d calls, the chart default %d: want fewer, and some", rt.calls, def.calls)
	}
}

// runTimeConditions replaces the a-policy-can-answer expressions of the
// rendered configurations with the ones internal/narrowing computes from
// the config and policies the suite's driftguard loads.
func runTimeConditions(t *testing.T, hooks string) string {
	t.Helper()
	st, src, err := loader.LoadWithSources(context.Background(), loader.Options{ConfigFile: s.configFile, PolicyDirs: []string{s.policyDir}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := narrowing.For(st, src)
	if err != nil || !c.Narrowed() {
		t.Fatalf("narrowing the suite's policies: %v %s", err, c.Wide)
	}
	var docs []string
	replaced := 0
	for _, doc := range strings.Split(hooks, "---\n") {
		var o chartObj
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		expr := c.Validate
		if o["kind"] == "MutatingWebhookConfiguration" {
			expr = c.Mutate
		}
		hs, _ := o["webhooks"].([]any)
		for _, h := range hs {
			conds, _ := h.(map[string]any)["matchConditions"].([]any)
			for _, mc := range conds {
				if m := mc.(map[string]any); m["name"] == narrowing.Name {
					m["expression"] = expr
					replaced++
				}
			}
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	if replaced == 0 {
		t.Fatal("no a-policy-can-answer rendered to replace")
	}
	return strings.Join(docs, "---\n")
}
