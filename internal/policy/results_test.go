package policy

import (
	"context"
	"strings"
	"testing"
)

// A finding without a message (an object without msg, with a msg that is
// not a string or is empty, an empty string) is the policy's evaluation
// error, for deny, warn and drift, whether the policy is evaluated alone
// or with others in one query; the other policies still answer.
func TestFindingWithoutMsgIsAnError(t *testing.T) {
	ctx := context.Background()
	for name, finding := range map[string]string{
		"object without msg": `{"field": "spec.replicas"}`,
		"msg a number":       `{"msg": 3, "field": "spec.replicas"}`,
		"msg an object":      `{"msg": {"text": "x"}}`,
		"msg empty":          `{"msg": ""}`,
		"empty string":       `""`,
		"a number":           `42`,
	} {
		for _, rule := range []string{"deny", "warn", "drift"} {
			t.Run(name+"/"+rule, func(t *testing.T) {
				s, err := Compile(ctx, []Source{
					{Name: "bad.rego", Text: "package driftguard.policies.bad\n\n" + rule + " contains " + finding + " if input.request.name\n"},
					{Name: "good.rego", Text: "package driftguard.policies.good\n\ndeny contains \"good denies\" if input.request.name\n"},
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				bad := s.Get("bad")
				var results []Result
				if rule == "drift" {
					results = []Result{bad.Drift(ctx, in("api", false))}
				} else {
					results = []Result{bad.Admit(ctx, in("api", false))}
					for _, r := range s.AdmitAll(ctx, "Deployment", "UPDATE", in("api", false), nil) {
						if r.Policy == "good" && (r.Err != nil || len(r.Deny) != 1) {
							t.Errorf("good, combined with bad: %+v", r)
						}
						if r.Policy == "bad" {
							results = append(results, r)
						}
					}
				}
				for _, r := range results {
					if r.Err == nil {
						t.Fatalf("accepted: %+v", r)
					}
					if !strings.Contains(r.Err.Error(), "msg") && !strings.Contains(r.Err.Error(), "message") {
						t.Errorf("error does not say what is missing: %v", r.Err)
					}
				}
				if rule != "drift" && len(results) != 2 {
					t.Errorf("want bad's result alone and combined, got %+v", results)
				}
			})
		}
	}
}
