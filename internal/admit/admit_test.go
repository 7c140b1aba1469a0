package admit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/metrics"
)

func repoRoot() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(f), "..", "..")
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "test", "fixtures", "reviews", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type env struct {
	engine   *admit.Engine
	metrics  *metrics.Metrics
	validate http.Handler
	mutate   http.Handler
}

func newEnv(t testing.TB, cfgYAML string) *env {
	t.Helper()
	opts := loader.Options{}
	if cfgYAML != "" {
		p := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(p, []byte(cfgYAML), 0o644); err != nil {
			t.Fatal(err)
		}
		opts.ConfigFile = p
	}
	return newEnvOpts(t, opts)
}

func newEnvOpts(t testing.TB, opts loader.Options) *env {
	t.Helper()
	st, err := loader.Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry())
	e := admit.NewEngine(st, m)
	e.Now = func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
	// every test and benchmark runs with the decision trail on, as serve does
	e.Trail = admit.NewTrail(logr.Discard(), m, 0, 0)
	return &env{
		engine: e, metrics: m,
		validate: admit.NewHTTPHandler("validate", &admit.Validator{Engine: e}, e, logr.Discard()),
		mutate:   admit.NewHTTPHandler("mutate", &admit.Mutator{Engine: e}, e, logr.Discard()),
	}
}

func post(h http.Handler, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func answer(t *testing.T, w *httptest.ResponseRecorder) *admissionv1.AdmissionResponse {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &rv); err != nil {
		t.Fatal(err)
	}
	if rv.APIVersion != "admission.k8s.io/v1" || rv.Kind != "AdmissionReview" || rv.Response == nil {
		t.Fatalf("not a v1 review answer: %s", w.Body.String())
	}
	return rv.Response
}

// review edits the 8 KB Deployment fixture: f changes the request.
func review(t testing.TB, f func(req map[string]any)) []byte {
	var rv map[string]any
	if err := json.Unmarshal(fixture(t, "deployment-update-8k.json"), &rv); err != nil {
		t.Fatal(err)
	}
	if f != nil {
		f(rv["request"].(map[string]any))
	}
	b, _ := json.Marshal(rv)
	return b
}

func setUser(req map[string]any, user string, groups ...string) {
	g := make([]any, len(groups))
	for i, x := range groups {
		g[i] = x
	}
	req["userInfo"] = map[string]any{"username": user, "groups": g}
}

func TestDenyHandEditOfTerraformImage(t *testing.T) {
	e := newEnv(t, "")
	resp := answer(t, post(e.validate, review(t, nil)))
	if resp.Allowed {
		t.Fatal("alice's image change of a Terraform-owned field was allowed")
	}
	if string(resp.UID) != "3f1c9b0e-5b7a-4d5e-8c1a-2f0e9d8c7b6a" {
		t.Fatalf("uid %q does not match the request", resp.UID)
	}
	for _, want := range []string{"spec.template.spec.containers[api].image", "Terraform", "Terraform module", "alice"} {
		if !strings.Contains(resp.Result.Message, want) {
			t.Errorf("denial %q does not mention %q", resp.Result.Message, want)
		}
	}
	if resp.Result.Code != http.StatusForbidden {
		t.Errorf("code %d, want 403", resp.Result.Code)
	}
	if got := testutil.ToFloat64(e.metrics.Decisions.WithLabelValues("owned_fields", "deny", "UPDATE", "Deployment", "false")); got != 1 {
		t.Errorf("deny counted %v times, want 1", got)
	}
}

func TestOwnerIdentityAndOtherPeople(t *testing.T) {
	e := newEnv(t, "")
	cases := []struct {
		name    string
		user    string
		groups  []string
		fm      string
		allowed bool
	}{
		{"terraform runner", "system:serviceaccount:infra:terraform", []string{"system:serviceaccounts"}, "Terraform", true},
		{"alice spoofing the field manager", "alice", []string{"devs"}, "Terraform", false},
		{"exempt node", "system:node:n1", []string{"system:nodes"}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := answer(t, post(e.validate, review(t, func(req map[string]any) {
				setUser(req, c.user, c.groups...)
				req["options"] = map[string]any{"fieldManager": c.fm}
			})))
			if resp.Allowed != c.allowed {
				t.Fatalf("allowed=%v, want %v: %+v", resp.Allowed, c.allowed, resp.Result)
			}
			if c.fm == "Terraform" && !c.allowed && !strings.Contains(resp.Result.Message, "--field-manager=Terraform") {
				t.Errorf("denial does not explain the spoofed field manager: %s", resp.Result.Message)
			}
		})
	}
}

func TestUnownedChangeAllowed(t *testing.T) {
	e := newEnv(t, "")
	resp := answer(t, post(e.validate, review(t, func(req map[string]any) {
		obj := req["object"].(map[string]any)
		old := req["oldObject"].(map[string]any)
		obj["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"] =
			old["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"]
		obj["spec"].(map[string]any)["minReadySeconds"] = 5 // nobody owns it
		tmeta := obj["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)
		tmeta["annotations"] = map[string]any{"kubectl.kubernetes.io/restartedAt": "2026-11-25T12:00:00Z"}
	})))
	if !resp.Allowed || len(resp.Warnings) != 0 {
		t.Fatalf("unowned change and rollout restart: allowed=%v warnings=%v result=%+v", resp.Allowed, resp.Warnings, resp.Result)
	}
}

func TestWarnModeAndBreakGlassStampDriftRecord(t *testing.T) {
	warnCfg := string(config.DefaultYAML()) + "\n" // appended override below
	warnCfg = strings.Replace(warnCfg, "  owned_fields:\n", "  owned_fields:\n    mode: warn\n", 1)
	if !strings.Contains(warnCfg, "mode: warn") {
		t.Fatal("could not switch owned_fields to warn mode in the default config")
	}
	cases := []struct {
		name, cfg, reason string
		breakGlass        bool
		decision          string
	}{
		{"warn mode", warnCfg, "warn mode", false, "warn"},
		{"break-glass", "", "break-glass: INC-42", true, "break_glass"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.cfg)
			body := review(t, func(req map[string]any) {
				if c.breakGlass {
					setUser(req, "alice", "devs", "driftguard:break-glass")
					md := req["object"].(map[string]any)["metadata"].(map[string]any)
					md["annotations"].(map[string]any)["driftguard.io/break-glass"] = "INC-42"
				}
			})
			resp := answer(t, post(e.validate, body))
			if !resp.Allowed {
				t.Fatalf("%s: denied: %s", c.name, resp.Result.Message)
			}
			// other bundled policies (e.g. version_label) may warn too
			ws := policyWarnings(resp.Warnings, "owned_fields")
			if len(ws) != 1 || !strings.Contains(ws[0], c.reason) || !strings.Contains(ws[0], "containers[api].image") {
				t.Fatalf("warnings %q do not name %q and the field", resp.Warnings, c.reason)
			}
			if got := testutil.ToFloat64(e.metrics.Decisions.WithLabelValues("owned_fields", c.decision, "UPDATE", "Deployment", "false")); got != 1 {
				t.Errorf("decision %s counted %v times", c.decision, got)
			}
			mresp := answer(t, post(e.mutate, body))
			if !mresp.Allowed || len(mresp.Warnings) != 0 {
				t.Fatalf("mutating answer allowed=%v warnings=%v", mresp.Allowed, mresp.Warnings)
			}
			var ops []map[string]any
			if err := json.Unmarshal(mresp.Patch, &ops); err != nil || len(ops) != 1 {
				t.Fatalf("patch %s: %v", mresp.Patch, err)
			}
			if ops[0]["path"] != "/metadata/annotations/driftguard.io~1drift" {
				t.Fatalf("patch path %v", ops[0]["path"])
			}
			rec := admit.ParseDriftRecord(ops[0]["value"].(string))
			if len(rec.Edits) != 1 || rec.Edits[0].By != "alice" || rec.Edits[0].Owner != "terraform" ||
				rec.Edits[0].Fields[0] != "spec.template.spec.containers[api].image" || rec.Edits[0].Reason != c.reason ||
				rec.Edits[0].At != "2026-11-25T12:00:00Z" {
				t.Fatalf("drift record %+v", rec)
			}
		})
	}
}

func TestBreakGlassWithoutGroupStaysDenied(t *testing.T) {
	e := newEnv(t, "")
	resp := answer(t, post(e.validate, review(t, func(req map[string]any) {
		md := req["object"].(map[string]any)["metadata"].(map[string]any)
		md["annotations"].(map[string]any)["driftguard.io/break-glass"] = "INC-42"
	})))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "not in a break-glass group") {
		t.Fatalf("allowed=%v message=%q", resp.Allowed, resp.Result.Message)
	}
}

func TestOwnerClearsDriftRecord(t *testing.T) {
	e := newEnv(t, "")
	rec := `{"edits":[{"by":"alice","at":"2026-11-24T10:00:00Z","owner":"terraform","fields":["spec.template.spec.containers[api].image"],"policy":"owned_fields","reason":"warn mode"}]}`
	body := review(t, func(req map[string]any) {
		setUser(req, "system:serviceaccount:infra:terraform", "system:serviceaccounts")
		for _, k := range []string{"object", "oldObject"} {
			md := req[k].(map[string]any)["metadata"].(map[string]any)
			md["annotations"].(map[string]any)["driftguard.io/drift"] = rec
		}
	})
	mresp := answer(t, post(e.mutate, body))
	var ops []map[string]any
	if err := json.Unmarshal(mresp.Patch, &ops); err != nil || len(ops) != 1 {
		t.Fatalf("patch %s: %v", mresp.Patch, err)
	}
	if ops[0]["op"] != "remove" || ops[0]["path"] != "/metadata/annotations/driftguard.io~1drift" {
		t.Fatalf("owner's write did not clear the record: %v", ops)
	}
}

func TestDryRunSameAnswerCountedAsDryRun(t *testing.T) {
	e := newEnv(t, "")
	resp := answer(t, post(e.validate, review(t, func(req map[string]any) { req["dryRun"] = true })))
	if resp.Allowed {
		t.Fatal("dry run allowed what a real request is denied")
	}
	if got := testutil.ToFloat64(e.metrics.Decisions.WithLabelValues("owned_fields", "deny", "UPDATE", "Deployment", "true")); got != 1 {
		t.Errorf("dry-run deny counted %v times with dry_run=true", got)
	}
}

func TestDryRunModeOnlyCounts(t *testing.T) {
	cfg := strings.Replace(string(config.DefaultYAML()), "  owned_fields:\n", "  owned_fields:\n    mode: dryrun\n", 1)
	e := newEnv(t, cfg)
	resp := answer(t, post(e.validate, review(t, nil)))
	if !resp.Allowed || len(policyWarnings(resp.Warnings, "owned_fields")) != 0 {
		t.Fatalf("dryrun mode answered allowed=%v warnings=%v", resp.Allowed, resp.Warnings)
	}
	if got := testutil.ToFloat64(e.metrics.Decisions.WithLabelValues("owned_fields", "dryrun", "UPDATE", "Deployment", "false")); got != 1 {
		t.Errorf("dryrun counted %v times", got)
	}
}

func TestBadRequestsGet4xxAndServerKeepsServing(t *testing.T) {
	e := newEnv(t, "")
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = ' '
	}
	cases := []struct {
		name, ct string
		body     []byte
		code     int
		reason   string
		want     string
	}{
		{"garbage", "application/json", []byte("{not json"), 400, "malformed", "not an AdmissionReview"},
		{"truncated", "application/json", review(t, nil)[:5000], 400, "malformed", "not an AdmissionReview"},
		{"empty", "application/json", nil, 400, "malformed", "empty"},
		{"v1beta1", "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1"}}`), 400, "api_version", "only admission.k8s.io/v1"},
		{"no apiVersion", "application/json", []byte(`{"request":{"uid":"1"}}`), 400, "api_version", "only admission.k8s.io/v1"},
		{"missing uid", "application/json", review(t, func(r map[string]any) { delete(r, "uid") }), 400, "missing_uid", "no uid"},
		{"no request", "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), 400, "malformed", "no request"},
		{"wrong content type", "text/plain", review(t, nil), 415, "content_type", "not application/json"},
		{"oversized", "application/json", big, 413, "too_large", "over the limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(c.body))
			r.Header.Set("Content-Type", c.ct)
			w := httptest.NewRecorder()
			e.validate.ServeHTTP(w, r)
			if w.Code != c.code || !strings.Contains(w.Body.String(), c.want) {
				t.Fatalf("HTTP %d %s, want %d containing %q", w.Code, w.Body.String(), c.code, c.want)
			}
			if got := testutil.ToFloat64(e.metrics.BadRequests.WithLabelValues("validate", c.reason)); got < 1 {
				t.Errorf("bad request reason %s not counted", c.reason)
			}
		})
	}
	// a non-JSON object inside a well-formed review is answered, not crashed on
	resp := answer(t, post(e.validate, []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":"not an object"}}`)))
	if resp.Allowed || resp.Result.Code != 400 || string(resp.UID) != "u1" {
		t.Fatalf("bad object: allowed=%v result=%+v uid=%s", resp.Allowed, resp.Result, resp.UID)
	}
	// and the server still answers a good review afterwards
	if resp := answer(t, post(e.validate, review(t, nil))); resp.Allowed {
		t.Fatal("good review after bad ones was not evaluated")
	}
}

func TestPolicyTimeoutFailsClosed(t *testing.T) {
	dir := t.TempDir()
	slow := `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.slow
deny contains "never" if {
	n := numbers.range(1, 100000000)
	count([x | some x in n; x < 0]) > 0
}
`
	if err := os.WriteFile(filepath.Join(dir, "slow.rego"), []byte(slow), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, fp := range []string{"deny", "allow"} {
		t.Run(fp, func(t *testing.T) {
			cfgPath := filepath.Join(t.TempDir(), "c.yaml")
			cfg := "evalTimeout: 200ms\nfailurePolicy: " + fp + "\n"
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			e := newEnvOpts(t, loader.Options{ConfigFile: cfgPath, PolicyDirs: []string{dir}, NoBundled: true})
			start := time.Now()
			resp := answer(t, post(e.validate, review(t, func(req map[string]any) { setUser(req, "system:serviceaccount:infra:terraform") })))
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("answer took %s despite a 200ms evaluation deadline", el)
			}
			if resp.Allowed != (fp == "allow") {
				t.Fatalf("failurePolicy %s: allowed=%v %+v", fp, resp.Allowed, resp.Result)
			}
			if got := testutil.ToFloat64(e.metrics.EvalErrors.WithLabelValues("slow", "timeout")); got != 1 {
				t.Errorf("timeout counted %v times", got)
			}
		})
	}
}

func TestDriftRecordIsKeptAgainstHandRemoval(t *testing.T) {
	e := newEnv(t, "")
	rec := `{"edits":[{"by":"alice","at":"2026-11-24T10:00:00Z","owner":"terraform","fields":["spec.template.spec.containers[api].image"],"policy":"owned_fields","reason":"warn mode"}]}`
	body := review(t, func(req map[string]any) {
		obj := req["object"].(map[string]any)
		old := req["oldObject"].(map[string]any)
		// only the annotation changes: alice removes the record
		obj["spec"] = old["spec"]
		old["metadata"].(map[string]any)["annotations"].(map[string]any)["driftguard.io/drift"] = rec
	})
	if resp := answer(t, post(e.validate, body)); !resp.Allowed {
		t.Fatalf("removing an annotation was denied: %s", resp.Result.Message)
	}
	mresp := answer(t, post(e.mutate, body))
	var ops []map[string]any
	if err := json.Unmarshal(mresp.Patch, &ops); err != nil || len(ops) != 1 {
		t.Fatalf("patch %s: %v", mresp.Patch, err)
	}
	if ops[0]["op"] != "add" || ops[0]["path"] != "/metadata/annotations/driftguard.io~1drift" ||
		admit.ParseDriftRecord(ops[0]["value"].(string)).Edits[0].By != "alice" {
		t.Fatalf("record not restored: %v", ops)
	}
}

// policyWarnings are the warnings of one policy.
func policyWarnings(ws []string, policy string) []string {
	var out []string
	for _, w := range ws {
		if strings.HasPrefix(w, "["+policy+"]") {
			out = append(out, w)
		}
	}
	return out
}

// The mutating webhook evaluates patch rules (and the deny rules whose
// denials it would record as hand edits), not warnings or enforced
// denials, which are the validating webhook's answer: a policy whose deny
// and warn rules fail at run time still patches, and only the validating
// webhook reports the failure.
func TestMutateEvaluatesOnlyWhatItAnswers(t *testing.T) {
	dir := t.TempDir()
	probe := `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.probe
v := 1 if input.request.name
v := 2 if input.request.name
deny contains "never" if v == 3
warn contains "never" if v == 3
patch contains {"op": "add", "path": "/metadata/labels/probe", "value": "yes"}
`
	if err := os.WriteFile(filepath.Join(dir, "probe.rego"), []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnvOpts(t, loader.Options{PolicyDirs: []string{dir}})
	body := review(t, nil)
	errs := func() float64 { return testutil.ToFloat64(e.metrics.EvalErrors.WithLabelValues("probe", "error")) }

	mresp := answer(t, post(e.mutate, body))
	if !strings.Contains(string(mresp.Patch), `"/metadata/labels/probe"`) {
		t.Errorf("mutating answer lacks the probe's patch: %s", mresp.Patch)
	}
	if n := errs(); n != 0 {
		t.Errorf("the mutating webhook evaluated the failing deny or warn rule (%v errors)", n)
	}
	answer(t, post(e.validate, body))
	if n := errs(); n != 1 {
		t.Errorf("the validating webhook counted %v errors of probe, want 1", n)
	}
}
