package admit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
	"github.com/driftguard/driftguard/internal/metrics"
	"github.com/driftguard/driftguard/internal/policy"
)

// State is one consistent configuration: config, the input builder made
// from it, and the compiled policies. It is swapped whole on reload.
type State struct {
	Config   *config.Config
	Builder  *input.Builder
	Policies *policy.Set
}

// Engine holds the serving State and evaluates requests against it.
type Engine struct {
	state   atomic.Pointer[State]
	Metrics *metrics.Metrics
	// Now is the clock for drift records (tests replace it).
	Now func() time.Time
	// Budget bounds the review bytes worked on at once (nil: unbounded).
	Budget *Budget
	// Trail logs the validating webhook's non-allow decisions and sends
	// their Events (nil: none).
	Trail *Trail
}

// NewEngine returns an engine serving st.
func NewEngine(st *State, m *metrics.Metrics) *Engine {
	e := &Engine{Metrics: m, Now: time.Now}
	e.state.Store(st)
	return e
}

// State returns the serving state.
func (e *Engine) State() *State { return e.state.Load() }

// Swap replaces the serving state (hot reload).
func (e *Engine) Swap(st *State) { e.state.Store(st) }

// Verdict is one policy's contribution to an answer.
type Verdict struct {
	Policy   string
	Mode     config.Mode
	Decision string // allow, deny, warn, break_glass, dryrun, error
	Result   policy.Result
}

// Decision is the combined answer to one request.
type Decision struct {
	Input    *input.Input
	Allowed  bool
	Denials  []string
	Warnings []string
	Patches  []map[string]any
	Verdicts []Verdict
	// HandEdits are owned fields changed by hand and allowed anyway
	// (warn mode or break-glass): the mutating webhook records them.
	HandEdits []HandEdit
	// BreakGlassHint tells a denied member of a break-glass group how to
	// use it (or why the reason on the object did not count).
	BreakGlassHint string
	// Unreviewed is why the request was answered without (full)
	// evaluation, one of the Reason constants ("" when it was evaluated).
	Unreviewed string
}

// HandEdit is an allowed change of an owned field.
type HandEdit struct {
	Policy string
	Field  string
	Owner  string
	Reason string
}

// BadInputError marks a review that cannot be evaluated at all.
type BadInputError struct{ Err error }

func (e *BadInputError) Error() string { return e.Err.Error() }
func (e *BadInputError) Unwrap() error { return e.Err }

// Decide evaluates a request against the serving state.
func (e *Engine) Decide(ctx context.Context, req *admissionv1.AdmissionRequest) (*Decision, error) {
	st := e.state.Load()
	return e.decide(ctx, st, req)
}

// decideMutate is Decide for the mutating webhook, which answers with
// patches and drift records only: it evaluates the patch rules of
// enforce-mode policies and the deny rules whose denials would be allowed
// and recorded as hand edits (warn mode, break-glass), nothing else.
// Warnings and enforced denials are the validating webhook's answer, so
// evaluating them here would double the policy work of every write.
func (e *Engine) decideMutate(ctx context.Context, req *admissionv1.AdmissionRequest) (*Decision, error) {
	return e.decideRules(ctx, e.state.Load(), req, true)
}

func (e *Engine) decide(ctx context.Context, st *State, req *admissionv1.AdmissionRequest) (*Decision, error) {
	return e.decideRules(ctx, st, req, false)
}

func (e *Engine) decideRules(ctx context.Context, st *State, req *admissionv1.AdmissionRequest, mutate bool) (*Decision, error) {
	if mutate && input.IsScale(req) {
		return mutateScale(req), nil
	}
	in, err := st.Builder.Build(ctx, req)
	if err != nil {
		if reason, ok := unreviewedReason(err); ok {
			webhook := "validate"
			if mutate {
				webhook = "mutate"
			}
			return e.Unreviewed(webhook, st, req, reason, unreviewedDetail(st.Config, reason, err)), nil
		}
		return nil, &BadInputError{err}
	}
	d := &Decision{Input: in, Allowed: true}
	if in.Exempt != "" {
		return d, nil
	}
	if len(in.Errors) > 0 && e.unjudgeable(st, d, mutate) {
		return d, nil
	}
	// Converted lazily: policies pay only for the parts of the object they read.
	val := ast.LazyObject(in.Doc)
	cfg := st.Config
	ctx, cancel := context.WithTimeout(policy.WithRequestDeadline(ctx), cfg.EvalTimeout.Duration)
	defer cancel()
	kind, op := req.Kind.Kind, string(req.Operation)
	ch := changesOf(in)
	var results []policy.Result
	if mutate {
		results = st.Policies.AdmitSelected(ctx, kind, op, val, ch, func(p *policy.Policy) []string {
			switch cfg.ModeFor(p.Name) {
			case config.ModeDryRun:
				return nil
			case config.ModeWarn:
				return []string{"deny"}
			}
			if in.Actor.BreakGlass {
				return []string{"deny", "patch"}
			}
			return []string{"patch"}
		})
	} else {
		results = st.Policies.AdmitAll(ctx, kind, op, val, ch)
	}
	for _, r := range results {
		v := Verdict{Policy: r.Policy, Mode: cfg.ModeFor(r.Policy), Result: r}
		e.apply(cfg, d, &v)
		d.Verdicts = append(d.Verdicts, v)
	}
	if !mutate {
		scaleDriftNote(d)
	}
	d.Allowed = len(d.Denials) == 0
	if !d.Allowed && slices.ContainsFunc(d.Verdicts, func(v Verdict) bool { return v.Decision == "deny" }) {
		d.BreakGlassHint = st.Builder.BreakGlassHint(in.Actor)
	}
	return d, nil
}

// changesOf is what an UPDATE changes, for the policies that declare the
// changes they react to (nil, so that every policy is evaluated, for
// other operations and when a change has no structured path: an owner's
// managedFields entry dropped).
func changesOf(in *input.Input) *policy.Changes {
	if in.Request.Operation != admissionv1.Update {
		return nil
	}
	ch := &policy.Changes{Paths: make([]fieldpath.Path, 0, len(in.Changes))}
	for _, c := range in.Changes {
		fp := c.FieldPath()
		if fp == nil {
			return nil
		}
		ch.Paths = append(ch.Paths, fp)
	}
	return ch
}

// unjudgeable answers a request whose input has errors (internal/input
// InputError: e.g. unparseable managedFields) per failurePolicy (see
// unjudged); when that allows it, the policies are evaluated as usual. It
// reports whether the answer is final. Each error is counted in
// driftguard_admission_unreviewed_total. The mutating webhook only
// counts: it never denies, and records nothing on an object it cannot
// judge (see patches).
func (e *Engine) unjudgeable(st *State, d *Decision, mutate bool) bool {
	webhook := "validate"
	if mutate {
		webhook = "mutate"
	}
	for _, ie := range d.Input.Errors {
		e.countUnreviewed(webhook, ie.Reason)
		if d.Unreviewed == "" {
			d.Unreviewed = ie.Reason
		}
		if !mutate {
			unjudged(st, d, ie.Message)
		}
	}
	return mutate || !d.Allowed
}

// apply folds one policy's result into the decision according to its mode.
func (e *Engine) apply(cfg *config.Config, d *Decision, v *Verdict) {
	r := v.Result
	actor := d.Input.Actor
	if r.Err != nil {
		v.Decision = "error"
		reason := "error"
		if errors.Is(r.Err, context.DeadlineExceeded) || topdown.IsCancel(r.Err) {
			reason = "timeout"
		}
		if e.Metrics != nil {
			e.Metrics.EvalErrors.WithLabelValues(v.Policy, reason).Inc()
		}
		// Fail closed only where the policy's results could deny: a warn-
		// mode policy can never deny, so its error is a warning, and a
		// dryrun policy's error changes nothing (it is counted above).
		msg := fmt.Sprintf("[%s] driftguard could not evaluate this policy (%s)", v.Policy, reason)
		switch {
		case v.Mode == config.ModeDryRun:
		case v.Mode == config.ModeWarn:
			d.Warnings = append(d.Warnings, msg+"; allowed because the policy is in warn mode")
		case cfg.FailurePolicy == "deny":
			d.Denials = append(d.Denials, msg+"; failurePolicy is deny")
		default:
			d.Warnings = append(d.Warnings, msg+"; allowed because failurePolicy is allow")
		}
		return
	}
	switch {
	case v.Mode == config.ModeDryRun:
		if len(r.Deny)+len(r.Warn) > 0 {
			v.Decision = "dryrun"
		} else {
			v.Decision = "allow"
		}
		return
	case len(r.Deny) > 0 && v.Mode == config.ModeEnforce && !actor.BreakGlass:
		v.Decision = "deny"
		for _, f := range r.Deny {
			d.Denials = append(d.Denials, fmt.Sprintf("[%s] %s", v.Policy, f.Msg))
		}
	case len(r.Deny) > 0:
		reason, label := "warn mode", "warn"
		if v.Mode == config.ModeEnforce { // break-glass
			reason, label = "break-glass: "+actor.BreakGlassReason, "break_glass"
			if bg := actor.BreakGlassInfo; !bg.Fresh {
				reason += " (set by an earlier request, valid until " + bg.Until.UTC().Format(time.RFC3339) + ")"
			}
		}
		v.Decision = label
		for _, f := range r.Deny {
			d.Warnings = append(d.Warnings, fmt.Sprintf("[%s] allowed by %s, recorded as drift: %s", v.Policy, reason, f.Msg))
			d.HandEdits = append(d.HandEdits, HandEdit{Policy: v.Policy, Field: f.Field, Owner: f.Owner, Reason: reason})
		}
	case len(r.Warn) > 0:
		v.Decision = "warn"
	default:
		v.Decision = "allow"
	}
	for _, f := range r.Warn {
		d.Warnings = append(d.Warnings, fmt.Sprintf("[%s] %s", v.Policy, f.Msg))
	}
	if v.Mode == config.ModeEnforce {
		d.Patches = append(d.Patches, r.Patch...)
	}
}
