package admit_test

import (
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftguard/driftguard/internal/admit"
)

// CheckReview is the webhook's own check: every review it refuses, the
// HTTP handler answers with a 400 that carries the same message, and a
// well-formed review passes both.
func TestCheckReviewIsTheWebhooksCheck(t *testing.T) {
	e := newEnv(t, "")
	for _, c := range []struct {
		name string
		body []byte
		want string // "" = accepted
	}{
		{"well formed", review(t, nil), ""},
		{"v1beta1", []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1"}}`), "only admission.k8s.io/v1 AdmissionReview is served"},
		{"no request", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), "has no request"},
		{"no uid", review(t, func(r map[string]any) { delete(r, "uid") }), "has no uid"},
		{"no kind", review(t, func(r map[string]any) { delete(r, "kind") }), "needs kind and operation"},
		{"no operation", review(t, func(r map[string]any) { delete(r, "operation") }), "needs kind and operation"},
		{"unknown operation", review(t, func(r map[string]any) { r["operation"] = "PATCH" }), `operation "PATCH" is not an admission operation`},
		{"audit operation", review(t, func(r map[string]any) { r["operation"] = "AUDIT" }), `operation "AUDIT" is not an admission operation`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rv admissionv1.AdmissionReview
			if err := json.Unmarshal(c.body, &rv); err != nil {
				t.Fatal(err)
			}
			err := admit.CheckReview(&rv)
			w := post(e.validate, c.body)
			if c.want == "" {
				if err != nil || w.Code != 200 {
					t.Fatalf("CheckReview: %v; HTTP %d %s", err, w.Code, w.Body.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckReview: %v, want %q", err, c.want)
			}
			var st metav1.Status
			if jerr := json.Unmarshal(w.Body.Bytes(), &st); jerr != nil || w.Code != 400 || st.Message != err.Error() {
				t.Errorf("HTTP %d %s, want 400 with %q", w.Code, w.Body.String(), err.Error())
			}
		})
	}
	if err := admit.CheckReview(nil); err == nil {
		t.Error("no review accepted")
	}
}
