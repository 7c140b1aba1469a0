package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// AdmitAll evaluates the admission rules of the policies that match kind
// and op, in one evaluation when it can. When that evaluation fails (a
// policy's runtime error, the deadline), each policy is evaluated on its
// own, so that the error is put on the policy that caused it and the
// others still answer. ch is what an UPDATE changes (nil: unknown): a
// policy whose declared changes it does not touch is not evaluated and
// has an empty Result with Skipped set.
func (s *Set) AdmitAll(ctx context.Context, kind, op string, in ast.Value, ch *Changes) []Result {
	l := s.matching(kind, op)
	if l == nil || len(l.policies) == 0 {
		return nil
	}
	all := func() []Result {
		return s.admit(ctx, l.policies, func() *rego.PreparedEvalQuery { return s.combinedFor(ctx, l) }, in)
	}
	skip, n := s.skipped(l, ch)
	if n == 0 {
		return all()
	}
	ps := make([]*Policy, 0, len(l.policies)-n)
	var key strings.Builder
	key.WriteString("sub:")
	for i, p := range l.policies {
		if !skip[i] {
			ps = append(ps, p)
			key.WriteString(p.Name)
			key.WriteByte(',')
		}
	}
	var out []Result
	switch cq, ok := s.subsetQuery(ctx, key.String(), ps, nil); {
	case len(ps) == 0:
	case ok:
		out = s.admit(ctx, ps, func() *rego.PreparedEvalQuery { return cq }, in)
	default:
		// too many distinct subsets prepared already: the whole list's
		// query, its skipped policies' answers dropped below (the same
		// answer, at the cost of not skipping)
		out = all()
	}
	return spread(l.policies, skip, out)
}

// skipped marks the policies of l that the changes ch cannot concern
// (none when ch is unknown, l declares no changes, or s.EvaluateAll), and
// counts them.
func (s *Set) skipped(l *policyList, ch *Changes) ([]bool, int) {
	if ch == nil || !l.declares || s.EvaluateAll {
		return nil, 0
	}
	var skip []bool
	n := 0
	for i, p := range l.policies {
		if !p.reacts(ch) {
			if skip == nil {
				skip = make([]bool, len(l.policies))
			}
			skip[i] = true
			n++
		}
	}
	return skip, n
}

// spread lines results up with ps: got holds either the results of the
// policies not skipped, in order, or those of all ps; a skipped policy
// gets an empty Result with Skipped set.
func spread(ps []*Policy, skip []bool, got []Result) []Result {
	out := make([]Result, len(ps))
	j := 0
	full := len(got) == len(ps)
	for i, p := range ps {
		switch {
		case skip[i]:
			out[i] = Result{Policy: p.Name, Skipped: true}
			if full {
				j++
			}
		default:
			out[i] = got[j]
			j++
		}
	}
	return out
}

// AdmitSelected is AdmitAll for only some rules of the matching policies:
// sel returns the rules of a policy to evaluate (of AdmissionRules; those
// it does not define are ignored), none to skip the policy, which then has
// no Result; so has a policy whose declared changes ch does not touch.
// The mutating webhook uses it: it needs neither warnings nor, in enforce
// mode, denials (the validating webhook reports them).
func (s *Set) AdmitSelected(ctx context.Context, kind, op string, in ast.Value, ch *Changes, sel func(*Policy) []string) []Result {
	l := s.matching(kind, op)
	if l == nil {
		return nil
	}
	skip, _ := s.skipped(l, ch)
	var ps, subset []*Policy
	var psSkipped []bool // aligned with ps
	var rules, subRules [][]string
	var key, subKey strings.Builder
	key.WriteString("select:")
	subKey.WriteString("select-sub:")
	for i, p := range l.policies {
		var rs []string
		for _, r := range sel(p) {
			if p.Has(r) {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		ps = append(ps, p)
		rules = append(rules, rs)
		fmt.Fprintf(&key, "%s=%s,", p.Name, strings.Join(rs, "+"))
		psSkipped = append(psSkipped, skip != nil && skip[i])
		if skip == nil || !skip[i] {
			subset = append(subset, p)
			subRules = append(subRules, rs)
			fmt.Fprintf(&subKey, "%s=%s,", p.Name, strings.Join(rs, "+"))
		}
	}
	if len(subset) == 0 {
		return nil
	}
	var out []Result
	if len(subset) < len(ps) {
		if cq, ok := s.subsetQuery(ctx, subKey.String(), subset, subRules); ok {
			out = s.admit(ctx, subset, func() *rego.PreparedEvalQuery { return cq }, in)
			ps, rules, psSkipped = subset, subRules, nil
		}
	}
	if out == nil {
		out = s.admit(ctx, ps, func() *rego.PreparedEvalQuery { return s.combinedQuery(ctx, key.String(), ps, rules) }, in)
	}
	kept := out[:0]
	for i := range out {
		// from a policy's own query (after a failed combined one): drop
		// what was not asked for
		out[i].keepOnly(rules[i])
		if psSkipped != nil && psSkipped[i] {
			continue // evaluated with the whole list (too many subsets): not asked for
		}
		kept = append(kept, out[i])
	}
	return kept
}

// admit evaluates ps with their combined query (nil: none), or one by one
// when it fails. When the request's deadline passes, only the policies
// that cannot answer even alone are blamed (see alone).
func (s *Set) admit(ctx context.Context, ps []*Policy, combined func() *rego.PreparedEvalQuery, in ast.Value) []Result {
	out := make([]Result, len(ps))
	if ctx.Err() != nil {
		// out of time before starting (OPA would notice only at its next
		// cancellation check, after doing the work)
		for i, p := range ps {
			out[i] = Result{Policy: p.Name, Err: fmt.Errorf("policy %s: %w", p.Name, ctx.Err())}
		}
		return out
	}
	if cq := combined(); cq != nil {
		rs, err := cq.Eval(ctx, rego.EvalParsedInput(in))
		if err == nil && len(rs) == 1 {
			for i, p := range ps {
				out[i] = p.results(rs[0].Bindings, fmt.Sprintf("p%d_", i))
			}
			return out
		}
		if ctx.Err() != nil {
			// Out of time: the combined query cannot say whose fault it was.
			s.alone(ctx, ps, out, in)
			return out
		}
	}
	for i, p := range ps {
		out[i] = p.Admit(ctx, in)
		if out[i].Err != nil && ctx.Err() != nil {
			// p ran out of time, or the deadline passed just before it
			// started: p and the policies after it get their own budget
			// rather than all being blamed.
			s.alone(ctx, ps[i:], out[i:], in)
			break
		}
	}
	return out
}

// keepOnly clears the results of rules not in rules.
func (r *Result) keepOnly(rules []string) {
	if !slices.Contains(rules, "deny") {
		r.Deny = nil
	}
	if !slices.Contains(rules, "warn") {
		r.Warn = nil
	}
	if !slices.Contains(rules, "patch") {
		r.Patch = nil
	}
}

// Admit evaluates deny, warn and patch of one policy against a parsed input.
func (p *Policy) Admit(ctx context.Context, in ast.Value) Result {
	if p.admit == nil {
		return Result{Policy: p.Name}
	}
	rs, err := p.admit.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil {
		return Result{Policy: p.Name, Err: fmt.Errorf("policy %s: %w", p.Name, err)}
	}
	if len(rs) == 0 {
		return Result{Policy: p.Name}
	}
	return p.results(rs[0].Bindings, "")
}

// Drift evaluates the drift rule of one policy against a parsed input.
func (p *Policy) Drift(ctx context.Context, in ast.Value) Result {
	r := Result{Policy: p.Name}
	if p.drift == nil {
		return r
	}
	rs, err := p.drift.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil {
		r.Err = fmt.Errorf("policy %s: drift: %w", p.Name, err)
		return r
	}
	if len(rs) > 0 {
		r.Drift, r.Err = findings(rs[0].Bindings["drift"])
	}
	return r
}
