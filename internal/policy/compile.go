package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

	// Which policies exist, which rules each defines, and which of them
	// still have a meta rule (the old metadata form).
	rules := map[string]map[string]bool{}
	metaRule := map[string]*locatedError{}
	var files []string
	for name, m := range modules {
		files = append(files, name)
		pname, ok := policyName(m)
		if !ok {
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
			if r.Head.Name.String() == "meta" && metaRule[pname] == nil {
				metaRule[pname] = oldMetaRule(r.Location, name, pname)
			}
		}
	}
	sort.Strings(files)
	names := make([]string, 0, len(rules))
	for n := range rules {
		names = append(names, n)
	}
	sort.Strings(names)
	meta, metaErrs := readMetadata(modules, rules)
	for _, name := range names {
		if e := metaRule[name]; e != nil && isPolicy(rules[name]) {
			metaErrs = append(metaErrs, e)
		}
	}
	if err := joinSorted(metaErrs); err != nil {
		return nil, fmt.Errorf("policy metadata: %w", err)
	}

	set := &Set{byKindOp: map[string]*policyList{}, wildOp: map[string]*policyList{}, Files: files}
	for _, name := range names {
		p, err := preparePolicy(ctx, compiler, store, name, rules[name], meta[name])
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

// decisionRules are the rules that make a package a policy.
var decisionRules = []string{"deny", "warn", "patch", "drift"}

// isPolicy reports whether a package defining rules is a policy (defines a
// decision rule) rather than a helper.
func isPolicy(defined map[string]bool) bool {
	return slices.ContainsFunc(decisionRules, func(r string) bool { return defined[r] })
}

// policyName is the <name> of a module of package driftguard.policies.<name>.
func policyName(m *ast.Module) (string, bool) {
	pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
	name, ok := strings.CutPrefix(pkg, PackagePrefix)
	return name, ok && !strings.Contains(name, ".")
}

func preparePolicy(ctx context.Context, c *ast.Compiler, store storage.Store, name string, defined map[string]bool, md metadata) (*Policy, error) {
	ref := "data.driftguard.policies." + name
	p := &Policy{Name: name, Kinds: []string{"*"}, Operations: []string{"*"}, Description: md.description}
	if md.kinds != nil {
		p.Kinds = md.kinds
	}
	if md.operations != nil {
		p.Operations = md.operations
	}
	p.Changes, p.changes = md.changes, md.parsedChanges
	for _, r := range decisionRules {
		if defined[r] {
			p.Rules = append(p.Rules, r)
		}
	}
	if len(p.Rules) == 0 {
		return nil, nil // a helper package without decisions
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
