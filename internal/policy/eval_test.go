package policy

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Three policies matching Deployment UPDATE: one denies, one warns and
// patches, one fails at run time when input.boom is set (its complete
// rule value gets two values: a conflict error).
var combinedSources = []Source{
	{Name: "a.rego", Text: `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.a
deny contains {"msg": sprintf("a denies %s", [input.request.name]), "field": "spec.replicas"} if input.request.name != "ok"
`},
	{Name: "b.rego", Text: `# METADATA
# custom:
#   kinds: ["*"]
#   operations: [UPDATE, CREATE]
package driftguard.policies.b
warn contains "b warns"
patch contains {"op": "add", "path": "/metadata/labels/b", "value": "x"}
`},
	{Name: "c.rego", Text: `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.c
value := 1 if input.boom
value := 2 if input.boom
deny contains "c denies" if value == 3
`},
}

func compileCombined(t *testing.T) *Set {
	t.Helper()
	s, err := Compile(context.Background(), combinedSources, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func in(name string, boom bool) ast.Value {
	doc := map[string]any{"request": map[string]any{"name": name}}
	if boom {
		doc["boom"] = true
	}
	return ast.LazyObject(doc)
}

// AdmitAll in one evaluation answers exactly what each policy answers alone.
func TestAdmitAllEqualsPerPolicy(t *testing.T) {
	s := compileCombined(t)
	if len(s.combined) != 0 {
		t.Fatalf("combined queries prepared before any request: %v", s.combined)
	}
	if s.combinedFor(context.Background(), s.matching("Deployment", "UPDATE")) == nil {
		t.Fatal("no combined query was prepared for Deployment/UPDATE")
	}
	for _, name := range []string{"api", "ok"} {
		got := s.AdmitAll(context.Background(), "Deployment", "UPDATE", in(name, false), nil)
		var want []Result
		for _, p := range s.Matching("Deployment", "UPDATE") {
			want = append(want, p.Admit(context.Background(), in(name, false)))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: combined %+v, per policy %+v", name, got, want)
		}
	}
	got := s.AdmitAll(context.Background(), "Deployment", "UPDATE", in("api", false), nil)
	if len(got) != 3 || len(got[0].Deny) != 1 || got[0].Deny[0].Msg != "a denies api" || len(got[1].Warn) != 1 || len(got[1].Patch) != 1 {
		t.Errorf("unexpected results %+v", got)
	}
	// A kind only the wildcard policy matches.
	if got := s.AdmitAll(context.Background(), "Pod", "CREATE", in("x", false), nil); len(got) != 1 || got[0].Policy != "b" {
		t.Errorf("Pod CREATE: %+v", got)
	}
	if got := s.AdmitAll(context.Background(), "Pod", "DELETE", in("x", false), nil); len(got) != 0 {
		t.Errorf("Pod DELETE: %+v", got)
	}
}

// A policy's run-time error is put on that policy; the others still answer.
func TestAdmitAllErrorStaysWithItsPolicy(t *testing.T) {
	s := compileCombined(t)
	got := s.AdmitAll(context.Background(), "Deployment", "UPDATE", in("api", true), nil)
	if len(got) != 3 {
		t.Fatalf("results %+v", got)
	}
	byName := map[string]Result{}
	for _, r := range got {
		byName[r.Policy] = r
	}
	if byName["c"].Err == nil || !strings.Contains(byName["c"].Err.Error(), "policy c") {
		t.Errorf("c: want its conflict error, got %+v", byName["c"])
	}
	if byName["a"].Err != nil || len(byName["a"].Deny) != 1 {
		t.Errorf("a: %+v", byName["a"])
	}
	if byName["b"].Err != nil || len(byName["b"].Warn) != 1 {
		t.Errorf("b: %+v", byName["b"])
	}
}

// Out of time: every policy reports the deadline, none is evaluated again.
func TestAdmitAllDeadline(t *testing.T) {
	s := compileCombined(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	got := s.AdmitAll(ctx, "Deployment", "UPDATE", in("api", false), nil)
	if len(got) != 3 {
		t.Fatalf("results %+v", got)
	}
	for _, r := range got {
		if r.Err == nil || !errors.Is(r.Err, context.DeadlineExceeded) && !strings.Contains(r.Err.Error(), "cancel") && !strings.Contains(r.Err.Error(), "deadline") {
			t.Errorf("%s: want a deadline error, got %v", r.Policy, r.Err)
		}
	}
}

// AdmitSelected evaluates only the chosen rules: unchosen rules neither
// answer nor fail, and a policy with no chosen rule has no result.
func TestAdmitSelected(t *testing.T) {
	s := compileCombined(t)
	ctx := context.Background()
	pick := func(m map[string][]string) func(*Policy) []string {
		return func(p *Policy) []string { return m[p.Name] }
	}
	byName := func(rs []Result) map[string]Result {
		out := map[string]Result{}
		for _, r := range rs {
			out[r.Policy] = r
		}
		return out
	}

	// c, which fails on this input, is not chosen: one combined evaluation
	// without it, no error.
	got := byName(s.AdmitSelected(ctx, "Deployment", "UPDATE", in("api", true), nil, pick(map[string][]string{"a": {"deny"}, "b": {"patch"}})))
	if len(got) != 2 {
		t.Fatalf("want a and b only, got %+v", got)
	}
	if r := got["a"]; r.Err != nil || len(r.Deny) != 1 || r.Deny[0].Msg != "a denies api" {
		t.Errorf("a: %+v", r)
	}
	if r := got["b"]; r.Err != nil || len(r.Patch) != 1 || len(r.Warn) != 0 {
		t.Errorf("b: want its patch and no warning, got %+v", r)
	}

	// c chosen: the combined evaluation fails, the policies are evaluated
	// one by one, and each result keeps only what was chosen.
	got = byName(s.AdmitSelected(ctx, "Deployment", "UPDATE", in("api", true), nil, pick(map[string][]string{"a": {"deny"}, "b": {"warn"}, "c": {"deny"}})))
	if r := got["c"]; r.Err == nil {
		t.Errorf("c: want its conflict error, got %+v", r)
	}
	if r := got["b"]; r.Err != nil || len(r.Warn) != 1 || len(r.Patch) != 0 {
		t.Errorf("b after the per-policy fallback: want the warning only, got %+v", r)
	}
	if r := got["a"]; r.Err != nil || len(r.Deny) != 1 {
		t.Errorf("a after the per-policy fallback: %+v", r)
	}

	// Rules a policy does not define do not select it; nothing chosen,
	// nothing evaluated.
	if got := s.AdmitSelected(ctx, "Deployment", "UPDATE", in("api", false), nil, pick(map[string][]string{"a": {"warn", "patch"}})); len(got) != 0 {
		t.Errorf("a has no warn or patch rule, got %+v", got)
	}

	// Each selection has its own combined query; AdmitAll's is not reused
	// for a selection.
	s.AdmitAll(ctx, "Deployment", "UPDATE", in("api", false), nil)
	got = byName(s.AdmitSelected(ctx, "Deployment", "UPDATE", in("api", false), nil, pick(map[string][]string{"b": {"warn"}, "a": {"deny"}})))
	if r := got["b"]; len(r.Warn) != 1 || len(r.Patch) != 0 {
		t.Errorf("b: %+v", r)
	}
	if n := len(s.combined); n != 4 {
		t.Errorf("%d combined queries prepared, want 4 (three selections and AdmitAll's)", n)
	}
}
