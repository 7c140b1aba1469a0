package answer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/driftguard/driftguard/internal/answer"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
)

func request(t *testing.T) *admissionv1.AdmissionRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "test", "fixtures", "reviews", "set-image-alice.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &rv); err != nil {
		t.Fatal(err)
	}
	return rv.Request
}

// The answer is the validating handler's (allowed, message), each
// matching policy's verdict is the engine's, and the patch is the
// mutating handler's, stamped with the given clock.
func TestEvaluate(t *testing.T) {
	ctx := context.Background()
	st, err := loader.Load(ctx, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, d, err := answer.Evaluate(ctx, st, request(t), answer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Allowed || !strings.HasPrefix(a.Message, "driftguard: ") || !strings.Contains(a.Message, "is owned by Terraform") || d == nil {
		t.Errorf("enforce: allowed=%v message %q", a.Allowed, a.Message)
	}
	verdict := func(a *answer.Answer, name string) answer.Verdict {
		for _, v := range a.Verdicts {
			if v.Policy == name {
				return v
			}
		}
		t.Fatalf("no verdict of %s in %+v", name, a.Verdicts)
		return answer.Verdict{}
	}
	if v := verdict(a, "owned_fields"); v.Decision != "deny" || v.Mode != "enforce" || len(v.Deny) == 0 {
		t.Errorf("owned_fields verdict %+v", v)
	}
	if len(a.Patch) != 0 {
		t.Errorf("patch without Mutate: %+v", a.Patch)
	}

	cfg, err := config.Parse(bytes.Replace(config.DefaultYAML(), []byte("\ndefaultMode: enforce\n"), []byte("\ndefaultMode: warn\n"), 1))
	if err != nil {
		t.Fatal(err)
	}
	warn, err := loader.Load(ctx, loader.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	a, _, err = answer.Evaluate(ctx, warn, request(t), answer.Options{Mutate: true, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Allowed || len(a.Warnings) == 0 || verdict(a, "owned_fields").Decision != "warn" {
		t.Errorf("warn: allowed=%v warnings=%v", a.Allowed, a.Warnings)
	}
	pb, _ := json.Marshal(a.Patch)
	if !strings.Contains(string(pb), "driftguard.io") || !strings.Contains(string(pb), "2026-11-25T12:00:00Z") {
		t.Errorf("drift record patch %s", pb)
	}
}

// A review whose object is not an object is bad input, not an answer.
func TestEvaluateBadInput(t *testing.T) {
	ctx := context.Background()
	st, err := loader.Load(ctx, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := request(t)
	req.Object = runtime.RawExtension{Raw: []byte(`"not an object"`)}
	a, _, err := answer.Evaluate(ctx, st, req, answer.Options{})
	if err == nil || !answer.IsBadInput(err) || a.Error == "" {
		t.Fatalf("err %v, answer %+v", err, a)
	}
}
