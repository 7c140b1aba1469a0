package policy

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// Set is an immutable compiled set of policies.
type Set struct {
	Policies []*Policy
	byKindOp map[string]*policyList // "Kind/OP" → policies, including wildcards
	wildOp   map[string]*policyList // "OP" → wildcard-kind policies
	Files    []string

	// One prepared query per distinct list of matching policies, which
	// evaluates all their admission rules at once: one evaluation per
	// request instead of one per policy, and helpers shared between
	// policies (a workload's containers) are computed once. Prepared on
	// first use (a kind that is never requested costs nothing) and kept
	// for the life of the Set.
	compiler *ast.Compiler
	store    storage.Store
	mu       sync.RWMutex
	combined map[string]*rego.PreparedEvalQuery // key: see policyList.key and AdmitSelected; nil value: not combinable
	subsets  int                                // combined queries prepared for subsets that changes select (at most maxSubsets)

	// EvaluateAll turns off skipping the policies whose declared changes
	// an UPDATE does not touch (changes.go): every matching policy is
	// evaluated. For comparisons (the differential tests); set it before
	// the Set serves requests.
	EvaluateAll bool

	// TimeoutRetry is the extra time policies get, each evaluated alone,
	// when a request's evaluation runs past its deadline, so that only
	// the policy that ran out of time is blamed (0: DefaultTimeoutRetry).
	// Set it before the Set serves requests.
	TimeoutRetry time.Duration
}

// policyList is what matches one kind and operation, with the key of its
// combined query (the policy names joined by ","), made once at load.
type policyList struct {
	policies []*Policy
	key      string
	declares bool // some policy declares the changes it reacts to
}

func (s *Set) index() {
	kinds := map[string]bool{}
	for _, p := range s.Policies {
		for _, k := range p.Kinds {
			if k != "*" {
				kinds[k] = true
			}
		}
	}
	list := func(match func(*Policy) bool) *policyList {
		l := &policyList{}
		var names []string
		for _, p := range s.Policies {
			if match(p) {
				l.policies = append(l.policies, p)
				names = append(names, p.Name)
				l.declares = l.declares || len(p.changes) > 0
			}
		}
		l.key = strings.Join(names, ",")
		return l
	}
	ops := []string{"CREATE", "UPDATE", "DELETE", "CONNECT"}
	for _, op := range ops {
		s.wildOp[op] = list(func(p *Policy) bool { return slices.Contains(p.Kinds, "*") && p.matchesOp(op) })
		for k := range kinds {
			s.byKindOp[k+"/"+op] = list(func(p *Policy) bool {
				return (slices.Contains(p.Kinds, k) || slices.Contains(p.Kinds, "*")) && p.matchesOp(op)
			})
		}
	}
}

// Matching returns the policies that apply to a kind and operation.
func (s *Set) Matching(kind, op string) []*Policy {
	if l := s.matching(kind, op); l != nil {
		return l.policies
	}
	return nil
}

func (s *Set) matching(kind, op string) *policyList {
	if l, ok := s.byKindOp[kind+"/"+op]; ok {
		return l
	}
	return s.wildOp[op]
}

// DriftPolicies returns the policies with drift rules that apply to a kind.
func (s *Set) DriftPolicies(kind string) []*Policy {
	var out []*Policy
	for _, p := range s.Policies {
		if p.drift != nil && (slices.Contains(p.Kinds, "*") || slices.Contains(p.Kinds, kind)) {
			out = append(out, p)
		}
	}
	return out
}

// Get returns a policy by name.
func (s *Set) Get(name string) *Policy {
	for _, p := range s.Policies {
		if p.Name == name {
			return p
		}
	}
	return nil
}
