package policy

import (
	"fmt"
	"slices"

	"github.com/open-policy-agent/opa/v1/rego"
)

// Policy is one compiled policy.
type Policy struct {
	Name        string
	Kinds       []string // kind names, or "*"
	Operations  []string // CREATE, UPDATE, DELETE, CONNECT, or "*"
	Description string
	Rules       []string // which of deny, warn, patch, drift it defines
	// Changes are the changed fields it reacts to on UPDATE (nil: any;
	// see changes.go).
	Changes []string

	changes []pathPattern

	admit *rego.PreparedEvalQuery
	drift *rego.PreparedEvalQuery
}

// AdmissionRules are the rules a policy may define for admission.
var AdmissionRules = []string{"deny", "warn", "patch"}

// admitExprs are the query expressions binding the policy's rules (those
// of rules it defines) to prefix+rule.
func (p *Policy) admitExprs(prefix string, rules []string) []string {
	var out []string
	for _, r := range rules {
		if p.Has(r) {
			out = append(out, fmt.Sprintf("%s%s := data.driftguard.policies.%s.%s", prefix, r, p.Name, r))
		}
	}
	return out
}

// Has reports whether the policy defines a rule.
func (p *Policy) Has(rule string) bool { return slices.Contains(p.Rules, rule) }

func (p *Policy) matchesOp(op string) bool {
	return slices.Contains(p.Operations, "*") || slices.Contains(p.Operations, op)
}
