package answer

import (
	"context"
	"errors"
	"fmt"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/policy"
)

// Answer is what the webhook answers a request, and which policy said what.
type Answer struct {
	Allowed  bool     `json:"allowed"`
	Message  string   `json:"message,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Patch is the mutating webhook's JSON patch.
	Patch []PatchOp `json:"patch,omitempty"`
	// Verdicts are the policies that matched the request.
	Verdicts []Verdict `json:"verdicts,omitempty"`
	// Exempt is why the request was not evaluated.
	Exempt string `json:"exempt,omitempty"`
	// Notes are enrichment problems (never fatal).
	Notes []string `json:"notes,omitempty"`
	// Error is set when the review could not be evaluated at all.
	Error string `json:"error,omitempty"`
	// kind of the request, for Redacted
	kind string
}

// PatchOp is one JSON patch operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Verdict is one policy's contribution.
type Verdict struct {
	Policy   string           `json:"policy"`
	Mode     string           `json:"mode"`
	Decision string           `json:"decision"`
	Deny     []policy.Finding `json:"deny,omitempty"`
	Warn     []policy.Finding `json:"warn,omitempty"`
	Patch    []map[string]any `json:"patch,omitempty"`
	Error    string           `json:"error,omitempty"`
}

// Options tune Evaluate.
type Options struct {
	// Mutate also runs the mutating webhook (its JSON patch).
	Mutate bool
	// Now is the clock of drift records and break-glass expiries (default time.Now).
	Now func() time.Time
}

// Evaluate answers a request through the webhook's own code: the engine's
// decision (for the verdicts), the validating handler (allowed, message,
// warnings) and, with Mutate, the mutating handler (patch). The
// managedFields cache is off, so reused uids and resourceVersions in
// fixtures cannot leak ownership between requests. The returned decision
// carries the enriched input; a *admit.BadInputError means the review
// itself is unusable.
func Evaluate(ctx context.Context, st *admit.State, req *admissionv1.AdmissionRequest, o Options) (*Answer, *admit.Decision, error) {
	fresh := *st
	fresh.Builder = st.Builder.WithoutCache()
	e := admit.NewEngine(&fresh, nil)
	if o.Now != nil {
		e.Now = o.Now
		fresh.Builder = fresh.Builder.WithClock(o.Now)
	}
	d, err := e.Decide(ctx, req)
	if err != nil {
		return &Answer{Error: err.Error(), kind: req.Kind.Kind}, nil, err
	}
	a := &Answer{Exempt: d.Input.Exempt, Notes: d.Input.Notes, kind: req.Kind.Kind}
	for _, v := range d.Verdicts {
		vv := Verdict{Policy: v.Policy, Mode: string(v.Mode), Decision: v.Decision, Deny: v.Result.Deny, Warn: v.Result.Warn, Patch: v.Result.Patch}
		if v.Result.Err != nil {
			vv.Error = v.Result.Err.Error()
		}
		a.Verdicts = append(a.Verdicts, vv)
	}
	areq := admission.Request{AdmissionRequest: *req}
	vr := (&admit.Validator{Engine: e}).Handle(ctx, areq)
	a.Allowed = vr.Allowed
	a.Warnings = vr.Warnings
	if vr.Result != nil {
		a.Message = vr.Result.Message
		if !vr.Allowed && vr.Result.Code != 403 {
			a.Error = fmt.Sprintf("HTTP %d: %s", vr.Result.Code, vr.Result.Message)
		}
	}
	if o.Mutate {
		mr := (&admit.Mutator{Engine: e}).Handle(ctx, areq)
		if !mr.Allowed && mr.Result != nil {
			return a, d, fmt.Errorf("mutating webhook: HTTP %d: %s", mr.Result.Code, mr.Result.Message)
		}
		for _, p := range mr.Patches {
			a.Patch = append(a.Patch, PatchOp{Op: p.Operation, Path: p.Path, Value: p.Value})
		}
	}
	return a, d, nil
}

// IsBadInput reports whether err means the review itself is unusable.
func IsBadInput(err error) bool {
	var bad *admit.BadInputError
	return errors.As(err, &bad)
}
