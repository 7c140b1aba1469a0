package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/driftguard/driftguard/internal/answer"
	"github.com/driftguard/driftguard/internal/policy"
)

// RunSuites runs the cases of loaded suites (those --run selects).
func (r *Runner) RunSuites(ctx context.Context, suites []*Suite) []SuiteResult {
	var out []SuiteResult
	for _, s := range suites {
		sr := SuiteResult{Name: s.Name, File: s.File, Kind: KindFixtures}
		start := time.Now()
		for _, c := range s.Cases {
			if r.opts.Run != nil && !r.opts.Run.MatchString(c.FullName(s)) {
				continue
			}
			sr.Cases = append(sr.Cases, r.runCase(ctx, c))
		}
		sr.Duration = time.Since(start)
		if len(sr.Cases) > 0 {
			out = append(out, sr)
		}
	}
	return out
}

func (r *Runner) runCase(ctx context.Context, c *Case) (res CaseResult) {
	start := time.Now()
	res = CaseResult{Name: c.Name, Location: c.Location}
	defer func() {
		// A panic in evaluation is reported on the case, never a crash.
		if p := recover(); p != nil {
			res.Status, res.Reason = StatusError, fmt.Sprintf("panic during evaluation: %v", p)
		}
		res.Duration = time.Since(start)
	}()
	if c.Skip != "" {
		res.Status, res.Reason = StatusSkip, c.Skip
		return res
	}
	x := c.Expect
	var fails []string
	failf := func(format string, a ...any) { fails = append(fails, fmt.Sprintf(format, a...)) }

	var got *answer.Answer
	if c.Request != nil {
		a, _, err := answer.Evaluate(ctx, c.state, c.Request, answer.Options{Mutate: true, Now: c.now})
		got = a
		switch {
		case err != nil && !answer.IsBadInput(err):
			res.Status, res.Reason, res.Got = StatusError, err.Error(), got.Redacted()
			return res
		case x.Error != nil:
			if got.Error == "" {
				failf("error: the review was evaluated, want an error that matches: %s", x.Error)
			} else if !x.Error.Match(got.Error) {
				failf("error: %q does not match: %s", got.Error, x.Error)
			}
		case got.Error != "":
			res.Status, res.Reason, res.Got = StatusError, "the review could not be evaluated: "+got.Error, got.Redacted()
			return res
		default:
			fails = append(fails, checkAnswer(&x, got)...)
		}
	}
	if x.Drift != nil {
		names := make([]string, 0, len(x.Drift))
		for n := range x.Drift {
			names = append(names, n)
		}
		sort.Strings(names)
		findings, err := Drift(ctx, c.state, c.LiveGVK, c.Live, names)
		if err != nil {
			res.Status, res.Reason, res.Got = StatusError, "drift: "+err.Error(), got.Redacted()
			return res
		}
		res.Drift = findings
		for _, n := range names {
			fails = append(fails, checkFindings(n, x.Drift[n], findings[n])...)
		}
	}
	res.Got = got.Redacted() // reports print it: Secret values hidden
	if len(fails) > 0 {
		res.Status, res.Reason = StatusFail, strings.Join(fails, "\n")
		return res
	}
	res.Status = StatusPass
	return res
}

func checkAnswer(x *Expect, got *answer.Answer) []string {
	var fails []string
	failf := func(format string, a ...any) { fails = append(fails, fmt.Sprintf(format, a...)) }
	if x.Allowed != nil && got.Allowed != *x.Allowed {
		failf("allowed: got %v, want %v", got.Allowed, *x.Allowed)
	}
	if x.Message != nil && !x.Message.Match(got.Message) {
		failf("message: %q does not match: %s", got.Message, x.Message)
	}
	if x.Warnings != nil {
		if len(x.Warnings) == 0 && len(got.Warnings) > 0 {
			failf("warnings: want none, got %d: %s", len(got.Warnings), quoteList(got.Warnings))
		}
		for i := range x.Warnings {
			m := &x.Warnings[i]
			ok := false
			for _, w := range got.Warnings {
				if m.Match(w) {
					ok = true
					break
				}
			}
			if !ok {
				failf("warnings: no warning matches: %s; got %s", m, quoteList(got.Warnings))
			}
		}
	}
	if x.WarningCount != nil && len(got.Warnings) != *x.WarningCount {
		failf("warningCount: got %d, want %d: %s", len(got.Warnings), *x.WarningCount, quoteList(got.Warnings))
	}
	if x.Patch != nil {
		if len(x.Patch) == 0 && len(got.Patch) > 0 {
			failf("patch: want none, got %s", patchText(got.Redacted().Patch))
		}
		for _, p := range x.Patch {
			if !patchFound(p, got.Patch) {
				failf("patch: no operation %s; got %s", p, patchText(got.Redacted().Patch))
			}
		}
	}
	if x.PatchCount != nil && len(got.Patch) != *x.PatchCount {
		failf("patchCount: got %d, want %d: %s", len(got.Patch), *x.PatchCount, patchText(got.Redacted().Patch))
	}
	if len(x.Decisions) > 0 {
		names := make([]string, 0, len(x.Decisions))
		for n := range x.Decisions {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			d := "skipped"
			for _, v := range got.Verdicts {
				if v.Policy == n {
					d = v.Decision
				}
			}
			if d != x.Decisions[n] {
				failf("decisions.%s: got %s, want %s", n, d, x.Decisions[n])
			}
		}
	}
	return fails
}

func patchFound(p PatchExpect, ops []answer.PatchOp) bool {
	for _, op := range ops {
		if op.Op != p.Op || op.Path != p.Path {
			continue
		}
		if len(p.Value) > 0 && !jsonEqual(p.Value, op.Value) {
			continue
		}
		if p.ValueMatches != nil && !valueMatches(p.ValueMatches, op.Value) {
			continue
		}
		return true
	}
	return false
}

// valueMatches matches a patch value: a string itself; anything else by
// its JSON or by any string inside it (a drift record inside an added
// annotations map).
func valueMatches(m *Matcher, v any) bool {
	if s, ok := v.(string); ok {
		return m.Match(s)
	}
	b, _ := json.Marshal(v)
	if m.Match(string(b)) {
		return true
	}
	var walk func(x any) bool
	walk = func(x any) bool {
		switch t := x.(type) {
		case string:
			return m.Match(t)
		case map[string]any:
			for _, e := range t {
				if walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range t {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	var generic any
	if json.Unmarshal(b, &generic) != nil {
		return false
	}
	return walk(generic)
}

func checkFindings(policyName string, want []FindingExpect, got []policy.Finding) []string {
	var fails []string
	if len(want) == 0 && len(got) > 0 {
		fails = append(fails, fmt.Sprintf("drift.%s: want no findings, got %s", policyName, findingsText(got)))
	}
	for _, w := range want {
		ok := false
		for _, f := range got {
			if (w.Field == "" || w.Field == f.Field) && (w.Owner == "" || w.Owner == f.Owner) && (w.Msg == nil || w.Msg.Match(f.Msg)) {
				ok = true
				break
			}
		}
		if !ok {
			fails = append(fails, fmt.Sprintf("drift.%s: no finding with %s; got %s", policyName, w, findingsText(got)))
		}
	}
	return fails
}

func quoteList(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func patchText(ops []answer.PatchOp) string {
	if len(ops) == 0 {
		return "no patch"
	}
	b, _ := json.Marshal(ops)
	return string(b)
}

func findingsText(fs []policy.Finding) string {
	if len(fs) == 0 {
		return "none"
	}
	b, _ := json.Marshal(fs)
	return string(b)
}
