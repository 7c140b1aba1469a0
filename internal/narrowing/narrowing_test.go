package narrowing

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/policies"
)

// copyBundled writes the bundled policies (without tests) to a directory,
// with edit applied to each file's text (by slash path), and adds extra
// files.
func copyBundled(t *testing.T, edit func(name, text string) string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		b, err := fs.ReadFile(policies.FS, p)
		if err != nil {
			return err
		}
		text := string(b)
		if edit != nil {
			text = edit(p, text)
		}
		out := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, []byte(text), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func conditions(t *testing.T, o loader.Options) Conditions {
	t.Helper()
	st, src, err := loader.LoadWithSources(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := For(st, src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The bundled policies loaded from a directory copy (the repository's
// policies/ as --policies, which replaces the embedded copy) are trusted
// as the embedded ones; an edited copy of a kinds ["*"] policy, a module
// adding to its package or to a package above it, or a changed library
// is not, and narrowing is off.
func TestBundledPoliciesAreTrustedOnlyAsBundled(t *testing.T) {
	embedded := conditions(t, loader.Options{})
	if !embedded.Narrowed() {
		t.Fatalf("the embedded policies are not narrowed: %s", embedded.Wide)
	}
	dirOpts := func(dir string) loader.Options {
		o, _ := loader.PolicyOptions([]string{dir}, false)
		if !o.NoBundled {
			t.Fatalf("%s is not taken for the bundled policies", dir)
		}
		return o
	}
	same := conditions(t, dirOpts(copyBundled(t, nil, nil)))
	if same != embedded {
		t.Errorf("an identical copy gives other conditions: %+v", same)
	}
	for _, tc := range []struct {
		name  string
		edit  func(name, text string) string
		extra map[string]string
		// still is set when narrowing is to stay on
		still bool
	}{
		{name: "owned_fields edited", edit: func(name, text string) string {
			if name == "owned_fields.rego" {
				return text + "\ndeny contains {\"msg\": \"every update\"} if input.request.operation == \"UPDATE\"\n"
			}
			return text
		}},
		{name: "a comment changed in deprecated_apis", edit: func(name, text string) string {
			if name == "deprecated_apis.rego" {
				return strings.Replace(text, "# Manifests", "# manifests", 1)
			}
			return text
		}},
		{name: "the library edited", edit: func(name, text string) string {
			if name == "lib/driftguard.rego" {
				return text + "\nunused_helper := true\n"
			}
			return text
		}},
		{name: "a module adding to owned_fields", extra: map[string]string{"more.rego": "package driftguard.policies.owned_fields\n\ndeny contains {\"msg\": \"x\"} if input.object.spec.x\n"}},
		{name: "a ref head rule above operator_state", extra: map[string]string{"more.rego": "package driftguard.policies\n\noperator_state.deny contains {\"msg\": \"x\"} if input.object.spec.x\n"}},
		{name: "a module in the library's package", extra: map[string]string{"more.rego": "package driftguard.lib\n\nmore_helper := 1\n"}},
		// a policy of the user's own with a kinds list changes nothing of the bundled ones
		{name: "a user's policy with kinds", still: true, extra: map[string]string{"mine.rego": "# METADATA\n# custom:\n#   kinds: [Service]\npackage driftguard.policies.mine\n\ndeny contains {\"msg\": \"x\"} if input.object.spec.x\n"}},
		// an edited copy of a policy with a kinds list is simply loaded
		{name: "mutable_tags edited", still: true, edit: func(name, text string) string {
			if name == "mutable_tags.rego" {
				return text + "\n# edited\n"
			}
			return text
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conditions(t, dirOpts(copyBundled(t, tc.edit, tc.extra)))
			if c.Narrowed() != tc.still {
				t.Errorf("narrowed %v, want %v (%s)", c.Narrowed(), tc.still, c.Wide)
			}
			if !c.Narrowed() && (c.Validate != "" || c.Mutate != "") {
				t.Errorf("no condition, but expressions: %+v", c)
			}
			t.Logf("wide: %q", c.Wide)
		})
	}
}

// A config string cannot end a CEL string literal or break the
// expression.
func TestCELString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":      `'plain'`,
		"it's":       `'it\'s'`,
		`a\b`:        `'a\\b'`,
		"two\nlines": `'two\nlines'`,
		"nul\x00":    `'nul\x00'`,
		"Grüße":      `'Grüße'`,
	} {
		if got := celString(in); got != want {
			t.Errorf("celString(%q) = %s, want %s", in, got, want)
		}
	}
}

// Replicas loading the same files compute the same text (map order, e.g.
// of deprecated_apis' table, must not show), so they never rewrite each
// other's condition.
func TestSameInputsSameConditions(t *testing.T) {
	first := conditions(t, loader.Options{})
	for range 5 {
		bundledOnce = sync.Once{} // as in another process
		if c := conditions(t, loader.Options{}); c != first {
			t.Fatalf("another load gives other conditions:\n%s\n%s", c.Validate, first.Validate)
		}
	}
}

// BenchmarkFor: what each reload adds with --narrow-webhooks (the
// bundled policies, the default config; the embedded bundle is read once
// per process, before the loop).
func BenchmarkFor(b *testing.B) {
	st, src, err := loader.LoadWithSources(context.Background(), loader.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := For(st, src); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := For(st, src); err != nil {
			b.Fatal(err)
		}
	}
}
