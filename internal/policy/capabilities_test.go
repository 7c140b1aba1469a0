package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A policy that calls a network or runtime builtin fails to compile with
// a message naming the builtin, the file and the line; pure net.cidr_*
// functions still compile.
func TestForbiddenBuiltinsFailToLoad(t *testing.T) {
	cases := map[string]struct{ text, want string }{
		"http.send": {`package driftguard.policies.x
deny contains "up" if {
	resp := http.send({"method": "GET", "url": "http://example.com"})
	resp.status_code == 200
}
`, "x.rego:3: http.send is not allowed in driftguard policies: they run on the API server's request path and may not reach the network or the runtime"},
		"net.lookup_ip_addr": {`package driftguard.policies.x
deny contains "resolves" if {
	count(net.lookup_ip_addr("example.com")) > 0
}
`, "x.rego:3: net.lookup_ip_addr is not allowed"},
		"opa.runtime in a function": {`package driftguard.policies.x
env := opa.runtime().env
deny contains "env" if env.HOME
`, "x.rego:2: opa.runtime is not allowed"},
		"mocked with with": {`package driftguard.policies.x
deny contains "x" if {
	input.a with http.send as {"status_code": 200}
}
`, "x.rego:3: http.send is not allowed"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(context.Background(), []Source{{Name: "x.rego", Text: c.text}}, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	ok := `package driftguard.policies.x
deny contains "internal address" if net.cidr_contains("10.0.0.0/8", input.ip)
`
	if _, err := Compile(context.Background(), []Source{{Name: "x.rego", Text: ok}}, nil); err != nil {
		t.Fatalf("net.cidr_contains is pure and must compile: %v", err)
	}
}

// The compiler itself runs with capabilities that lack the forbidden
// builtins (the pre-check above could miss a form of call it does not
// know; the compiler does not).
func TestCapabilitiesExcludeForbiddenBuiltins(t *testing.T) {
	have := map[string]bool{}
	for _, b := range Capabilities().Builtins {
		have[b.Name] = true
	}
	for _, f := range ForbiddenBuiltins {
		if have[f] {
			t.Errorf("capabilities include %s", f)
		}
	}
	for _, f := range []string{"net.cidr_contains", "time.now_ns", "sprintf", "numbers.range"} {
		if !have[f] {
			t.Errorf("capabilities lack %s", f)
		}
	}
	modules, err := ParseModules(nil)
	if err != nil || len(modules) != 0 {
		t.Fatal(modules, err)
	}
	// bypass the pre-check: the compiler rejects the call on its own
	m := map[string]string{"x.rego": "package driftguard.policies.x\ndeny contains 1 if http.send({}).status_code == 200\n"}
	if err := compileWithoutCheck(m); err == nil || !strings.Contains(err.Error(), "http.send") {
		t.Fatalf("compiler with driftguard's capabilities accepted http.send: %v", err)
	}
}

func compileWithoutCheck(files map[string]string) error {
	modules := map[string]*ast.Module{}
	for name, text := range files {
		m, err := ast.ParseModuleWithOpts(name, text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		modules[name] = m
	}
	c := ast.NewCompiler().WithCapabilities(Capabilities())
	c.Compile(modules)
	if c.Failed() {
		return c.Errors
	}
	return nil
}
