package narrowing

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/driftguard/driftguard/internal/policy"
	"github.com/driftguard/driftguard/policies"
)

// marksPolicies are the bundled kinds ["*"] policies whose inputs the
// expression's clauses cover (deprecated versions, revert warnings of
// audited kinds, and the marks of ownership on the objects).
var marksPolicies = []string{"deprecated_apis", "operator_state", "owned_fields", "revert_warning"}

// byNamePolicies are the bundled policies listing ConfigMap that answer
// only the ConfigMaps the config names (tenancy_guard's
// protectedConfigMaps, versionMatrix inputs).
var byNamePolicies = []string{"tenancy_guard", "version_matrix"}

// module is one parsed source: its package (without "data.") and text.
type module struct {
	pkg, text string
}

// parse reads each source's package; known maps texts already parsed
// (the bundle's) to their package, so only other texts are parsed.
func parse(sources []policy.Source, known map[string]string) ([]module, error) {
	out := make([]module, 0, len(sources))
	for _, s := range sources {
		if pkg, ok := known[s.Text]; ok {
			out = append(out, module{pkg: pkg, text: s.Text})
			continue
		}
		m, err := ast.ParseModuleWithOpts(s.Name, s.Text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, err
		}
		out = append(out, module{pkg: strings.TrimPrefix(m.Package.Path.String(), "data."), text: s.Text})
	}
	return out, nil
}

// relevant reports whether a module of package pkg can change what the
// policy name answers: its own package, the packages above it (a rule
// with a ref head there can add to it), the shared library and the
// params document.
func relevant(pkg, name string) bool {
	own := policy.PackagePrefix + name
	if pkg == own || strings.HasPrefix(own, pkg+".") {
		return true
	}
	for _, p := range []string{"driftguard.lib", "driftguard.params"} {
		if pkg == p || strings.HasPrefix(pkg, p+".") {
			return true
		}
	}
	return false
}

// texts are the sorted texts of the modules relevant to name.
func texts(mods []module, name string) []string {
	var out []string
	for _, m := range mods {
		if relevant(m.pkg, name) {
			out = append(out, m.text)
		}
	}
	slices.Sort(out)
	return out
}

type bundle struct {
	modules []module
	pkgs    map[string]string // text → package
	// deprecated are deprecated_apis' builtin rows: group, version, kind
	deprecated []deprecatedRow
}

type deprecatedRow struct{ group, version, kind string }

var (
	bundledOnce sync.Once
	bundled     bundle
	bundledErr  error
)

// theBundle parses the embedded policies and reads deprecated_apis'
// builtin table (once).
func theBundle() (bundle, error) {
	bundledOnce.Do(func() {
		src, err := policy.ReadDir(policies.FS, ".", false)
		if err != nil {
			bundledErr = err
			return
		}
		mods, err := parse(src, nil)
		if err != nil {
			bundledErr = fmt.Errorf("bundled policies: %w", err)
			return
		}
		opts := []func(*rego.Rego){rego.Query("data.driftguard.policies.deprecated_apis.builtin")}
		for _, s := range src {
			opts = append(opts, rego.Module(s.Name, s.Text))
		}
		rs, err := rego.New(opts...).Eval(context.Background())
		if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
			bundledErr = fmt.Errorf("reading deprecated_apis' builtin table: %v", err)
			return
		}
		table, _ := rs[0].Expressions[0].Value.(map[string]any)
		var rows []deprecatedRow
		for _, v := range table {
			list, _ := v.([]any)
			for _, r := range list {
				rows = append(rows, rowOf(r))
			}
		}
		if len(rows) == 0 {
			bundledErr = fmt.Errorf("deprecated_apis' builtin table is empty")
			return
		}
		pkgs := map[string]string{}
		for _, m := range mods {
			pkgs[m.text] = m.pkg
		}
		bundled = bundle{modules: mods, pkgs: pkgs, deprecated: rows}
	})
	return bundled, bundledErr
}

// rowOf reads a deprecated_apis row (builtin or params.extra); a missing
// kind is "*".
func rowOf(v any) deprecatedRow {
	m, _ := v.(map[string]any)
	s := func(k string) string { x, _ := m[k].(string); return x }
	r := deprecatedRow{group: s("group"), version: s("version"), kind: s("kind")}
	if r.kind == "" {
		r.kind = "*"
	}
	return r
}

// trusted reports, for each of names, whether the loaded modules relevant
// to it are exactly the bundled ones.
func trusted(loaded []module, b bundle, names []string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		out[n] = slices.Equal(texts(loaded, n), texts(b.modules, n))
	}
	return out
}
