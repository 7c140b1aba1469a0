package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/policy"
)

// Drift evaluates the drift rules of the named policies (all that have
// one when names is empty) on a live object, as the audit does: input
// built by input.Builder.BuildLive (operation AUDIT), only policies whose
// kinds match, none for exempt namespaces.
func Drift(ctx context.Context, st *admit.State, gvk metav1.GroupVersionKind, obj map[string]any, names []string) (map[string][]policy.Finding, error) {
	b := st.Builder.WithoutCache()
	in, err := b.BuildLive(ctx, gvk, obj)
	if err != nil {
		return nil, err
	}
	out := map[string][]policy.Finding{}
	if len(names) == 0 {
		for _, p := range st.Policies.Policies {
			if p.Has("drift") {
				names = append(names, p.Name)
			}
		}
	}
	val := ast.LazyObject(in.Doc)
	ctx, cancel := context.WithTimeout(ctx, st.Config.EvalTimeout.Duration)
	defer cancel()
	for _, n := range names {
		p := st.Policies.Get(n)
		switch {
		case p == nil:
			return nil, fmt.Errorf("policy %q is not loaded", n)
		case !p.Has("drift"):
			return nil, fmt.Errorf("policy %q has no drift rule", n)
		}
		out[n] = []policy.Finding{}
		if in.Exempt != "" || !(slices.Contains(p.Kinds, "*") || slices.Contains(p.Kinds, gvk.Kind)) {
			continue
		}
		r := p.Drift(ctx, val)
		if r.Err != nil {
			return nil, r.Err
		}
		if r.Drift != nil {
			out[n] = r.Drift
		}
	}
	return out, nil
}

// jsonEqual compares two JSON values semantically.
func jsonEqual(a json.RawMessage, b any) bool {
	var x any
	if err := json.Unmarshal(a, &x); err != nil {
		return false
	}
	bb, err := json.Marshal(b)
	if err != nil {
		return false
	}
	var y any
	if err := json.Unmarshal(bb, &y); err != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
