package chart

// webhook.narrowing adds the matchCondition a-policy-can-answer, which
// keeps the API server from calling driftguard for requests no policy
// can answer. The tests here evaluate that condition with the API
// server's own matchConditions code (k8s.io/apiserver) and check that
// every request of the policy suites (policies/suites), of the fixture
// reviews (test/fixtures/reviews) and of the same requests made on kinds
// no policy lists (the kinds ["*"] policies' part) that driftguard
// answers with a denial, a warning or a patch would have been sent.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	celplugin "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/answer"
	"github.com/driftguard/driftguard/internal/input"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/suite"
)

const narrowingCondition = "a-policy-can-answer"

// narrowingExpressions renders the chart and returns the expression of
// a-policy-can-answer of the validating and of the mutating
// configuration's main entries (the same in both entries of each).
func narrowingExpressions(t *testing.T, args ...string) (validate, mutate string) {
	t.Helper()
	r := render(t, args...)
	return narrowingExpression(t, r, "ValidatingWebhookConfiguration"), narrowingExpression(t, r, "MutatingWebhookConfiguration")
}

func narrowingExpression(t *testing.T, r rendered, kind string) string {
	t.Helper()
	var expr string
	{
		for _, w := range webhooks(t, r, kind) {
			name := str(w, "name")
			if !strings.HasPrefix(name, "tenants.") && !strings.HasPrefix(name, "others.") {
				continue
			}
			var found []string
			for _, mc := range list(w, "matchConditions") {
				if str(mc, "name") == narrowingCondition {
					found = append(found, str(mc, "expression"))
				}
			}
			if len(found) != 1 {
				t.Fatalf("%s has %d %s matchConditions, want 1", name, len(found), narrowingCondition)
			}
			if expr != "" && found[0] != expr {
				t.Fatalf("%s: %s differs from the other entries':\n%s\n%s", name, narrowingCondition, found[0], expr)
			}
			expr = found[0]
		}
	}
	if expr == "" {
		t.Fatalf("no %s entry has %s", kind, narrowingCondition)
	}
	return expr
}

// sender evaluates a matchCondition as kube-apiserver does.
type sender struct{ m matchconditions.Matcher }

func newSender(t *testing.T, expr string) sender {
	t.Helper()
	compiler := celplugin.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	compile := func(mode environment.Type) celplugin.ConditionEvaluator {
		return compiler.CompileCondition([]celplugin.ExpressionAccessor{&matchconditions.MatchCondition{Name: narrowingCondition, Expression: expr}},
			celplugin.OptionalVariableDeclarations{HasAuthorizer: true}, mode)
	}
	// NewExpressions: what the API server accepts in a new or changed configuration
	if errs := compile(environment.NewExpressions).CompilationErrors(); len(errs) > 0 {
		t.Fatalf("%s is not accepted in a new webhook configuration: %v\n%s", narrowingCondition, errs, expr)
	}
	filter := compile(environment.StoredExpressions)
	if errs := filter.CompilationErrors(); len(errs) > 0 {
		t.Fatalf("%s does not compile: %v\n%s", narrowingCondition, errs, expr)
	}
	fail := admissionregistrationv1.Fail
	return sender{matchconditions.NewMatcher(filter, &fail, "webhook", "validating", "others.validate.driftguard.io")}
}

// sends reports whether the API server would call the webhook for req
// (an evaluation error is returned: with failurePolicy Fail it rejects
// the request).
func (s sender) sends(req *admissionv1.AdmissionRequest) (bool, error) {
	obj, err := rawObject(req.Object)
	if err != nil {
		return false, err
	}
	old, err := rawObject(req.OldObject)
	if err != nil {
		return false, err
	}
	kind := schema.GroupVersionKind(req.Kind)
	requested := kind
	if req.RequestKind != nil {
		requested = schema.GroupVersionKind(*req.RequestKind)
	}
	var extra map[string][]string
	for k, v := range req.UserInfo.Extra {
		if extra == nil {
			extra = map[string][]string{}
		}
		extra[k] = v
	}
	u := &user.DefaultInfo{Name: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups, Extra: extra}
	dry := req.DryRun != nil && *req.DryRun
	attr := admission.NewAttributesRecord(obj, old, requested, req.Namespace, req.Name, schema.GroupVersionResource(req.Resource),
		req.SubResource, admission.Operation(req.Operation), nil, dry, u)
	va := &admission.VersionedAttributes{Attributes: attr, VersionedKind: kind, VersionedObject: admission.NewLazyObject(obj), VersionedOldObject: admission.NewLazyObject(old)}
	res := s.m.Match(context.Background(), va, nil, nil)
	return res.Matches, res.Error
}

func rawObject(r runtime.RawExtension) (runtime.Object, error) {
	if len(r.Raw) == 0 || string(r.Raw) == "null" {
		return nil, nil // an untyped nil: the API server's object/oldObject is null
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(r.Raw); err != nil {
		return nil, err
	}
	return u, nil
}

// validated: the validating webhook's answer is a denial or warnings.
func validated(a *answer.Answer) bool {
	return a != nil && (!a.Allowed || len(a.Warnings) > 0)
}

// patched: the mutating webhook's answer is a patch.
func patched(a *answer.Answer) bool { return a != nil && len(a.Patch) > 0 }

// senders are the validating and mutating entries' conditions.
type senders struct{ validate, mutate sender }

func newSenders(t *testing.T, validate, mutate string) senders {
	t.Helper()
	return senders{newSender(t, validate), newSender(t, mutate)}
}

// request is one admission request the condition is checked against.
type request struct {
	name string
	req  *admissionv1.AdmissionRequest
	// overrides is the suite's and case's configOverrides: the chart is
	// rendered with them as config (nil: the chart's default config)
	overrides map[string]any
	state     *admit.State // nil: the suite runner's answer is got
	got       *answer.Answer
}

// fakeReverts reports a recent revert of every given field, for the
// audited kinds only: the revert detector watches those (internal/revert).
type fakeReverts struct {
	kinds  map[string]bool
	fields []string
}

func (f *fakeReverts) Reverts(_, kind, _ string) []input.PastRevert {
	if !f.kinds[kind] {
		return nil
	}
	var out []input.PastRevert
	for _, p := range f.fields {
		out = append(out, input.PastRevert{Field: p, Count: 2, By: []string{"some-controller"}})
	}
	return out
}

// checkSends answers every request (with the fake revert history holding
// the fields it changes) and returns the answered requests the condition
// would not send, and how many were answered and how many sent.
func checkSends(t *testing.T, sendersFor sendersFunc, reqs []request, reverts *fakeReverts) (missed []string, answeredN, sentN int) {
	t.Helper()
	ctx := context.Background()
	for _, r := range reqs {
		s := sendersFor(r)
		got := r.got
		if r.state != nil {
			reverts.fields = nil
			a, d, err := answer.Evaluate(ctx, r.state, r.req, answer.Options{Mutate: true})
			if err != nil && !answer.IsBadInput(err) {
				t.Fatalf("%s: %v", r.name, err)
			}
			if d != nil && d.Input != nil {
				for _, c := range d.Input.Changes {
					reverts.fields = append(reverts.fields, c.Path)
				}
				if len(reverts.fields) > 0 {
					if a2, _, err := answer.Evaluate(ctx, r.state, r.req, answer.Options{Mutate: true}); err == nil {
						a = a2
					}
				}
			}
			got = a
		}
		sent, err := s.validate.sends(r.req)
		if err != nil {
			t.Errorf("%s: the validating entries' %s fails to evaluate (failurePolicy would apply): %v", r.name, narrowingCondition, err)
			continue
		}
		sentMutate, err := s.mutate.sends(r.req)
		if err != nil {
			t.Errorf("%s: the mutating entries' %s fails to evaluate (failurePolicy would apply): %v", r.name, narrowingCondition, err)
			continue
		}
		if sent {
			sentN++
		}
		if sentMutate {
			sentN++
		}
		if validated(got) || patched(got) {
			answeredN++
		}
		if validated(got) && !sent {
			missed = append(missed, fmt.Sprintf("%s (%s %s): validating webhook not sent, answered %s", r.name, r.req.Operation, r.req.Kind.Kind, answerText(got)))
		}
		if patched(got) && !sentMutate {
			missed = append(missed, fmt.Sprintf("%s (%s %s): mutating webhook not sent, answered %s", r.name, r.req.Operation, r.req.Kind.Kind, answerText(got)))
		}
	}
	return missed, answeredN, sentN
}

func answerText(a *answer.Answer) string {
	var parts []string
	for _, v := range a.Verdicts {
		if v.Decision != "allow" {
			parts = append(parts, v.Policy+"="+v.Decision)
		}
	}
	if len(a.Patch) > 0 {
		parts = append(parts, fmt.Sprintf("%d patch operation(s)", len(a.Patch)))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("allowed=%v warnings=%q", a.Allowed, a.Warnings))
	}
	return strings.Join(parts, ", ")
}

// narrowingRequests are the suites' requests (answered by the suite
// runner, each with its suite's config), the fixture reviews, and both
// made on kinds no policy lists (answered with the default config and
// the fake revert history).
func narrowingRequests(t *testing.T, helmArgs ...string) ([]request, *fakeReverts) {
	t.Helper()
	ctx := context.Background()
	root := repoRoot(t)
	reverts := &fakeReverts{kinds: map[string]bool{}}
	// the config the chart renders with helmArgs
	cfgMap := render(t, helmArgs...).named(t, "ConfigMap", release+"-driftguard-config")
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(getLabelish(cfgMap, "data", "config.yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := loader.Load(ctx, loader.Options{ConfigFile: cfgFile, Reverts: reverts})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range st.Config.Audit.Kinds {
		reverts.kinds[k.Kind] = true
	}

	var reqs []request
	files, err := suite.Discover([]string{filepath.Join(root, "policies", "suites")})
	if err != nil || len(files) == 0 {
		t.Fatalf("no policy suites: %v", err)
	}
	runner := suite.NewRunner(suite.Options{})
	suites, err := runner.LoadFiles(ctx, files)
	if err != nil {
		t.Fatal(err)
	}
	results := runner.RunSuites(ctx, suites)
	for i, s := range suites {
		overrides := suiteOverrides(t, s.File)
		for j, c := range s.Cases {
			if c.Request == nil || c.Skip != "" {
				continue
			}
			o, ok := overrides[c.Name]
			if !ok {
				t.Fatalf("%s: case %q not found in the file", s.File, c.Name)
			}
			reqs = append(reqs, request{name: c.FullName(s), req: c.Request, got: results[i].Cases[j].Got, overrides: o})
		}
	}
	reviews, _ := filepath.Glob(filepath.Join(root, "test", "fixtures", "reviews", "*.json"))
	if len(reviews) == 0 {
		t.Fatal("no fixture reviews")
	}
	for _, p := range reviews {
		rv, err := suite.ReadReview(p, nil)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		reqs = append(reqs, request{name: "reviews/" + filepath.Base(p), req: rv.Request, state: st})
	}
	// The same requests on kinds no policy lists: only the kinds ["*"]
	// policies and the drift record can answer them (and, for ConfigMaps,
	// tenancy_guard and version_matrix by name).
	others := []metav1.GroupVersionKind{
		{Group: "example.com", Version: "v1", Kind: "Widget"},
		{Group: "", Version: "v1", Kind: "Service"},
		// listed, but sent only by name (webhook.narrowing.configMapsByName)
		{Group: "", Version: "v1", Kind: "ConfigMap"},
	}
	n := len(reqs)
	for _, r := range reqs[:n] {
		if r.req.SubResource != "" {
			continue
		}
		for _, gvk := range others {
			rk, err := rekind(r.req, gvk)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			reqs = append(reqs, request{name: r.name + " as " + gvk.Kind, req: rk, state: st})
			// and with no sign of ownership but one tracking mark each
			for _, mark := range marks {
				v, err := remark(rk, mark)
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				reqs = append(reqs, request{name: r.name + " as " + gvk.Kind + " " + mark.name, req: v, state: st})
			}
		}
	}
	return reqs, reverts
}

// mark is what remark leaves on both objects after stripping
// ownerReferences, managedFields and annotations.
type mark struct {
	name                string
	annotations, labels map[string]any
	oldAnnotations      map[string]any // on oldObject only
	ownerReferences     []any
}

var marks = []mark{
	{name: "(unowned)"},
	{name: "(Argo CD tracked)", annotations: map[string]any{"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:tenant-a/api"}},
	{name: "(Flux applied)", labels: map[string]any{"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}},
	{name: "(kopf handled)", annotations: map[string]any{"kopf.zalando.org/last-handled-configuration": "{}"}},
	{name: "(owner annotation)", annotations: map[string]any{"driftguard.io/owner": "terraform"}},
	{name: "(controlled by an ExternalSecret)", ownerReferences: []any{map[string]any{
		"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "api", "uid": "0b6e6b6e-1111-2222-3333-444455556666", "controller": true}}},
	{name: "(drift record removed)", oldAnnotations: map[string]any{"driftguard.io/drift": `{"edits":[{"by":"bob","at":"2026-01-01T00:00:00Z","owner":"terraform","fields":["spec.replicas"],"policy":"owned_fields","reason":"warn mode"}]}`}},
}

// remark strips what shows ownership off req's objects and adds m.
func remark(req *admissionv1.AdmissionRequest, m mark) (*admissionv1.AdmissionRequest, error) {
	out := req.DeepCopy()
	for i, raw := range []*runtime.RawExtension{&out.Object, &out.OldObject} {
		if len(raw.Raw) == 0 || string(raw.Raw) == "null" {
			continue
		}
		var o map[string]any
		if err := json.Unmarshal(raw.Raw, &o); err != nil {
			return nil, err
		}
		md, _ := o["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
			o["metadata"] = md
		}
		delete(md, "ownerReferences")
		delete(md, "managedFields")
		delete(md, "annotations")
		if m.annotations != nil {
			md["annotations"] = m.annotations
		}
		if m.ownerReferences != nil {
			md["ownerReferences"] = m.ownerReferences
		}
		if i == 1 && m.oldAnnotations != nil {
			md["annotations"] = m.oldAnnotations
		}
		if m.labels != nil {
			labels, _ := md["labels"].(map[string]any)
			if labels == nil {
				labels = map[string]any{}
			}
			for k, v := range m.labels {
				labels[k] = v
			}
			md["labels"] = labels
		}
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		raw.Raw, raw.Object = b, nil
	}
	return out, nil
}

// suiteOverrides reads a suite file's configOverrides merged per case
// (suite's, then the case's), by case name. No bundled suite names a
// config file of its own; one that does fails here.
func suiteOverrides(t *testing.T, file string) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var spec suite.FileSpec
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(spec.Config) > 0 && string(spec.Config) != "null" {
		t.Fatalf("%s names a config: render the chart with it to check it", file)
	}
	out := map[string]map[string]any{}
	for _, raw := range spec.Cases {
		var cs suite.CaseSpec
		if err := json.Unmarshal(raw, &cs); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(cs.Config) > 0 && string(cs.Config) != "null" {
			t.Fatalf("%s case %q names a config: render the chart with it to check it", file, cs.Name)
		}
		var merged map[string]any
		for _, o := range []map[string]any{spec.ConfigOverrides, cs.ConfigOverrides} {
			if o != nil {
				merged = mergeMaps(merged, o)
			}
		}
		out[cs.Name] = merged
	}
	return out
}

// mergeMaps merges o over m as suite configOverrides and the chart's
// config value do: maps key by key, anything else replaced.
func mergeMaps(m, o map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range o {
		if om, ok := v.(map[string]any); ok {
			if mm, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(mm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// sendersFunc returns the conditions a request is checked against: those
// made for the config that answered it.
type sendersFunc func(r request) senders

// sendersFor renders the chart with webhook.narrowing.enabled, args and
// the config overrides of a request (once per distinct overrides).
func sendersFor(t *testing.T, args ...string) sendersFunc {
	cache := map[string]senders{}
	return func(r request) senders {
		t.Helper()
		overrides := r.overrides
		key := ""
		var all []string
		if overrides != nil {
			b, err := json.Marshal(overrides)
			if err != nil {
				t.Fatal(err)
			}
			key = string(b)
			all = append(all, "--set-json", "config="+key)
		}
		if s, ok := cache[key]; ok {
			return s
		}
		all = append(append(all, "--set", "webhook.narrowing.enabled=true"), args...)
		v, m := narrowingExpressions(t, all...)
		cache[key] = newSenders(t, v, m)
		return cache[key]
	}
}

// rekind is req made on another kind: kind, resource and the objects'
// apiVersion and kind replaced.
func rekind(req *admissionv1.AdmissionRequest, gvk metav1.GroupVersionKind) (*admissionv1.AdmissionRequest, error) {
	out := req.DeepCopy()
	gvr := metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(gvk.Kind) + "s"}
	out.Kind, out.Resource = gvk, gvr
	out.RequestKind, out.RequestResource = &gvk, &gvr
	apiVersion := gvk.Version
	if gvk.Group != "" {
		apiVersion = gvk.Group + "/" + gvk.Version
	}
	for _, raw := range []*runtime.RawExtension{&out.Object, &out.OldObject} {
		if len(raw.Raw) == 0 || string(raw.Raw) == "null" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(raw.Raw, &m); err != nil {
			return nil, err
		}
		m["apiVersion"], m["kind"] = apiVersion, gvk.Kind
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		raw.Raw, raw.Object = b, nil
	}
	return out, nil
}

// Both the chart's condition and the one internal/narrowing computes
// from the loaded policies and config (--narrow-webhooks) pass.
func TestNarrowingSendsEveryAnsweredRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		// extra is args as config overrides (for the Go-generated
		// condition of the suite cases' configs)
		extra map[string]any
	}{
		{"defaults", nil, nil},
		// the mutating entries then get what the validating ones get
		{"a policy in warn mode", []string{"--set", "config.policies.owned_fields.mode=warn"},
			map[string]any{"policies": map[string]any{"owned_fields": map[string]any{"mode": "warn"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs, reverts := narrowingRequests(t, tc.args...)
			for _, g := range []struct {
				name string
				s    sendersFunc
			}{
				{"chart", sendersFor(t, tc.args...)},
				{"go", goSendersFor(t, tc.extra)},
			} {
				t.Run(g.name, func(t *testing.T) {
					missed, answeredN, sentN := checkSends(t, g.s, reqs, reverts)
					for _, m := range missed {
						t.Errorf("not sent, but answered: %s", m)
					}
					if answeredN < 50 {
						t.Errorf("only %d of %d requests were answered: the check proves little", answeredN, len(reqs))
					}
					t.Logf("%d requests, %d answered, %d of %d webhook calls sent by %s", len(reqs), answeredN, sentN, 2*len(reqs), narrowingCondition)
					if sentN == 2*len(reqs) {
						t.Errorf("%s sends every request: it narrows nothing", narrowingCondition)
					}
				})
			}
		})
	}
}

// The check finds a condition that leaves out what policies answer.
func TestNarrowingCheckCatchesAMissingKind(t *testing.T) {
	reqs, reverts := narrowingRequests(t)
	missed, _, _ := checkSends(t, sendersFor(t, "--set-json", `webhook.narrowing.kinds={"CREATE":["Pod"],"UPDATE":["Pod"],"DELETE":["Pod"]}`), reqs, reverts)
	if len(missed) == 0 {
		t.Fatal("a condition that lists no Deployment, Secret, ConfigMap or Namespace passed the check")
	}
	t.Logf("%d answered requests not sent, e.g. %s", len(missed), missed[0])
}

// webhook.narrowing.kinds are the kinds the bundled policies' METADATA
// declares, per operation.
func TestNarrowingKindsAreThePolicies(t *testing.T) {
	st, err := loader.Load(context.Background(), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, p := range st.Policies.Policies {
		if slices.Contains(p.Kinds, "*") {
			continue
		}
		ops := p.Operations
		if slices.Contains(ops, "*") || len(ops) == 0 {
			ops = []string{"CREATE", "UPDATE", "DELETE"}
		}
		for _, op := range ops {
			want[op] = append(want[op], p.Kinds...)
		}
	}
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "driftguard", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Webhook struct {
			Narrowing struct {
				Kinds map[string][]string `json:"kinds"`
			} `json:"narrowing"`
		} `json:"webhook"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"CREATE", "UPDATE", "DELETE"} {
		w := uniqSorted(want[op])
		got := uniqSorted(v.Webhook.Narrowing.Kinds[op])
		if !slices.Equal(got, w) {
			t.Errorf("webhook.narrowing.kinds.%s = %v, the bundled policies declare %v", op, got, w)
		}
	}
}

func uniqSorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return slices.Compact(out)
}

// Every row of deprecated_apis' builtin table is sent on CREATE, by the
// chart's condition and the Go-generated one, and the policy warns about
// it.
func TestNarrowingSendsDeprecatedVersions(t *testing.T) {
	ctx := context.Background()
	v, _ := narrowingExpressions(t, "--set", "webhook.narrowing.enabled=true")
	st, err := loader.Load(ctx, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	conditions := map[string]sender{"chart": newSender(t, v), "go": newSender(t, goConditions(t, st).Validate)}
	srcs, err := loader.Sources(loader.Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	opts := []func(*rego.Rego){rego.Query("data.driftguard.policies.deprecated_apis.builtin")}
	for _, src := range srcs {
		opts = append(opts, rego.Module(src.Name, src.Text))
	}
	rs, err := rego.New(opts...).Eval(ctx)
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		t.Fatalf("reading deprecated_apis.builtin: %v %v", rs, err)
	}
	table, _ := rs[0].Expressions[0].Value.(map[string]any)
	if len(table) < 10 {
		t.Fatalf("deprecated_apis.builtin has %d versions", len(table))
	}
	for gv, rows := range table {
		for _, row := range rows.([]any) {
			r := row.(map[string]any)
			gvk := metav1.GroupVersionKind{Group: r["group"].(string), Version: r["version"].(string), Kind: r["kind"].(string)}
			if gvk.Kind == "*" {
				gvk.Kind = "Widget"
			}
			apiVersion := gv
			obj := fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{"name":"x","namespace":"tenant-a"}}`, apiVersion, gvk.Kind)
			req := &admissionv1.AdmissionRequest{
				UID: "1", Kind: gvk, RequestKind: &gvk,
				Resource: metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(gvk.Kind) + "s"},
				Name:     "x", Namespace: "tenant-a", Operation: admissionv1.Create,
				UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"devs", "system:authenticated"}},
				Object:   runtime.RawExtension{Raw: []byte(obj)},
			}
			a, _, err := answer.Evaluate(ctx, st, req, answer.Options{})
			if err != nil {
				t.Fatalf("%s %s: %v", gv, gvk.Kind, err)
			}
			if !slices.ContainsFunc(a.Verdicts, func(v answer.Verdict) bool { return v.Policy == "deprecated_apis" && v.Decision == "warn" }) {
				t.Errorf("%s %s: deprecated_apis does not warn (%s)", gv, gvk.Kind, answerText(a))
			}
			for name, s := range conditions {
				if sent, err := s.sends(req); err != nil || !sent {
					t.Errorf("%s: CREATE %s %s is not sent (error %v)", name, gv, gvk.Kind, err)
				}
			}
		}
	}
}

// Config strings become CEL string literals: a quote or backslash in one
// (a break-glass group, a manager name) must neither break the expression
// nor end the literal.
func TestNarrowingQuotesConfigStrings(t *testing.T) {
	v, m := narrowingExpressions(t, "--set", "webhook.narrowing.enabled=true",
		"--set-json", `config.breakGlass.groups=["it's", "a\\b"]`,
		"--set-json", `config.owners=[{"name":"ops","managers":["O'Brien","x\\*"],"identities":{"serviceAccounts":["ops/ops"]},"source":"s"}]`)
	newSender(t, v)
	s := newSender(t, m)
	req := &admissionv1.AdmissionRequest{
		UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Service"}, Operation: admissionv1.Create,
		Resource: metav1.GroupVersionResource{Version: "v1", Resource: "services"}, Name: "x", Namespace: "tenant-a",
		UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"it's"}},
		Object:   runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","namespace":"tenant-a"}}`)},
	}
	// a Service CREATE is sent to no entry, whoever makes it
	if sent, err := s.sends(req); err != nil || sent {
		t.Errorf("a Service CREATE by a member of group it's: sent %v, error %v", sent, err)
	}
	if !strings.Contains(m, `'it\'s'`) || !strings.Contains(m, `'a\\b'`) {
		t.Errorf("the groups are not quoted as CEL strings:\n%s", m)
	}
}
