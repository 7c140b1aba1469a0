package admit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// cpuTime is the process's user+system CPU time. Benchmarks report it
// per operation ("cpu-µs/op") because wall time on a shared 2-core
// machine says little about the cost of one review.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}

// BenchmarkValidateDeploymentUpdate8K is the end-to-end cost of one
// validating review (HTTP body read, decode, enrichment, all bundled
// policies, encode) for an 8 KB Deployment UPDATE with its old object.
// Run: go test ./internal/admit -run '^$' -bench . -benchmem -cpu 1
func BenchmarkValidateDeploymentUpdate8K(b *testing.B) {
	e := newEnv(b, "")
	body := review(b, nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	serveLoop(b, e.validate, "/validate", body)
}

// BenchmarkMutateDeploymentUpdate8K is the same review through the
// mutating webhook.
func BenchmarkMutateDeploymentUpdate8K(b *testing.B) {
	e := newEnv(b, "")
	body := review(b, nil)
	b.ReportAllocs()
	serveLoop(b, e.mutate, "/mutate", body)
}

// BenchmarkDecide8K isolates enrichment and evaluation (no HTTP, no JSON
// of the review envelope).
func BenchmarkDecide8K(b *testing.B) {
	e := newEnv(b, "")
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(review(b, nil), &rv); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if _, err := e.engine.Decide(ctx, rv.Request); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorControllerRuntimeNoop is the floor: controller-runtime's
// own admission.Webhook ServeHTTP with a handler that allows everything,
// on the same review. driftguard's cost above it is policy work.
func BenchmarkFloorControllerRuntimeNoop(b *testing.B) {
	wh := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})}
	body := review(b, nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	serveLoop(b, wh, "/validate", body)
}

// serveLoop posts body to h once per iteration and reports CPU per op.
func serveLoop(b *testing.B, h http.Handler, path string, body []byte) {
	b.Helper()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Body.String())
		}
	}
}

// BenchmarkSkipping is one validating review of the 8 KB Deployment
// UPDATE, alice's denied image hand edit and Terraform's allowed replicas
// change, with the policies whose declared changes the UPDATE does not
// touch skipped (as served) and with every matching policy evaluated
// (Set.EvaluateAll), in one run so that the two can be compared.
// Run: go test ./internal/admit -run '^$' -bench Skipping -benchmem -cpu 1
func BenchmarkSkipping(b *testing.B) {
	terraform := func(req map[string]any) {
		old := req["oldObject"].(map[string]any)
		raw, _ := json.Marshal(old)
		var obj map[string]any
		_ = json.Unmarshal(raw, &obj)
		obj["spec"].(map[string]any)["replicas"] = 4.0
		req["object"] = obj
		setUser(req, "system:serviceaccount:infra:terraform", "system:serviceaccounts", "system:serviceaccounts:infra", "system:authenticated")
	}
	for _, rc := range []struct {
		name    string
		edit    func(map[string]any)
		allowed bool
	}{{"alice-image", nil, false}, {"terraform-replicas", terraform, true}} {
		for _, all := range []bool{false, true} {
			mode := "skipping"
			if all {
				mode = "evaluate-all"
			}
			b.Run(rc.name+"/"+mode, func(b *testing.B) {
				e := newEnv(b, "")
				e.engine.State().Policies.EvaluateAll = all
				body := review(b, rc.edit)
				var rv admissionv1.AdmissionReview
				if err := json.Unmarshal(body, &rv); err != nil {
					b.Fatal(err)
				}
				d, err := e.engine.Decide(context.Background(), rv.Request)
				if err != nil || d.Allowed != rc.allowed {
					b.Fatalf("allowed %v (%v), want %v", d != nil && d.Allowed, err, rc.allowed)
				}
				skipped := 0
				for _, v := range d.Verdicts {
					if v.Result.Skipped {
						skipped++
					}
				}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				serveLoop(b, e.validate, "/validate", body)
				b.ReportMetric(float64(len(d.Verdicts)-skipped), "policies")
			})
		}
	}
}
