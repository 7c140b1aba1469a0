package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"
)

// combinedFor returns the combined query of a matching policy list,
// preparing it on first use; nil when there is none (fewer than two
// policies, or preparing failed: the policies are then evaluated one by
// one). Lists of different kinds with the same policies share it.
func (s *Set) combinedFor(ctx context.Context, l *policyList) *rego.PreparedEvalQuery {
	if len(l.policies) < 2 {
		return nil
	}
	return s.combinedQuery(ctx, l.key, l.policies, nil)
}

// maxSubsets bounds how many combined queries are prepared for the
// subsets of matching policies that UPDATEs' changes leave: with n
// policies declaring changes there are up to 2^n of them, and the changes
// are the caller's to choose. Past it, the whole list's query answers
// (AdmitAll, AdmitSelected).
const maxSubsets = 256

// subsetQuery is combinedQuery for a subset of a matching list. ok is
// false when the subset has no query yet and maxSubsets are prepared;
// a nil query with ok true means one by one (a single policy, or not
// combinable).
func (s *Set) subsetQuery(ctx context.Context, key string, ps []*Policy, rules [][]string) (*rego.PreparedEvalQuery, bool) {
	if len(ps) < 2 {
		return nil, true
	}
	s.mu.RLock()
	cq, done := s.combined[key]
	full := s.subsets >= maxSubsets
	s.mu.RUnlock()
	if done {
		return cq, true
	}
	if full {
		return nil, false
	}
	s.mu.Lock()
	if _, done := s.combined[key]; !done {
		if s.subsets >= maxSubsets {
			s.mu.Unlock()
			return nil, false
		}
		s.subsets++
	}
	s.mu.Unlock()
	return s.combinedQuery(ctx, key, ps, rules), true
}

// combinedQuery returns the query evaluating rules (nil: all admission
// rules) of policies at once, cached under key.
func (s *Set) combinedQuery(ctx context.Context, key string, ps []*Policy, rules [][]string) *rego.PreparedEvalQuery {
	s.mu.RLock()
	cq, done := s.combined[key]
	s.mu.RUnlock()
	if done {
		return cq
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cq, done := s.combined[key]; done {
		return cq
	}
	var exprs []string
	for i, p := range ps {
		rs := AdmissionRules
		if rules != nil {
			rs = rules[i]
		}
		exprs = append(exprs, p.admitExprs(fmt.Sprintf("p%d_", i), rs)...)
	}
	if len(exprs) > 0 {
		// not under the request's deadline: the query is kept for later requests
		q, err := rego.New(rego.Compiler(s.compiler), rego.Store(s.store), rego.StoreReadAST(true),
			rego.Query(strings.Join(exprs, "; "))).PrepareForEval(context.WithoutCancel(ctx))
		if err == nil {
			cq = &q
		}
	}
	s.combined[key] = cq
	return cq
}
