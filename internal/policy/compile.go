package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// PackagePrefix is the Rego package under which policies live.
const PackagePrefix = "driftguard.policies."

// Compile parses and compiles the sources into a Set. params become
// data.driftguard.params (per-policy parameters from config).
func Compile(ctx context.Context, sources []Source, params map[string]any) (*Set, error) {
	modules, err := ParseModules(sources)
	if err != nil {
		return nil, err
	}
	var errs []error
	compiler := ast.NewCompiler().WithEnablePrintStatements(false).WithCapabilities(Capabilities())
	compiler.Compile(modules)
	if compiler.Failed() {
		return nil, fmt.Errorf("compile policies: %w", compiler.Errors)
	}
	if params == nil {
		params = map[string]any{}
	}
	// Params are stored as AST values so evaluations don't convert them again.
	store := inmem.NewFromObjectWithOpts(map[string]any{"driftguard": map[string]any{"params": params}},
		inmem.OptReturnASTValuesOnRead(true))

	// Which policies exist and which rules each defines.
	rules := map[string]map[string]bool{}
	var files []string
	for name, m := range modules {
		files = append(files, name)
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		pname, ok := strings.CutPrefix(pkg, PackagePrefix)
		if !ok || strings.Contains(pname, ".") {
			continue
		}
		if rules[pname] == nil {
			rules[pname] = map[string]bool{}
		}
		for _, r := range m.Rules {
			rules[pname][r.Head.Name.String()] = true
			if len(r.Head.Reference) > 0 {
				rules[pname][r.Head.Reference[0].Value.String()] = true
			}
		}
	}
	sort.Strings(files)
	names := make([]string, 0, len(rules))
	for n := range rules {
		names = append(names, n)
	}
	sort.Strings(names)

	set := &Set{byKindOp: map[string]*policyList{}, wildOp: map[string]*policyList{}, Files: files}
	for _, name := range names {
		p, err := preparePolicy(ctx, compiler, store, name, rules[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p != nil {
			set.Policies = append(set.Policies, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	set.index()
	set.compiler, set.store, set.combined = compiler, store, map[string]*rego.PreparedEvalQuery{}
	return set, nil
}

func preparePolicy(ctx context.Context, c *ast.Compiler, store storage.Store, name string, defined map[string]bool) (*Policy, error) {
	ref := "data.driftguard.policies." + name
	p := &Policy{Name: name, Kinds: []string{"*"}, Operations: []string{"*"}}
	for _, r := range []string{"deny", "warn", "patch", "drift"} {
		if defined[r] {
			p.Rules = append(p.Rules, r)
		}
	}
	if len(p.Rules) == 0 {
		return nil, nil // a helper package without decisions
	}
	if defined["meta"] {
		rs, err := rego.New(rego.Compiler(c), rego.Store(store), rego.Query(ref+".meta")).Eval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policy %s: meta: %w", name, err)
		}
		if len(rs) > 0 && len(rs[0].Expressions) > 0 {
			meta, ok := rs[0].Expressions[0].Value.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("policy %s: meta must be an object", name)
			}
			if err := p.readMeta(meta); err != nil {
				return nil, fmt.Errorf("policy %s: meta: %w", name, err)
			}
		}
	}
	if admitExprs := p.admitExprs("", AdmissionRules); len(admitExprs) > 0 {
		q, err := rego.New(rego.Compiler(c), rego.Store(store), rego.StoreReadAST(true), rego.Query(strings.Join(admitExprs, "; "))).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		p.admit = &q
	}
	if p.Has("drift") {
		q, err := rego.New(rego.Compiler(c), rego.Store(store), rego.StoreReadAST(true), rego.Query("drift := "+ref+".drift")).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		p.drift = &q
	}
	return p, nil
}
