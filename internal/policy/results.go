package policy

import (
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/rego"
)

// Finding is one deny, warn or drift result.
type Finding struct {
	Msg   string         `json:"msg"`
	Field string         `json:"field,omitempty"`
	Owner string         `json:"owner,omitempty"`
	Extra map[string]any `json:"extra,omitempty"`
}

// Result is what one policy said about one input.
type Result struct {
	Policy string
	Deny   []Finding
	Warn   []Finding
	Patch  []map[string]any
	Drift  []Finding
	Err    error
	// Skipped: not evaluated, as the UPDATE changes none of the fields
	// the policy declares it reacts to (changes.go); the Result is empty.
	Skipped bool
}

// results reads the policy's deny, warn and patch from the bindings of an
// evaluation, where they are named prefix+rule.
func (p *Policy) results(b rego.Vars, prefix string) Result {
	r := Result{Policy: p.Name}
	var err error
	if r.Deny, err = findings(b[prefix+"deny"]); err != nil {
		r.Err = fmt.Errorf("policy %s: deny: %w", p.Name, err)
		return r
	}
	if r.Warn, err = findings(b[prefix+"warn"]); err != nil {
		r.Err = fmt.Errorf("policy %s: warn: %w", p.Name, err)
		return r
	}
	if v, ok := b[prefix+"patch"]; ok {
		arr, ok := v.([]any)
		if !ok {
			r.Err = fmt.Errorf("policy %s: patch must be a set of JSON patch operations", p.Name)
			return r
		}
		for _, x := range arr {
			op, ok := x.(map[string]any)
			if !ok || op["op"] == nil || op["path"] == nil {
				r.Err = fmt.Errorf("policy %s: patch element %v is not a JSON patch operation", p.Name, x)
				return r
			}
			r.Patch = append(r.Patch, op)
		}
	}
	return r
}

// findings accepts a set of messages: non-empty strings, or objects with
// a non-empty string msg (and field, owner). Anything else is an error, so
// that a finding that would tell nobody anything is not taken as an
// answer: the policy's result is an evaluation error instead.
func findings(v any) ([]Finding, error) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a set, got %T", v)
	}
	out := make([]Finding, 0, len(arr))
	for _, x := range arr {
		switch f := x.(type) {
		case string:
			if f == "" {
				return nil, fmt.Errorf("result %q is an empty message", f)
			}
			out = append(out, Finding{Msg: f})
		case map[string]any:
			msg, _ := f["msg"].(string)
			if msg == "" {
				return nil, fmt.Errorf("result %v has no msg (a non-empty string)", f)
			}
			fd := Finding{Msg: msg}
			fd.Field, _ = f["field"].(string)
			fd.Owner, _ = f["owner"].(string)
			for k, v := range f {
				if k != "msg" && k != "field" && k != "owner" {
					if fd.Extra == nil {
						fd.Extra = map[string]any{}
					}
					fd.Extra[k] = v
				}
			}
			out = append(out, fd)
		default:
			return nil, fmt.Errorf("result %v is neither a string nor an object with msg", x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field+out[i].Msg < out[j].Field+out[j].Msg })
	return out, nil
}
