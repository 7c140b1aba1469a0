// Package policy loads, compiles and evaluates driftguard's Rego policies.
//
// A policy is a Rego v1 package driftguard.policies.<name> that may define
//
//	meta   := {"kinds": [...], "operations": [...], "description": "..."}
//	deny   contains {"msg": ..., "field": ...}   # a denial (or a warning in warn mode)
//	warn   contains {"msg": ..., "field": ...}   # an admission warning
//	patch  contains {"op": ..., "path": ..., "value": ...}  # JSON patch ops (mutating webhook)
//	drift  contains {"msg": ..., "field": ...}   # drift of a live object (audit)
//
// All policies are compiled once into one compiler; each gets prepared
// queries, and a request is evaluated only by the policies whose meta
// matches its kind and operation. See docs/policy-authoring.md.
package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// PackagePrefix is the Rego package under which policies live.
const PackagePrefix = "driftguard.policies."

// Source is one Rego file.
type Source struct {
	Name string // file path or embedded name, for messages
	Text string
}

// Policy is one compiled policy.
type Policy struct {
	Name        string
	Kinds       []string // kind names, or "*"
	Operations  []string // CREATE, UPDATE, DELETE, CONNECT, or "*"
	Description string
	Rules       []string // which of deny, warn, patch, drift it defines

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
}

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
}

// ReadDir reads the .rego files of a directory tree. Test files
// (*_test.rego) are included only when withTests is set.
func ReadDir(fsys fs.FS, root string, withTests bool) ([]Source, error) {
	var out []Source
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir // ConfigMap mounts keep old copies in ..data dirs
			}
			return nil
		}
		if !strings.HasSuffix(p, ".rego") || (!withTests && strings.HasSuffix(p, "_test.rego")) {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out = append(out, Source{Name: p, Text: string(b)})
		return nil
	})
	return out, err
}

// ReadDirs reads Rego files from directories on disk.
func ReadDirs(dirs []string, withTests bool) ([]Source, error) {
	var out []Source
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		src, err := ReadDir(os.DirFS(abs), ".", withTests)
		if err != nil {
			return nil, fmt.Errorf("policy directory %s: %w", d, err)
		}
		for i := range src {
			src[i].Name = filepath.Join(d, src[i].Name)
		}
		out = append(out, src...)
	}
	return out, nil
}

// ParseModules parses the sources as Rego v1 modules, by name; all parse
// errors (and names loaded twice) are returned together, and so are uses
// of ForbiddenBuiltins (see CheckBuiltins).
func ParseModules(sources []Source) (map[string]*ast.Module, error) {
	modules := make(map[string]*ast.Module, len(sources))
	var errs []error
	for _, s := range sources {
		m, err := ast.ParseModuleWithOpts(s.Name, s.Text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := modules[s.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: loaded twice", s.Name))
		}
		modules[s.Name] = m
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("parse policies: %w", errors.Join(errs...))
	}
	if err := CheckBuiltins(modules); err != nil {
		return nil, fmt.Errorf("parse policies: %w", err)
	}
	return modules, nil
}

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

// combinedFor returns the combined query of a matching policy list,
// preparing it on first use; nil when there is none (fewer than two
// policies, or preparing failed: the policies are then evaluated one by
// one). Lists of different kinds with the same policies share it.
func (s *Set) combinedFor(ctx context.Context, l *policyList) *rego.PreparedEvalQuery {
	if len(l.policies) < 2 {
		return nil
	}
	return s.combinedQuery(ctx, l.key, l.policies, nil)
}

// combinedQuery returns the query evaluating rules (nil: all admission
// rules) of policies at once, cached under key.
func (s *Set) combinedQuery(ctx context.Context, key string, ps []*Policy, rules [][]string) *rego.PreparedEvalQuery {
	s.mu.RLock()
	cq, done := s.combined[key]
	s.mu.RUnlock()
	if done {
		return cq
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cq, done := s.combined[key]; done {
		return cq
	}
	var exprs []string
	for i, p := range ps {
		rs := AdmissionRules
		if rules != nil {
			rs = rules[i]
		}
		exprs = append(exprs, p.admitExprs(fmt.Sprintf("p%d_", i), rs)...)
	}
	if len(exprs) > 0 {
		// not under the request's deadline: the query is kept for later requests
		q, err := rego.New(rego.Compiler(s.compiler), rego.Store(s.store), rego.StoreReadAST(true),
			rego.Query(strings.Join(exprs, "; "))).PrepareForEval(context.WithoutCancel(ctx))
		if err == nil {
			cq = &q
		}
	}
	s.combined[key] = cq
	return cq
}

// AdmitAll evaluates the admission rules of the policies that match kind
// and op, in one evaluation when it can. When that evaluation fails (a
// policy's runtime error, the deadline), each policy is evaluated on its
// own, so that the error is put on the policy that caused it and the
// others still answer.
func (s *Set) AdmitAll(ctx context.Context, kind, op string, in ast.Value) []Result {
	l := s.matching(kind, op)
	if l == nil || len(l.policies) == 0 {
		return nil
	}
	return s.admit(ctx, l.policies, func() *rego.PreparedEvalQuery { return s.combinedFor(ctx, l) }, in)
}

// AdmitSelected is AdmitAll for only some rules of the matching policies:
// sel returns the rules of a policy to evaluate (of AdmissionRules; those
// it does not define are ignored), none to skip the policy, which then has
// no Result. The mutating webhook uses it: it needs neither warnings nor,
// in enforce mode, denials (the validating webhook reports them).
func (s *Set) AdmitSelected(ctx context.Context, kind, op string, in ast.Value, sel func(*Policy) []string) []Result {
	l := s.matching(kind, op)
	if l == nil {
		return nil
	}
	var ps []*Policy
	var rules [][]string
	var key strings.Builder
	key.WriteString("select:")
	for _, p := range l.policies {
		var rs []string
		for _, r := range sel(p) {
			if p.Has(r) {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		ps = append(ps, p)
		rules = append(rules, rs)
		fmt.Fprintf(&key, "%s=%s,", p.Name, strings.Join(rs, "+"))
	}
	if len(ps) == 0 {
		return nil
	}
	out := s.admit(ctx, ps, func() *rego.PreparedEvalQuery { return s.combinedQuery(ctx, key.String(), ps, rules) }, in)
	for i := range out {
		// from a policy's own query (after a failed combined one): drop
		// what was not asked for
		out[i].keepOnly(rules[i])
	}
	return out
}

// admit evaluates ps with their combined query (nil: none), or one by one
// when it fails. When the request's deadline passes, only the policies
// that cannot answer even alone are blamed (see alone).
func (s *Set) admit(ctx context.Context, ps []*Policy, combined func() *rego.PreparedEvalQuery, in ast.Value) []Result {
	out := make([]Result, len(ps))
	if ctx.Err() != nil {
		// out of time before starting (OPA would notice only at its next
		// cancellation check, after doing the work)
		for i, p := range ps {
			out[i] = Result{Policy: p.Name, Err: fmt.Errorf("policy %s: %w", p.Name, ctx.Err())}
		}
		return out
	}
	if cq := combined(); cq != nil {
		rs, err := cq.Eval(ctx, rego.EvalParsedInput(in))
		if err == nil && len(rs) == 1 {
			for i, p := range ps {
				out[i] = p.results(rs[0].Bindings, fmt.Sprintf("p%d_", i))
			}
			return out
		}
		if ctx.Err() != nil {
			// Out of time: the combined query cannot say whose fault it was.
			s.alone(ctx, ps, out, in)
			return out
		}
	}
	for i, p := range ps {
		out[i] = p.Admit(ctx, in)
		if out[i].Err != nil && ctx.Err() != nil {
			// p ran out of time, or the deadline passed just before it
			// started: p and the policies after it get their own budget
			// rather than all being blamed.
			s.alone(ctx, ps[i:], out[i:], in)
			break
		}
	}
	return out
}

type requestDeadlineKey struct{}

// WithRequestDeadline records ctx's deadline (the whole request's, before
// the evaluation deadline is derived from it), so that the extra time
// that singles out a slow policy never runs past it.
func WithRequestDeadline(ctx context.Context) context.Context {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithValue(ctx, requestDeadlineKey{}, dl)
	}
	return ctx
}

// DefaultTimeoutRetry is the budget of alone when Set.TimeoutRetry is 0.
const DefaultTimeoutRetry = 500 * time.Millisecond

// TimeoutRetryFor is the TimeoutRetry for an evaluation deadline: a
// quarter of it, at most one second (so an answer takes at most
// evalTimeout plus a quarter, and never more than the API server's 30s
// webhook limit for the largest evalTimeout config allows, 29s).
func TimeoutRetryFor(evalTimeout time.Duration) time.Duration {
	return min(evalTimeout/4, time.Second)
}

// alone is called when the request's deadline passed during the
// evaluation of ps: it evaluates each policy of ps on its own, all at
// once, under one short extra budget (Set.TimeoutRetry) that starts now.
// Policies that were only caught in someone else's slow evaluation answer
// with their real results; the slow one runs out of time again and is
// the only one reported as timed out. The input is converted to a plain
// Rego value first: the lazily converted input is not safe for concurrent
// use. A request cancelled for another reason (the API server hung up)
// is not retried.
func (s *Set) alone(ctx context.Context, ps []*Policy, out []Result, in ast.Value) {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		for i, p := range ps {
			out[i] = Result{Policy: p.Name, Err: fmt.Errorf("policy %s: %w", p.Name, ctx.Err())}
		}
		return
	}
	budget := s.TimeoutRetry
	if budget <= 0 {
		budget = DefaultTimeoutRetry
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
	defer cancel()
	if dl, ok := ctx.Value(requestDeadlineKey{}).(time.Time); ok {
		// never past the whole request's deadline (requestTimeout)
		var cancel2 context.CancelFunc
		rctx, cancel2 = context.WithDeadline(rctx, dl)
		defer cancel2()
	}
	if o, ok := in.(ast.Object); ok {
		o.Foreach(func(_, _ *ast.Term) {}) // converts a lazy object in full
	}
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.Admit(rctx, in)
			if r.Err != nil && rctx.Err() != nil {
				r.Err = fmt.Errorf("policy %s: %w (it did not finish within the request's evaluation deadline, nor alone in %s more)",
					p.Name, context.DeadlineExceeded, budget)
			}
			out[i] = r
		}()
	}
	wg.Wait()
}

// keepOnly clears the results of rules not in rules.
func (r *Result) keepOnly(rules []string) {
	if !slices.Contains(rules, "deny") {
		r.Deny = nil
	}
	if !slices.Contains(rules, "warn") {
		r.Warn = nil
	}
	if !slices.Contains(rules, "patch") {
		r.Patch = nil
	}
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

var validOps = map[string]bool{"CREATE": true, "UPDATE": true, "DELETE": true, "CONNECT": true, "*": true}

func (p *Policy) readMeta(meta map[string]any) error {
	strs := func(key string) ([]string, error) {
		v, ok := meta[key]
		if !ok {
			return nil, nil
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s must be an array of strings", key)
		}
		out := make([]string, 0, len(arr))
		for _, x := range arr {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%s must be an array of strings", key)
			}
			out = append(out, s)
		}
		return out, nil
	}
	kinds, err := strs("kinds")
	if err != nil {
		return err
	}
	if len(kinds) > 0 {
		p.Kinds = kinds
	}
	ops, err := strs("operations")
	if err != nil {
		return err
	}
	for _, o := range ops {
		if !validOps[o] {
			return fmt.Errorf("operation %q is not one of CREATE, UPDATE, DELETE, CONNECT, *", o)
		}
	}
	if len(ops) > 0 {
		p.Operations = ops
	}
	p.Description, _ = meta["description"].(string)
	return nil
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

func (p *Policy) matchesOp(op string) bool {
	return slices.Contains(p.Operations, "*") || slices.Contains(p.Operations, op)
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

// Admit evaluates deny, warn and patch of one policy against a parsed input.
func (p *Policy) Admit(ctx context.Context, in ast.Value) Result {
	if p.admit == nil {
		return Result{Policy: p.Name}
	}
	rs, err := p.admit.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil {
		return Result{Policy: p.Name, Err: fmt.Errorf("policy %s: %w", p.Name, err)}
	}
	if len(rs) == 0 {
		return Result{Policy: p.Name}
	}
	return p.results(rs[0].Bindings, "")
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

// Drift evaluates the drift rule of one policy against a parsed input.
func (p *Policy) Drift(ctx context.Context, in ast.Value) Result {
	r := Result{Policy: p.Name}
	if p.drift == nil {
		return r
	}
	rs, err := p.drift.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil {
		r.Err = fmt.Errorf("policy %s: drift: %w", p.Name, err)
		return r
	}
	if len(rs) > 0 {
		r.Drift, r.Err = findings(rs[0].Bindings["drift"])
	}
	return r
}

// findings accepts a set of strings or of objects with msg (and field, owner).
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
			out = append(out, Finding{Msg: f})
		case map[string]any:
			msg, _ := f["msg"].(string)
			if msg == "" {
				return nil, fmt.Errorf("result %v has no msg", f)
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
