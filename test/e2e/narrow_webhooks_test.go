//go:build e2e

package e2e

// TestNarrowWebhooks runs a driftguard with self-managed certificates and
// --narrow-webhooks against the suite's real API server (the second
// instance and simulated kubelet of certrotation_test.go): the instance
// sets the matchCondition a-policy-can-answer, computed from the policies
// and config it loaded, on its webhook configurations, so a Service write
// (no bundled policy lists Service) is not sent; a policy reload that adds
// a policy on Service widens the condition, and the same write is then
// sent and denied by that policy.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	narrowNS     = "narrow-a"
	narrowSecret = "driftguard-narrow-cert"
	narrowConfig = "driftguard-narrow" // both webhook configurations
	narrowCond   = "a-policy-can-answer"
)

// narrowWebhookYAML: URL-addressed configurations without a caBundle
// for Deployments and Services in narrow-a, each with a condition of its
// own that the instance must keep, and filler more conditions that are
// always true.
func narrowWebhookYAML(port, filler int) string {
	var more strings.Builder
	for i := range filler {
		fmt.Fprintf(&more, "  - name: filler-%d\n    expression: \"true\"\n", i)
	}
	hook := func(kind, path string) string {
		return fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: %s
metadata:
  name: %s
  labels: {app.kubernetes.io/name: driftguard-narrow, driftguard.io/ignore: "true"}
webhooks:
- name: %s.narrow.driftguard.io
  clientConfig:
    url: https://%s:%d%s
  admissionReviewVersions: [v1]
  sideEffects: NoneOnDryRun
  timeoutSeconds: 5
  failurePolicy: Fail
  matchConditions:
  - name: not-a-lease
    expression: "request.kind.kind != 'Lease'"
%s  rules:
  - apiGroups: [apps]
    apiVersions: [v1]
    resources: [deployments]
    operations: [CREATE, UPDATE, DELETE]
  - apiGroups: [""]
    apiVersions: [v1]
    resources: [services]
    operations: [CREATE, UPDATE, DELETE]
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: %s}
`, kind, narrowConfig, strings.TrimPrefix(path, "/"), rotDNSName, port, path, more.String(), narrowNS)
	}
	return hook("ValidatingWebhookConfiguration", "/validate") + "---\n" + hook("MutatingWebhookConfiguration", "/mutate")
}

const narrowSetupYAML = `apiVersion: v1
kind: Namespace
metadata:
  name: ` + narrowNS + `
  labels: {driftguard.io/ignore: "true"}
---
apiVersion: v1
kind: Namespace
metadata:
  name: ` + rotSystemNS + `
  labels: {driftguard.io/ignore: "true"}
---
apiVersion: v1
kind: Secret
metadata:
  name: ` + narrowSecret + `
  namespace: ` + rotSystemNS + `
type: Opaque
`

const narrowServicePolicy = `# METADATA
# description: No LoadBalancer Services.
# custom:
#   kinds: [Service]
#   operations: [CREATE, UPDATE]
package driftguard.policies.no_load_balancers

deny contains {"field": "spec.type", "msg": "LoadBalancer Services are not allowed here"} if input.object.spec.type == "LoadBalancer"
`

func narrowService(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
spec:
  type: LoadBalancer
  ports: [{port: 80}]
`, name, narrowNS)
}

// narrowConditions returns each entry's matchConditions (name →
// expression) of both configurations.
func narrowConditions(t *testing.T, cs kubernetes.Interface) (v, m []map[string]string) {
	t.Helper()
	ctx := context.Background()
	vc, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, narrowConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, narrowConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range vc.Webhooks {
		c := map[string]string{}
		for _, mc := range w.MatchConditions {
			c[mc.Name] = mc.Expression
		}
		v = append(v, c)
	}
	for _, w := range mc.Webhooks {
		c := map[string]string{}
		for _, mc := range w.MatchConditions {
			c[mc.Name] = mc.Expression
		}
		m = append(m, c)
	}
	return v, m
}

// waitCondition waits until every entry of both configurations has the
// condition and the validating one satisfies ok.
func waitCondition(t *testing.T, cs kubernetes.Interface, what string, ok func(validate string) bool) (validate, mutate string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, m := narrowConditions(t, cs)
		all := len(v) > 0 && len(m) > 0
		for _, c := range append(v, m...) {
			if c[narrowCond] == "" || c["not-a-lease"] == "" {
				all = false
			}
		}
		if all && ok(v[0][narrowCond]) {
			return v[0][narrowCond], m[0][narrowCond]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s; matchConditions: validating %v, mutating %v", what, v, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNarrowWebhooks(t *testing.T) {
	if !s.bundled {
		t.Skip("the conditions are checked for the bundled policies")
	}
	cs := rotClient(t)
	policies := filepath.Join(s.tmp, "narrow-policies")
	if err := os.RemoveAll(policies); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(policies, 0o755); err != nil {
		t.Fatal(err)
	}
	ri := &rotInstance{extraArgs: []string{"--narrow-webhooks", "--policies", policies, "--reload-interval", "200ms"}}
	kubeletCtx, stopKubelet := context.WithCancel(context.Background())
	kubeletDone := make(chan struct{})
	close(kubeletDone)
	reset := func() {
		for _, obj := range [][]string{{"service", "lb1", "lb2", "lb3", "-n", narrowNS}, {"secret", narrowSecret, "-n", rotSystemNS}} {
			if r := s.kubectl(append([]string{"delete", "--ignore-not-found", "--wait=false"}, obj...)...); r.code != 0 {
				t.Errorf("deleting %s: %s", strings.Join(obj, " "), r)
			}
		}
	}
	t.Cleanup(func() {
		if r := s.kubectl("delete", "validatingwebhookconfiguration,mutatingwebhookconfiguration", narrowConfig,
			"--ignore-not-found", "--wait=false"); r.code != 0 {
			t.Errorf("deleting the webhook configurations %s: %s", narrowConfig, r)
		}
		ri.stop(t)
		stopKubelet()
		<-kubeletDone
		if t.Failed() && ri.logFile != "" {
			t.Logf("----- last 60 lines of the instance's log (%s) -----\n%s\n----- end -----", ri.logFile, ri.logTail(60))
		}
		reset()
	})
	reset()
	mustSucceed(t, s.kubectlIn(narrowSetupYAML, "apply", "-f", "-"))
	ri.ports(t)
	mustSucceed(t, s.kubectlIn(narrowWebhookYAML(ri.port, 0), "apply", "-f", "-"))
	ri.start(t, rotSystemNS+"/"+narrowSecret, narrowConfig+","+narrowConfig)
	kl := &rotKubelet{cs: cs, dir: ri.certDir, secret: narrowSecret}
	kubeletDone = make(chan struct{})
	go func() { defer close(kubeletDone); kl.run(kubeletCtx, 200*time.Millisecond) }()
	ri.waitReady(t, 60*time.Second)

	services := func() float64 {
		return ri.metric(t, "driftguard_admission_requests_total", map[string]string{"webhook": "validate", "kind": "Service"})
	}
	hasService := func(v string) bool { return strings.Contains(v, "'Service'") }

	if !t.Run("at start: the condition on every entry, Service not sent", func(t *testing.T) {
		v, m := waitCondition(t, cs, "the condition set at start", func(v string) bool { return !hasService(v) })
		if !strings.Contains(v, "'Deployment'") || m == v {
			t.Errorf("unexpected conditions:\nvalidating %s\nmutating %s", v, m)
		}
		if got := ri.metric(t, "driftguard_webhook_narrowed", map[string]string{"configuration": "validating"}); got != 1 {
			t.Errorf("driftguard_webhook_narrowed{configuration=validating} = %v, want 1", got)
		}
		before := services()
		mustSucceed(t, kIn(asAlice, narrowService("lb1"), "apply", "-f", "-"))
		if d := services() - before; d != 0 {
			t.Errorf("%v Service requests reached the instance, want 0", d)
		}
		t.Logf("validating condition: %d characters", len(v))
	}) {
		return
	}

	if !t.Run("a reload adding a policy on Service widens it; the write is then denied", func(t *testing.T) {
		if err := writeFileAtomic(filepath.Join(policies, "no_load_balancers.rego"), []byte(narrowServicePolicy)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitCondition(t, cs, "the condition widened to Service", hasService)
		t.Logf("widened %s after the policy file was written", time.Since(start).Round(time.Millisecond))
		before := services()
		r := kIn(asAlice, narrowService("lb2"), "apply", "-f", "-")
		if r.code == 0 {
			t.Fatalf("the LoadBalancer Service was admitted:\n%s", r)
		}
		if !strings.Contains(r.stderr, "LoadBalancer Services are not allowed here") {
			t.Errorf("not the policy's denial:\n%s", r)
		}
		if d := services() - before; d < 1 {
			t.Errorf("%v Service requests reached the instance, want at least 1", d)
		}
		// nothing changed since: no further writes (10 reload polls)
		rv := func() string {
			vc, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), narrowConfig, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), narrowConfig, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return vc.ResourceVersion + "/" + mc.ResourceVersion
		}
		first := rv()
		time.Sleep(2 * time.Second)
		if now := rv(); now != first {
			t.Errorf("the configurations were written again with nothing changed: resourceVersions %s, then %s", first, now)
		}
	}) {
		return
	}

	// 64 matchConditions per entry are the API server's limit: adding
	// a-policy-can-answer to configurations that already have 64 is refused
	t.Run("a refused condition: counted, the configurations left without it, everything sent", func(t *testing.T) {
		mustSucceed(t, s.kubectl("delete", "validatingwebhookconfiguration,mutatingwebhookconfiguration", narrowConfig, "--wait=true"))
		mustSucceed(t, s.kubectlIn(narrowWebhookYAML(ri.port, 63), "apply", "-f", "-"))
		// the CA bundle keeper repairs the recreated configurations' caBundle
		deadline := time.Now().Add(30 * time.Second)
		for {
			vc, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), narrowConfig, metav1.GetOptions{})
			if err == nil && len(vc.Webhooks) == 1 && len(vc.Webhooks[0].ClientConfig.CABundle) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no caBundle injected into the recreated configuration within 30s (%v)", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		rejectedOf := func(c string) float64 {
			return ri.metric(t, "driftguard_webhook_condition_rejections_total", map[string]string{"configuration": c})
		}
		rejected := func() float64 { return rejectedOf("validating") }
		before, beforeM := rejected(), rejectedOf("mutating")
		// a reload that changes the condition: one more policy, on one more kind
		more := strings.NewReplacer("no_load_balancers", "no_node_ports", "LoadBalancer", "NodePort", "[Service]", "[Service, Ingress]").Replace(narrowServicePolicy)
		if err := writeFileAtomic(filepath.Join(policies, "no_node_ports.rego"), []byte(more)); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(30 * time.Second)
		for rejected() <= before {
			if time.Now().After(deadline) {
				t.Fatalf("driftguard_webhook_condition_rejections_total{configuration=validating} stayed %v for 30s", before)
			}
			time.Sleep(100 * time.Millisecond)
		}
		v, m := narrowConditions(t, cs)
		for _, c := range append(v, m...) {
			if _, ok := c[narrowCond]; ok || len(c) != 64 {
				t.Errorf("an entry has %d matchConditions (with %s: %v), want the 64 it was created with", len(c), narrowCond, ok)
			}
		}
		if got := ri.metric(t, "driftguard_webhook_narrowed", map[string]string{"configuration": "validating"}); got != 0 {
			t.Errorf("driftguard_webhook_narrowed{configuration=validating} = %v, want 0", got)
		}
		// every Service write is sent, and the policies answer it
		r := kIn(asAlice, narrowService("lb3"), "apply", "-f", "-")
		if r.code == 0 || !strings.Contains(r.stderr, "LoadBalancer Services are not allowed here") {
			t.Errorf("the LoadBalancer Service was not denied by the policy:\n%s", r)
		}
		if d := rejectedOf("mutating") - beforeM; d != 1 {
			t.Errorf("the mutating configuration's condition refused %v times, want 1", d)
		}
		t.Logf("refused: validating %v, mutating %v", rejected()-before, rejectedOf("mutating")-beforeM)
	})
}
