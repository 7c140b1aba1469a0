package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// ForbiddenBuiltins are the OPA built-in functions driftguard policies may
// not use: policies run on the API server's request path (every write
// waits for them) and must decide from the review and the config alone.
// http.send and net.lookup_ip_addr reach the network; opa.runtime exposes
// the process's environment and config. Everything else OPA ships stays
// available: net.cidr_* and the other net.* functions except
// net.lookup_ip_addr are pure computations on their arguments, and
// time.now_ns, rand.intn and uuid.rfc4122 neither block nor leak.
var ForbiddenBuiltins = []string{"http.send", "net.lookup_ip_addr", "opa.runtime"}

const forbiddenWhy = "is not allowed in driftguard policies: they run on the API server's request path and may not reach the network or the runtime"

// Capabilities are OPA's capabilities of this version without
// ForbiddenBuiltins. Policies are compiled, and their Rego unit tests run,
// with them.
var Capabilities = sync.OnceValue(func() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	keep := c.Builtins[:0:0]
	for _, b := range c.Builtins {
		if !isForbidden(b.Name) {
			keep = append(keep, b)
		}
	}
	c.Builtins = keep
	return c
})

func isForbidden(name string) bool {
	for _, f := range ForbiddenBuiltins {
		if name == f {
			return true
		}
	}
	return false
}

// CheckBuiltins reports every use of a forbidden built-in function in the
// modules (calls and `with` targets), each as "file:line: name is not
// allowed ...". Compiling with Capabilities would also fail, but with
// OPA's "undefined function", which does not say why.
func CheckBuiltins(modules map[string]*ast.Module) error {
	var hits []*locatedError
	seen := map[locatedError]bool{}
	add := func(ref ast.Ref, loc *ast.Location, file string) {
		name := ref.String()
		if !isForbidden(name) {
			return
		}
		h := errorAt(loc, file, "%s %s", name, forbiddenWhy)
		if !seen[*h] {
			seen[*h] = true
			hits = append(hits, h)
		}
	}
	for file, m := range modules {
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if e.IsCall() {
				if op := e.Operator(); op != nil {
					add(op, e.Location, file)
				}
			}
			for _, w := range e.With {
				if r, ok := w.Target.Value.(ast.Ref); ok {
					add(r, w.Location, file)
				}
			}
			return false
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if c, ok := t.Value.(ast.Call); ok && len(c) > 0 {
				if r, ok := c[0].Value.(ast.Ref); ok {
					loc := c[0].Location
					if loc == nil {
						loc = t.Location
					}
					add(r, loc, file)
				}
			}
			return false
		})
	}
	return joinSorted(hits)
}
