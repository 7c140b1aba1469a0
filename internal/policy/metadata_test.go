package policy

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// A policy's METADATA sets its kinds, operations and description; without
// one it sees every kind and operation. The block may sit in any one file
// of a policy split across files.
func TestMetadataAnnotations(t *testing.T) {
	s, err := Compile(context.Background(), []Source{
		{Name: "owned.rego", Text: `# A header comment is not metadata.

# METADATA
# description: >-
#   Reject hand edits: of owned
#   fields.
# custom:
#   kinds: [Secret, ConfigMap]
#   operations: [UPDATE, DELETE]
package driftguard.policies.owned

deny contains "x" if input.x
`},
		{Name: "any.rego", Text: `package driftguard.policies.any

warn contains "y" if input.y
`},
		{Name: "split_a.rego", Text: `package driftguard.policies.split

deny contains "a" if input.a
`},
		{Name: "split_b.rego", Text: `# METADATA
# custom:
#   kinds: ["*"]
#   operations: [CREATE]
package driftguard.policies.split

warn contains "b" if input.b
`},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, desc string
		kinds, ops []string
	}{
		{"owned", "Reject hand edits: of owned fields.", []string{"Secret", "ConfigMap"}, []string{"UPDATE", "DELETE"}},
		{"any", "", []string{"*"}, []string{"*"}},
		{"split", "", []string{"*"}, []string{"CREATE"}},
	} {
		p := s.Get(c.name)
		if p == nil {
			t.Fatalf("policy %s not loaded", c.name)
		}
		if p.Description != c.desc || !reflect.DeepEqual(p.Kinds, c.kinds) || !reflect.DeepEqual(p.Operations, c.ops) {
			t.Errorf("%s: kinds %q operations %q description %q; want %q %q %q", c.name, p.Kinds, p.Operations, p.Description, c.kinds, c.ops, c.desc)
		}
	}
	if got := names(s.Matching("Secret", "DELETE")); !reflect.DeepEqual(got, []string{"any", "owned"}) {
		t.Errorf("Secret DELETE matches %v", got)
	}
	if got := names(s.Matching("Secret", "CREATE")); !reflect.DeepEqual(got, []string{"any", "split"}) {
		t.Errorf("Secret CREATE matches %v", got)
	}
}

func names(ps []*Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// Mistakes in METADATA, and the old meta rule, fail the load with the
// file and line they are on.
func TestMetadataErrors(t *testing.T) {
	const deny = "\ndeny contains \"x\" if input.x\n"
	cases := map[string]struct{ text, want string }{
		"unknown operation": {"# METADATA\n# custom:\n#   kinds: [Pod]\n#   operations: [UPDATE, PATCH]\npackage driftguard.policies.p" + deny,
			`p.rego:4: policy p: METADATA custom.operations: "PATCH" is not one of CREATE, UPDATE, DELETE, CONNECT, "*"`},
		"lower-case operation": {"# METADATA\n# custom:\n#   operations: [update]\npackage driftguard.policies.p" + deny,
			`p.rego:3: policy p: METADATA custom.operations: "update" is not one of`},
		"kinds a string": {"# METADATA\n# description: d\n# custom:\n#   kinds: Pod\npackage driftguard.policies.p" + deny,
			"p.rego:4: policy p: METADATA custom.kinds must be a non-empty list of strings"},
		"kinds with a number": {"# METADATA\n# custom:\n#   kinds: [Pod, 3]\npackage driftguard.policies.p" + deny,
			"p.rego:3: policy p: METADATA custom.kinds must be a non-empty list of strings"},
		"kinds empty": {"# METADATA\n# custom:\n#   kinds: []\npackage driftguard.policies.p" + deny,
			"p.rego:3: policy p: METADATA custom.kinds must be a non-empty list of strings"},
		"operations a map": {"# METADATA\n# custom:\n#   operations: {UPDATE: true}\npackage driftguard.policies.p" + deny,
			"p.rego:3: policy p: METADATA custom.operations must be a non-empty list of strings"},
		"misspelt key": {"# METADATA\n# custom:\n#   kinds: [Pod]\n#   operation: [UPDATE]\npackage driftguard.policies.p" + deny,
			"p.rego:4: policy p: METADATA custom.operation is not read by driftguard: custom holds only kinds, operations and changes"},
		"kinds on a rule": {"package driftguard.policies.p\n\n# METADATA\n# custom:\n#   kinds: [Pod]\ndeny contains \"x\" if input.x\n",
			"p.rego:5: METADATA custom.kinds is read only from the METADATA block right above a policy's package line"},
		"kinds on a helper package": {"# METADATA\n# custom:\n#   operations: [CREATE]\npackage driftguard.lib.p\n\nx := 1\n",
			"p.rego:3: METADATA custom.operations is read only from the METADATA block right above a policy's package line"},
		"kinds on a test package": {"# METADATA\n# custom:\n#   kinds: [Pod]\npackage driftguard.policies.p_test\n\ntest_x if true\n",
			"p.rego:3: METADATA custom.kinds is read only from the METADATA block right above a policy's package line"},
		"old meta rule": {"package driftguard.policies.p\n\nmeta := {\"kinds\": [\"Pod\"]}\n" + deny,
			`p.rego:3: policy p: a meta rule no longer selects requests: replace it with a METADATA comment block right above the package line, "# METADATA", "# description: ...", "# custom:", "#   kinds: [Deployment]", "#   operations: [UPDATE]" (see docs/policy-authoring.md)`},
		"not YAML": {"# METADATA\n# custom:\n#   kinds: [*]\npackage driftguard.policies.p" + deny,
			"p.rego:3: rego_parse_error: yaml:"},
		"two blocks for one package": {"# METADATA\n# custom:\n#   kinds: [Pod]\npackage driftguard.policies.p" + deny +
			"\n", "annotation redeclared"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			src := []Source{{Name: "p.rego", Text: c.text}}
			if name == "two blocks for one package" {
				src = append(src, Source{Name: "q.rego", Text: "# METADATA\n# custom:\n#   kinds: [Secret]\npackage driftguard.policies.p\n"})
			}
			_, err := Compile(context.Background(), src, nil)
			if err == nil {
				t.Fatalf("loaded; want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// A helper package under driftguard.policies (no decision rule) may have a
// rule named meta and METADATA of its own: only policies are refused them.
func TestMetaRuleInAHelperIsNotRefused(t *testing.T) {
	_, err := Compile(context.Background(), []Source{
		{Name: "h.rego", Text: "# METADATA\n# custom:\n#   team: platform\npackage driftguard.policies.helper\n\nmeta := {\"anything\": 1}\n"},
		{Name: "p.rego", Text: "package driftguard.policies.p\n\ndeny contains \"x\" if input.x\n"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}
