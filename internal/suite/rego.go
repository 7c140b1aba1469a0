package suite

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/policy"
)

// RunRegoTests runs the Rego unit tests (test_* rules of *_test.rego) of
// the bundled policies (unless NoBundled) and of the policy directories
// with OPA's tester, one SuiteResult per test package. Rego v1, as the
// engine compiles policies. A parse or compile error is returned.
func (r *Runner) RunRegoTests(ctx context.Context) ([]SuiteResult, error) {
	o := r.PolicyOptions(r.opts.PolicyDirs)
	src, err := loader.Sources(o, true)
	if err != nil {
		return nil, err
	}
	modules, err := policy.ParseModules(src)
	if err != nil {
		return nil, err
	}
	if len(modules) == 0 {
		return nil, nil
	}
	timeout := r.opts.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	runner := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		// the engine's capabilities: a test cannot use what a policy may not
		SetCompiler(ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithEnablePrintStatements(true).
			WithCapabilities(policy.Capabilities())).
		CapturePrintOutput(true).
		EnableTracing(true). // to name the expression a failing test stopped at
		RaiseBuiltinErrors(true).
		SetTimeout(timeout).
		SetModules(modules)
	if r.opts.Run != nil {
		runner = runner.Filter(r.opts.Run.String())
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("compile policies and tests: %w", err)
	}
	byPkg := map[string]*SuiteResult{}
	for t := range ch {
		pkg := strings.TrimPrefix(t.Package, "data.")
		sr := byPkg[pkg]
		if sr == nil {
			sr = &SuiteResult{Name: pkg, Kind: KindRego}
			if t.Location != nil {
				sr.File = t.Location.File
			}
			byPkg[pkg] = sr
		}
		cr := CaseResult{Name: t.Name, Duration: t.Duration, Output: string(t.Output)}
		if t.Location != nil {
			cr.Location = fmt.Sprintf("%s:%d", t.Location.File, t.Location.Row)
		}
		switch {
		case t.Error != nil:
			cr.Status, cr.Reason = StatusError, t.Error.Error()
		case t.Skip:
			cr.Status, cr.Reason = StatusSkip, "todo_test_"
		case t.Fail:
			cr.Status, cr.Reason = StatusFail, "FAIL"+FailedAt(t)+failedSubResults(t)
		default:
			cr.Status = StatusPass
		}
		sr.Cases = append(sr.Cases, cr)
		sr.Duration += t.Duration
	}
	var out []SuiteResult
	for _, sr := range byPkg {
		sort.Slice(sr.Cases, func(i, j int) bool {
			return sr.Cases[i].Location+sr.Cases[i].Name < sr.Cases[j].Location+sr.Cases[j].Name
		})
		out = append(out, *sr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// FailedAt names the furthest expression of the test rule's own body that
// failed: where the test stopped.
func FailedAt(r *tester.Result) string {
	if r.Location == nil {
		return ""
	}
	first := r.Location.Row
	last := first + strings.Count(string(r.Location.Text), "\n")
	var at *ast.Location
	for _, e := range r.Trace {
		if e.Op != topdown.FailOp || e.Location == nil || e.Location.File != r.Location.File {
			continue
		}
		if e.Location.Row < first || e.Location.Row > last {
			continue
		}
		if at == nil || e.Location.Row >= at.Row {
			at = e.Location
		}
	}
	if at == nil {
		return ""
	}
	return fmt.Sprintf(" at line %d: %s", at.Row, string(at.Text))
}

func failedSubResults(r *tester.Result) string {
	if len(r.SubResults) == 0 {
		return ""
	}
	var failed []string
	var walk func(prefix string, m tester.SubResultMap)
	walk = func(prefix string, m tester.SubResultMap) {
		for k, sr := range m {
			name := prefix + "[" + k + "]"
			if len(sr.SubResults) > 0 {
				walk(name, sr.SubResults)
			} else if sr.Fail {
				failed = append(failed, name)
			}
		}
	}
	walk("", r.SubResults)
	sort.Strings(failed)
	if len(failed) == 0 {
		return ""
	}
	return " (failing cases: " + strings.Join(failed, ", ") + ")"
}
