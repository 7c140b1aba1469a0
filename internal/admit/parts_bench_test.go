package admit_test

import (
	"context"
	"encoding/json"
	"testing"

	gojson "github.com/goccy/go-json"
	"github.com/open-policy-agent/opa/v1/ast"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/input"
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
		st.Policies.AdmitAll(context.Background(), "Deployment", "UPDATE", ast.LazyObject(in.Doc))
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
