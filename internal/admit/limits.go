package admit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
)

// Reasons a review is answered without evaluation (label values of
// driftguard_admission_unreviewed_total; internal/input adds the reasons
// of its InputErrors).
const (
	ReasonTooManyChanges = "too_many_changes"
	ReasonTimeout        = "timeout"
	ReasonBusy           = "busy"
)

// Budget bounds the review bytes worked on at once, so that several huge
// reviews arriving together queue instead of growing the heap past the
// process's memory limit. A review takes its body size (at most the whole
// budget, so one review of any size can always run alone) until it is
// answered, waiting at most until its request deadline.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
}

// BudgetAmplification is the peak heap per byte of review body while a
// review is worked on (the review decoded, both objects decoded, the diff,
// the policy input and Rego's values), measured on the huge-ConfigMap
// reviews of docs/benchmarks.md, with a margin.
const BudgetAmplification = 48

// NewBudget returns a budget of size body bytes (size <= 0: no bound).
func NewBudget(size int64) *Budget {
	if size <= 0 {
		return nil
	}
	return &Budget{sem: semaphore.NewWeighted(size), size: size}
}

// BudgetForMemoryLimit sizes the budget from the Go soft memory limit
// (GOMEMLIMIT, or 80% of the container's limit, see internal/server/memory.go): half of
// it for reviews in progress (the rest for the policies, caches, the
// audit's informers and the garbage collector's headroom), divided by
// BudgetAmplification. No limit (math.MaxInt64): no budget.
func BudgetForMemoryLimit(limit int64) *Budget {
	if limit <= 0 || limit == math.MaxInt64 {
		return nil
	}
	return NewBudget(limit / 2 / BudgetAmplification)
}

// Size is the budget in body bytes (0 when unbounded).
func (b *Budget) Size() int64 {
	if b == nil {
		return 0
	}
	return b.size
}

// Acquire takes n bytes of the budget, waiting until ctx ends. release
// gives them back; a nil budget never waits.
func (b *Budget) Acquire(ctx context.Context, n int64) (release func(), err error) {
	if b == nil {
		return func() {}, nil
	}
	n = max(1, min(n, b.size))
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, err
	}
	return func() { b.sem.Release(n) }, nil
}

// unreviewedReason classifies a Build error that is not the review's
// fault: too many changes, or the request ran out of time.
func unreviewedReason(err error) (reason string, ok bool) {
	var tooMany *input.TooManyChangesError
	switch {
	case errors.As(err, &tooMany):
		return ReasonTooManyChanges, true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ReasonTimeout, true
	}
	return "", false
}

// Unreviewed answers a review driftguard did not evaluate (reason is one
// of the Reason constants, detail says why in words) per failurePolicy
// (see unjudged). Exempt requests stay allowed. It is counted in
// driftguard_admission_unreviewed_total.
func (e *Engine) Unreviewed(webhook string, st *State, req *admissionv1.AdmissionRequest, reason, detail string) *Decision {
	in := &input.Input{Request: req, Exempt: st.Builder.Exempt(req)}
	d := &Decision{Input: in, Allowed: true}
	if in.Exempt != "" {
		return d
	}
	e.countUnreviewed(webhook, reason)
	d.Unreviewed = reason
	unjudged(st, d, detail)
	return d
}

func (e *Engine) countUnreviewed(webhook, reason string) {
	if e.Metrics != nil && e.Metrics.Unreviewed != nil {
		e.Metrics.Unreviewed.WithLabelValues(webhook, reason).Inc()
	}
}

// unjudged folds into d why its request was not reviewed (detail), per
// failurePolicy and the modes of the policies that match the kind and
// operation: a denial when failurePolicy is deny and one of them is in
// enforce mode, a warning when it is allow, or when none is enforced but
// one is in warn mode (a warn-mode policy never denies, so neither does
// what it could not judge); nothing when all are in dryrun mode or none
// matches (a dry run never changes an answer; the metric counts it).
func unjudged(st *State, d *Decision, detail string) {
	req := d.Input.Request
	cfg := st.Config
	enforced, warned := false, false
	for _, p := range st.Policies.Matching(req.Kind.Kind, string(req.Operation)) {
		switch cfg.ModeFor(p.Name) {
		case config.ModeEnforce:
			enforced = true
		case config.ModeWarn:
			warned = true
		}
	}
	if !enforced && !warned {
		return
	}
	obj := req.Kind.Kind
	if req.SubResource != "" {
		obj = req.Resource.Resource + "/" + req.SubResource // deployments/scale, not Scale
	}
	if req.Name != "" {
		name := req.Name
		if req.Namespace != "" {
			name = req.Namespace + "/" + req.Name
		}
		obj += " " + name
	}
	msg := fmt.Sprintf("%s of %s was not reviewed: %s", req.Operation, obj, detail)
	switch {
	case !enforced:
		d.Warnings = append(d.Warnings, msg+"; allowed because no policy that reviews it is in enforce mode (warn mode)")
	case cfg.FailurePolicy == "deny":
		d.Denials = append(d.Denials, msg+"; failurePolicy is deny")
	default:
		d.Warnings = append(d.Warnings, msg+"; allowed because failurePolicy is allow")
	}
	d.Allowed = len(d.Denials) == 0
}

// unreviewedDetail words a Build error for Unreviewed.
func unreviewedDetail(cfg *config.Config, reason string, err error) string {
	switch reason {
	case ReasonTooManyChanges:
		return err.Error() + "; split the change, or raise maxChanges"
	case ReasonTimeout:
		return fmt.Sprintf("it ran out of time (requestTimeout %s)", cfg.RequestTimeout)
	}
	return err.Error()
}

// SmallReview is the body size up to which a review is answered inline,
// outside the memory budget: the bulk of admission traffic (the 8 KB
// Deployment of the benchmarks) pays nothing for the budget, and its
// memory is bounded by the number of connections.
const SmallReview = 128 << 10

// handle answers a checked review. A large one (over SmallReview) first
// takes its share of the engine's memory budget, or is answered per
// failurePolicy (reason busy) when none frees up before its deadline,
// and is then worked on in its own goroutine, so that work that cannot
// be interrupted at once (a decode, a Rego value conversion) does not
// hold the answer past requestTimeout: at the deadline it is answered per
// failurePolicy (reason timeout) while the abandoned work winds down and
// gives its share back.
func (h *HTTPHandler) handle(ctx context.Context, review *admissionv1.AdmissionReview, size int64) admission.Response {
	if size <= 0 {
		size = int64(len(review.Request.Object.Raw) + len(review.Request.OldObject.Raw))
	}
	req := admission.Request{AdmissionRequest: *review.Request}
	if size <= SmallReview {
		return h.Webhook.Handle(ctx, req)
	}
	st := h.Engine.State()
	release, err := h.Engine.Budget.Acquire(ctx, size)
	if err != nil {
		return h.answerUnreviewed(h.Engine.Unreviewed(h.Name, st, review.Request, ReasonBusy,
			fmt.Sprintf("driftguard is busy with other large reviews and had no memory share for this one (%d bytes) within requestTimeout %s", size, st.Config.RequestTimeout)))
	}
	c := &claim{}
	done := make(chan admission.Response, 1)
	go func() {
		defer release()
		done <- h.Webhook.Handle(context.WithValue(ctx, claimKey{}, c), req)
	}()
	select {
	case resp := <-done:
		return resp
	case <-ctx.Done():
		if !c.state.CompareAndSwap(0, 2) {
			return <-done // the work finished and counted its answer just now
		}
		return h.answerUnreviewed(h.Engine.Unreviewed(h.Name, st, review.Request, ReasonTimeout,
			fmt.Sprintf("it ran out of time (requestTimeout %s)", st.Config.RequestTimeout)))
	}
}

type claimKey struct{}

// claim decides who answers a large review: its work (1) or, at the
// deadline, the handler (2). Only the one that claims it counts it.
type claim struct{ state atomic.Int32 }

// claimAnswer reports whether the work on a review may count its answer:
// always, unless the handler has answered it at the deadline already.
func claimAnswer(ctx context.Context) bool {
	c, _ := ctx.Value(claimKey{}).(*claim)
	return c == nil || c.state.CompareAndSwap(0, 1)
}

func (h *HTTPHandler) answerUnreviewed(d *Decision) admission.Response {
	h.Engine.count(h.Name, d)
	if h.Name == "validate" {
		h.Engine.Trail.record(d)
	}
	if h.Name == "mutate" || d.Allowed {
		// the mutating webhook never denies: the validating one answers
		resp := admission.Allowed("")
		if h.Name != "mutate" {
			resp.Warnings = d.Warnings
		}
		return resp
	}
	resp := admission.Denied(denialMessage(d))
	resp.Warnings = d.Warnings
	return resp
}
