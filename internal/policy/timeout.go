package policy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

type requestDeadlineKey struct{}

// WithRequestDeadline records ctx's deadline (the whole request's, before
// the evaluation deadline is derived from it), so that the extra time
// that singles out a slow policy never runs past it.
func WithRequestDeadline(ctx context.Context) context.Context {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithValue(ctx, requestDeadlineKey{}, dl)
	}
	return ctx
}

// DefaultTimeoutRetry is the budget of alone when Set.TimeoutRetry is 0.
const DefaultTimeoutRetry = 500 * time.Millisecond

// TimeoutRetryFor is the TimeoutRetry for an evaluation deadline: a
// quarter of it, at most one second (so an answer takes at most
// evalTimeout plus a quarter, and never more than the API server's 30s
// webhook limit for the largest evalTimeout config allows, 29s).
func TimeoutRetryFor(evalTimeout time.Duration) time.Duration {
	return min(evalTimeout/4, time.Second)
}

// alone is called when the request's deadline passed during the
// evaluation of ps: it evaluates each policy of ps on its own, all at
// once, under one short extra budget (Set.TimeoutRetry) that starts now.
// Policies that were only caught in someone else's slow evaluation answer
// with their real results; the slow one runs out of time again and is
// the only one reported as timed out. The input is converted to a plain
// Rego value first: the lazily converted input is not safe for concurrent
// use. A request cancelled for another reason (the API server hung up)
// is not retried.
func (s *Set) alone(ctx context.Context, ps []*Policy, out []Result, in ast.Value) {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		for i, p := range ps {
			out[i] = Result{Policy: p.Name, Err: fmt.Errorf("policy %s: %w", p.Name, ctx.Err())}
		}
		return
	}
	budget := s.TimeoutRetry
	if budget <= 0 {
		budget = DefaultTimeoutRetry
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
	defer cancel()
	if dl, ok := ctx.Value(requestDeadlineKey{}).(time.Time); ok {
		// never past the whole request's deadline (requestTimeout)
		var cancel2 context.CancelFunc
		rctx, cancel2 = context.WithDeadline(rctx, dl)
		defer cancel2()
	}
	if o, ok := in.(ast.Object); ok {
		o.Foreach(func(_, _ *ast.Term) {}) // converts a lazy object in full
	}
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.Admit(rctx, in)
			if r.Err != nil && rctx.Err() != nil {
				r.Err = fmt.Errorf("policy %s: %w (it did not finish within the request's evaluation deadline, nor alone in %s more)",
					p.Name, context.DeadlineExceeded, budget)
			}
			out[i] = r
		}()
	}
	wg.Wait()
}
