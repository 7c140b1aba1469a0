package chart

// The condition internal/narrowing computes at run time from the loaded
// policies and config, checked with the same corpus and checker as the
// chart's (narrowing_test.go).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/answer"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/narrowing"
)

// goConditions computes the conditions of a state loaded with the
// bundled policies; it fails the test when they do not narrow.
func goConditions(t *testing.T, st *admit.State) narrowing.Conditions {
	t.Helper()
	src, err := loader.Sources(loader.Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := narrowing.For(st, src)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Narrowed() {
		t.Fatalf("the bundled policies are not narrowed: %s", c.Wide)
	}
	return c
}

// goSendersFor returns the Go-generated conditions of the config that
// answered a request: its state's (fixture reviews and their variants),
// or the suite runner's (the embedded default config with the suite's and
// case's configOverrides, then extra).
func goSendersFor(t *testing.T, extra map[string]any) sendersFunc {
	cache := map[string]senders{}
	return func(r request) senders {
		t.Helper()
		key := fmt.Sprintf("state:%p", r.state)
		if r.state == nil {
			b, err := json.Marshal(r.overrides)
			if err != nil {
				t.Fatal(err)
			}
			key = "config:" + string(b)
		}
		if s, ok := cache[key]; ok {
			return s
		}
		st := r.state
		if st == nil {
			st = suiteState(t, r.overrides, extra)
		}
		c := goConditions(t, st)
		cache[key] = newSenders(t, c.Validate, c.Mutate)
		return cache[key]
	}
}

// suiteState loads the bundled policies with the config a suite case runs
// with (internal/suite: the embedded default, configOverrides merged over
// it) and extra merged over that.
func suiteState(t *testing.T, overrides ...map[string]any) *admit.State {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(config.DefaultYAML(), &m); err != nil {
		t.Fatal(err)
	}
	for _, o := range overrides {
		if o != nil {
			m = mergeMaps(m, o)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	st, err := loader.Load(context.Background(), loader.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// For the chart's default values, the Go-generated conditions (from the
// config the chart renders) send exactly the requests the chart's send.
func TestNarrowingGoSendsWhatTheChartSends(t *testing.T) {
	reqs, _ := narrowingRequests(t)
	chart := sendersFor(t)(request{})
	st := reqs[len(reqs)-1].state // the chart's rendered config
	if st == nil {
		t.Fatal("the last request has no state")
	}
	c := goConditions(t, st)
	goS := newSenders(t, c.Validate, c.Mutate)
	differ := 0
	for _, r := range reqs {
		for _, e := range []struct {
			name        string
			chart, goSe sender
		}{{"validating", chart.validate, goS.validate}, {"mutating", chart.mutate, goS.mutate}} {
			a, errA := e.chart.sends(r.req)
			b, errB := e.goSe.sends(r.req)
			if errA != nil || errB != nil {
				t.Errorf("%s: %s: evaluation errors: chart %v, go %v", r.name, e.name, errA, errB)
				continue
			}
			if a != b {
				differ++
				if differ <= 20 {
					t.Errorf("%s (%s %s): %s entries: the chart's condition sends %v, the Go-generated one %v", r.name, r.req.Operation, r.req.Kind.Kind, e.name, a, b)
				}
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d decisions differ", differ, 2*len(reqs))
	}
	t.Logf("%d requests, both conditions send the same", len(reqs))
}

// loadPolicies loads the bundled policies and a directory holding files
// (name → Rego text) with the default config, and computes the
// conditions.
func loadPolicies(t *testing.T, files map[string]string) (*admit.State, narrowing.Conditions) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, src, err := loader.LoadWithSources(context.Background(), loader.Options{PolicyDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := narrowing.For(st, src)
	if err != nil {
		t.Fatal(err)
	}
	return st, c
}

const servicePolicy = `# METADATA
# description: No LoadBalancer Services.
# custom:
#   kinds: [Service]
#   operations: [CREATE]
package driftguard.policies.no_load_balancers

deny contains {"field": "spec.type", "msg": "no LoadBalancer Services"} if input.object.spec.type == "LoadBalancer"
`

func serviceCreate() *admissionv1.AdmissionRequest {
	return &admissionv1.AdmissionRequest{
		UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Service"}, Operation: admissionv1.Create,
		Resource: metav1.GroupVersionResource{Version: "v1", Resource: "services"}, Name: "x", Namespace: "tenant-a",
		UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"devs", "system:authenticated"}},
		Object:   runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","namespace":"tenant-a"},"spec":{"type":"LoadBalancer"}}`)},
	}
}

// A policy of the user's own on a kind no bundled policy lists gets that
// kind sent; without it, the same request is not sent.
func TestNarrowingGoSendsAUserPolicysKind(t *testing.T) {
	req := serviceCreate()
	_, plain := loadPolicies(t, nil)
	if !plain.Narrowed() {
		t.Fatalf("the bundled policies are not narrowed: %s", plain.Wide)
	}
	if sent, err := newSender(t, plain.Validate).sends(req); err != nil || sent {
		t.Fatalf("without the policy, a Service CREATE: sent %v, error %v", sent, err)
	}
	st, c := loadPolicies(t, map[string]string{"no_load_balancers.rego": servicePolicy})
	if !c.Narrowed() {
		t.Fatalf("a policy with a kinds list turned narrowing off: %s", c.Wide)
	}
	a, _, err := answer.Evaluate(context.Background(), st, req, answer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Allowed {
		t.Fatalf("the policy does not deny the Service: %s", answerText(a))
	}
	if sent, err := newSender(t, c.Validate).sends(req); err != nil || !sent {
		t.Errorf("with the policy, a Service CREATE: sent %v, error %v\n%s", sent, err, c.Validate)
	}
	// it declares CREATE only
	upd := req.DeepCopy()
	upd.Operation, upd.OldObject = admissionv1.Update, upd.Object
	if sent, err := newSender(t, c.Validate).sends(upd); err != nil || sent {
		t.Errorf("a Service UPDATE: sent %v, error %v", sent, err)
	}
}

// A policy of the user's own listing ConfigMap gets every ConfigMap sent,
// not only the ones the config names.
func TestNarrowingGoSendsConfigMapsByKindForAUserPolicy(t *testing.T) {
	req := serviceCreate()
	req.Kind, req.Resource = metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	req.Object.Raw = []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"tenant-a"}}`)
	_, plain := loadPolicies(t, nil)
	if sent, err := newSender(t, plain.Validate).sends(req); err != nil || sent {
		t.Fatalf("without the policy, a ConfigMap no config names: sent %v, error %v", sent, err)
	}
	_, c := loadPolicies(t, map[string]string{"cm.rego": strings.NewReplacer("Service", "ConfigMap", "no_load_balancers", "config_maps").Replace(servicePolicy)})
	if sent, err := newSender(t, c.Validate).sends(req); err != nil || !sent {
		t.Errorf("with a policy listing ConfigMap: sent %v, error %v", sent, err)
	}
}

// A policy of the user's own with kinds ["*"] (or no kinds) turns
// narrowing off; one with patch rules sends the mutating entries what the
// validating ones get.
func TestNarrowingGoWidens(t *testing.T) {
	_, c := loadPolicies(t, map[string]string{"any.rego": strings.Replace(servicePolicy, "[Service]", `["*"]`, 1)})
	if c.Narrowed() || c.Validate != "" || c.Mutate != "" {
		t.Errorf("a user's kinds [\"*\"] policy: narrowed %v (%q)", c.Narrowed(), c.Wide)
	}
	noKinds := "package driftguard.policies.everything\n\ndeny contains {\"msg\": \"x\"} if input.request.object.spec.x\n"
	if _, c := loadPolicies(t, map[string]string{"any.rego": noKinds}); c.Narrowed() {
		t.Error("a user's policy without METADATA kinds is narrowed for")
	}
	patch := servicePolicy + "\npatch contains {\"op\": \"add\", \"path\": \"/metadata/labels/x\", \"value\": \"y\"} if false\n"
	_, c = loadPolicies(t, map[string]string{"p.rego": patch})
	if !c.Narrowed() || c.Mutate != c.Validate {
		t.Errorf("a policy with patch rules: the mutating entries' condition is not the validating one's:\n%s", c.Mutate)
	}
	_, plain := loadPolicies(t, nil)
	if plain.Mutate == plain.Validate {
		t.Error("the bundled policies' mutating condition is the validating one's")
	}
}

// With self-managed certificates the binary keeps the condition
// (--narrow-webhooks) and the chart renders none; otherwise the chart
// renders it.
func TestNarrowingSelfManagedPassesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		flag    bool // --narrow-webhooks passed
		renders bool // the chart renders a-policy-can-answer
	}{
		{"self-managed", []string{"--set", "certificates.mode=selfManaged"}, true, false},
		{"self-managed, rendered by the chart", []string{"--set", "certificates.mode=selfManaged", "--set", "webhook.narrowing.selfManaged=false"}, false, true},
		{"cert-manager", nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, append([]string{"--set", "webhook.narrowing.enabled=true"}, tc.args...)...)
			args := strs(container(t, r.one(t, "Deployment")), "args")
			if got := slices.Contains(args, "--narrow-webhooks"); got != tc.flag {
				t.Errorf("--narrow-webhooks passed: %v, want %v (%v)", got, tc.flag, args)
			}
			for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
				n := 0
				for _, w := range webhooks(t, r, kind) {
					for _, mc := range list(w, "matchConditions") {
						if str(mc, "name") == narrowingCondition {
							n++
						}
					}
				}
				if (n > 0) != tc.renders {
					t.Errorf("%s: %d entries with %s rendered, want rendered %v", kind, n, narrowingCondition, tc.renders)
				}
			}
			if !tc.flag {
				return
			}
			// the keeper watches the configurations and updates the two
			cr := rulesByResource(driftguardRole(t, r))
			vwc := str(r.one(t, "ValidatingWebhookConfiguration"), "metadata.name")
			mwc := str(r.one(t, "MutatingWebhookConfiguration"), "metadata.name")
			for key, want := range map[string]string{
				"admissionregistration.k8s.io/validatingwebhookconfigurations":        "watch",
				"admissionregistration.k8s.io/mutatingwebhookconfigurations":          "list",
				"admissionregistration.k8s.io/validatingwebhookconfigurations:" + vwc: "update",
				"admissionregistration.k8s.io/mutatingwebhookconfigurations:" + mwc:   "update",
			} {
				if !slices.Contains(cr[key], want) {
					t.Errorf("ClusterRole %s = %v, lacks %s", key, cr[key], want)
				}
			}
		})
	}
	// off: neither
	r := render(t, "--set", "certificates.mode=selfManaged")
	if slices.Contains(strs(container(t, r.one(t, "Deployment")), "args"), "--narrow-webhooks") {
		t.Error("--narrow-webhooks passed with webhook.narrowing.enabled=false")
	}
}
