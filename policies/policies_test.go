package policies_test

import (
	"context"
	"io/fs"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/driftguard/driftguard/internal/policy"
	"github.com/driftguard/driftguard/policies"

	"github.com/driftguard/driftguard/internal/suite"
)

// declaredRegoTests counts the test rules (test_* and todo_*) of the
// *_test.rego modules: every one of them must run, so a run that finds
// fewer (a renamed package, an embed pattern that stops matching, a
// runner that filters) fails instead of passing on what is left.
func declaredRegoTests(modules map[string]*ast.Module) int {
	n := 0
	for name, m := range modules {
		if !strings.HasSuffix(name, "_test.rego") {
			continue
		}
		for _, r := range m.Rules {
			rule := r.Head.Ref().String()
			if strings.HasPrefix(rule, "test_") || strings.HasPrefix(rule, "todo_") {
				n++
			}
		}
	}
	return n
}

// regoModules parses every embedded .rego file (policies and their
// *_test.rego unit tests) as Rego v1, as the engine does.
func regoModules(t *testing.T) map[string]*ast.Module {
	t.Helper()
	modules := map[string]*ast.Module{}
	err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") {
			return err
		}
		b, err := fs.ReadFile(policies.FS, p)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(p, string(b), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		modules[p] = m
		return nil
	})
	if err != nil {
		t.Fatalf("load embedded policies: %v", err)
	}
	return modules
}

// TestRegoUnitTests runs the Rego unit tests (test_* rules in
// *_test.rego) of the bundled policies and fails for each one that
// fails or errors.
func TestRegoUnitTests(t *testing.T) {
	modules := regoModules(t)
	var tests []string
	for name := range modules {
		if strings.HasSuffix(name, "_test.rego") {
			tests = append(tests, name)
		}
	}
	sort.Strings(tests)
	if len(tests) == 0 {
		t.Fatal("no *_test.rego files embedded in policies.FS")
	}
	t.Logf("test files: %v", tests)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetCompiler(ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithEnablePrintStatements(true)).
		CapturePrintOutput(true).
		EnableTracing(true). // to name the expression a failing test stopped at
		RaiseBuiltinErrors(true).
		SetTimeout(30*time.Second).
		SetModules(modules).
		RunTests(ctx, nil)
	if err != nil {
		t.Fatalf("compile policies and tests: %v", err)
	}

	ran, passed := 0, 0
	for r := range ch {
		ran++
		name := strings.TrimPrefix(r.Package, "data.") + "." + r.Name
		loc := ""
		if r.Location != nil {
			loc = r.Location.String()
		}
		switch {
		case r.Error != nil:
			t.Errorf("%s (%s): ERROR: %v\n%s", name, loc, r.Error, r.Output)
		case r.Skip:
			t.Logf("%s (%s): SKIPPED", name, loc)
		case r.Fail:
			t.Errorf("%s (%s): FAIL%s\n%s", name, loc, suite.FailedAt(r), r.Output)
		default:
			passed++
		}
	}
	declared := declaredRegoTests(modules)
	t.Logf("%d Rego tests declared, %d ran, %d passed", declared, ran, passed)
	if ran == 0 || ran != declared {
		t.Errorf("%d Rego tests ran, but the *_test.rego files declare %d", ran, declared)
	}
}

// TestTestFilesAreNoPolicies checks that loading the bundled policies
// together with their tests (as a policy test command does) yields the
// same policies as loading them alone: test packages define no
// deny/warn/patch/drift rule.
func TestTestFilesAreNoPolicies(t *testing.T) {
	names := func(withTests bool) []string {
		src, err := policy.ReadDir(policies.FS, ".", withTests)
		if err != nil {
			t.Fatal(err)
		}
		set, err := policy.Compile(context.Background(), src, nil)
		if err != nil {
			t.Fatalf("compile bundled policies (with tests: %v): %v", withTests, err)
		}
		var out []string
		for _, p := range set.Policies {
			out = append(out, p.Name)
		}
		return out
	}
	without, with := names(false), names(true)
	if len(without) == 0 {
		t.Fatal("no bundled policies")
	}
	if strings.Join(with, ",") != strings.Join(without, ",") {
		t.Errorf("policies loaded with tests = %v, without = %v", with, without)
	}
}
