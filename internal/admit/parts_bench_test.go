package admit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"
	"github.com/open-policy-agent/opa/v1/ast"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/input"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/policy"
)

func BenchmarkPartDecodeOne(b *testing.B) {
	var rv admissionv1.AdmissionReview
	json.Unmarshal(review(b, nil), &rv)
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		var m map[string]any
		gojson.Unmarshal(rv.Request.OldObject.Raw, &m)
	}
}

func BenchmarkPartManaged(b *testing.B) {
	var rv admissionv1.AdmissionReview
	json.Unmarshal(review(b, nil), &rv)
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		input.ParseManagedFields(rv.Request.OldObject.Raw)
	}
}

func BenchmarkPartDiff(b *testing.B) {
	var rv admissionv1.AdmissionReview
	json.Unmarshal(review(b, nil), &rv)
	var o, n map[string]any
	gojson.Unmarshal(rv.Request.OldObject.Raw, &o)
	gojson.Unmarshal(rv.Request.Object.Raw, &n)
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		input.Diff(o, n)
	}
}

func BenchmarkPartBuild(b *testing.B) {
	e := newEnv(b, "")
	var rv admissionv1.AdmissionReview
	json.Unmarshal(review(b, nil), &rv)
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		e.engine.State().Builder.Build(context.Background(), rv.Request)
	}
}

// builtInput is the policy input of the 8 KB review with the state that built it.
func builtInput(b *testing.B) (*admit.State, *input.Input) {
	e := newEnv(b, "")
	var rv admissionv1.AdmissionReview
	json.Unmarshal(review(b, nil), &rv)
	st := e.engine.State()
	in, err := st.Builder.Build(context.Background(), rv.Request)
	if err != nil {
		b.Fatal(err)
	}
	return st, in
}

func BenchmarkPartEval(b *testing.B) {
	st, in := builtInput(b)
	ps := st.Policies.Matching("Deployment", "UPDATE")
	for _, p := range ps {
		b.Run(p.Name, func(b *testing.B) {
			defer reportCPU(b, cpuTime())
			for b.Loop() {
				p.Admit(context.Background(), ast.LazyObject(in.Doc))
			}
		})
	}
}

func BenchmarkPartConvertContainers(b *testing.B) {
	var rv admissionv1.AdmissionReview
	json.Unmarshal(review(b, nil), &rv)
	var n map[string]any
	gojson.Unmarshal(rv.Request.Object.Raw, &n)
	cs := n["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"]
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		ast.MustInterfaceToValue(cs)
	}
}

func BenchmarkPartEvalAll(b *testing.B) {
	st, in := builtInput(b)
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		st.Policies.AdmitAll(context.Background(), "Deployment", "UPDATE", ast.LazyObject(in.Doc), nil)
	}
}

// BenchmarkPartEvalEach evaluates the same policies one query each, on one
// shared input (how requests were evaluated before AdmitAll): compare with
// BenchmarkPartEvalAll in the same run.
func BenchmarkPartEvalEach(b *testing.B) {
	st, in := builtInput(b)
	ps := st.Policies.Matching("Deployment", "UPDATE")
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		val := ast.LazyObject(in.Doc)
		for _, p := range ps {
			p.Admit(context.Background(), val)
		}
	}
}

// BenchmarkStackLowerBound measures what driftguard, built on the chosen
// stack, pays for this review before it checks anything: decoding object
// and oldObject into the maps Rego reads (input.DecodeObject: goccy/go-json,
// managedFields left raw), the diff that issue 2 requires as
// input.changes, and one AdmitAll of nine policies — as many as match this
// review among the bundled ones — that each test one input field and
// decide nothing. No managedFields, owners or actor. Compare "all" with
// BenchmarkDecide8K (and the 150 µs target) in the same run.
func BenchmarkStackLowerBound(b *testing.B) {
	var rv admissionv1.AdmissionReview
	json.Unmarshal(review(b, nil), &rv)
	var srcs []policy.Source
	for i := range 9 {
		srcs = append(srcs, policy.Source{Name: fmt.Sprintf("empty%d.rego", i), Text: fmt.Sprintf(`# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.empty%d

deny contains {"field": "", "msg": "never"} if input.request.operation == "DELETE"
`, i)})
	}
	set, err := policy.Compile(context.Background(), srcs, nil)
	if err != nil {
		b.Fatal(err)
	}
	if n := len(set.Matching("Deployment", "UPDATE")); n != 9 {
		b.Fatalf("%d policies match, want 9", n)
	}
	req := map[string]any{"operation": "UPDATE", "kind": map[string]any{"kind": "Deployment"}}
	decode := func() (obj, old map[string]any) {
		obj, _, err1 := input.DecodeObject(rv.Request.Object.Raw)
		old, _, err2 := input.DecodeObject(rv.Request.OldObject.Raw)
		if err1 != nil || err2 != nil || obj == nil || old == nil {
			b.Fatal(err1, err2)
		}
		return obj, old
	}
	diff := func(obj, old map[string]any) []input.Change {
		cs := input.Diff(old, obj)
		if len(cs) != 1 {
			b.Fatalf("%d changes, want the image", len(cs))
		}
		return cs
	}
	eval := func(doc map[string]any) {
		for _, r := range set.AdmitAll(context.Background(), "Deployment", "UPDATE", ast.LazyObject(doc), nil) {
			if r.Err != nil || len(r.Deny) != 0 {
				b.Fatalf("%s: %v %v", r.Policy, r.Err, r.Deny)
			}
		}
	}
	obj, old := decode()
	b.Run("decode-object", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			input.DecodeObject(rv.Request.Object.Raw)
		}
	})
	b.Run("decode-oldObject", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			input.DecodeObject(rv.Request.OldObject.Raw)
		}
	})
	b.Run("diff", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			diff(obj, old)
		}
	})
	b.Run("eval-nine-empty", func(b *testing.B) {
		doc := map[string]any{"request": req, "object": obj, "oldObject": old}
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			eval(doc)
		}
	})
	b.Run("all", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			obj, old := decode()
			cs := diff(obj, old)
			eval(map[string]any{"request": req, "object": obj, "oldObject": old, "changes": cs})
		}
	})
}

// BenchmarkPartEvalMarginal is what each policy adds to the one
// evaluation of alice's image edit (as served: skipping on, the review's
// changes): AdmitAll of the bundled set, then of the set without one
// policy at a time. The difference to "all" is that policy's cost in the
// combined query, where helpers it shares with others are paid once.
func BenchmarkPartEvalMarginal(b *testing.B) {
	_, in := builtInput(b)
	src, err := loader.Sources(loader.Options{}, false)
	if err != nil {
		b.Fatal(err)
	}
	ch := &policy.Changes{}
	for _, c := range in.Changes {
		ch.Paths = append(ch.Paths, c.FieldPath())
	}
	for _, drop := range []string{"", "deprecated_apis", "mutable_tags", "owned_fields", "revert_warning", "version_label", "version_matrix"} {
		var keep []policy.Source
		for _, s := range src {
			if drop == "" || !strings.HasSuffix(s.Name, drop+".rego") {
				keep = append(keep, s)
			}
		}
		if drop != "" && len(keep) != len(src)-1 {
			b.Fatalf("%d files named %s.rego", len(src)-len(keep), drop)
		}
		set, err := policy.Compile(context.Background(), keep, nil)
		if err != nil {
			b.Fatal(err)
		}
		name := "all"
		if drop != "" {
			name = "without-" + drop
		}
		b.Run(name, func(b *testing.B) {
			defer reportCPU(b, cpuTime())
			for b.Loop() {
				set.AdmitAll(context.Background(), "Deployment", "UPDATE", ast.LazyObject(in.Doc), ch)
			}
		})
	}
}
