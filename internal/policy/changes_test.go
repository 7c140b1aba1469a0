package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

func field(n string) fieldpath.PathElement { return fieldpath.PathElement{FieldName: &n} }

func keyed(name string) fieldpath.PathElement {
	fl := value.FieldList{{Name: "name", Value: value.NewValueInterface(name)}}
	return fieldpath.PathElement{Key: &fl}
}

// fp builds a change path: "a.b" fields, "[x]" a keyed item named x.
func fp(s string) fieldpath.Path {
	var out fieldpath.Path
	for _, part := range strings.Split(s, ".") {
		name, item, _ := strings.Cut(part, "[")
		out = append(out, field(name))
		if item != "" {
			out = append(out, keyed(strings.TrimSuffix(item, "]")))
		}
	}
	return out
}

func TestPathPatterns(t *testing.T) {
	cases := []struct {
		pattern string
		change  string
		touches bool
	}{
		{"spec.template.spec.containers[*].image", "spec.template.spec.containers[api].image", true},
		{"spec.template.spec.containers.*.image", "spec.template.spec.containers[api].image", true},
		{"spec.template.spec.containers[*].image", "spec.template.spec.containers[api].env", false},
		{"spec.template.spec.containers[*].image", "spec.template.spec.containers", true}, // the list replaced
		{"spec.template.spec.containers[*].image", "spec", true},                          // the spec replaced
		{"spec.template.spec.containers[*].image", "spec.replicas", false},
		{"data", "data.password", true},
		{"data", "stringData.password", false},
		{"data", "dataX", false},
		{"metadata.labels", "metadata.annotations.x", false},
		{"spec.*.replicas", "spec.template.replicas", true},
	}
	for _, c := range cases {
		p, err := parsePattern(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := p.touches(fp(c.change)); got != c.touches {
			t.Errorf("%s touches %s: %v, want %v", c.pattern, c.change, got, c.touches)
		}
	}
	// a named step is a field, never a list item of that name
	p, _ := parsePattern("spec.containers.api")
	if p.touches(fieldpath.Path{field("spec"), field("containers"), keyed("api")}) {
		t.Error("spec.containers.api matched the list item named api")
	}
	// [name] is a field with dots
	p, _ = parsePattern("metadata.annotations[driftguard.io/owner]")
	if !p.touches(fieldpath.Path{field("metadata"), field("annotations"), field("driftguard.io/owner")}) ||
		p.touches(fieldpath.Path{field("metadata"), field("annotations"), field("other")}) {
		t.Error("metadata.annotations[driftguard.io/owner] does not match exactly that annotation")
	}
	for _, bad := range []string{"", ".spec", "spec.", "spec..x", "spec[", "spec[]", "spec]x", "spec[*]x"} {
		if _, err := parsePattern(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Three policies on Deployment UPDATE: a reacts to spec.replicas, b to
// containers' images, c declares nothing (every change).
var changesSources = []Source{
	{Name: "a.rego", Text: `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
#   changes: [spec.replicas]
package driftguard.policies.a
deny contains "a" if input.request.name == "x"
`},
	{Name: "b.rego", Text: `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
#   changes:
#     - spec.template.spec.containers[*].image
package driftguard.policies.b
deny contains "b" if input.request.name == "x"
`},
	{Name: "c.rego", Text: `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.c
deny contains "c" if input.request.name == "x"
`},
}

func denied(rs []Result) string {
	var out []string
	for _, r := range rs {
		switch {
		case r.Err != nil:
			out = append(out, r.Policy+"!")
		case r.Skipped:
			out = append(out, r.Policy+"-")
		case len(r.Deny) > 0:
			out = append(out, r.Policy+"+")
		}
	}
	return strings.Join(out, ",")
}

func TestAdmitSkipsWhatNoChangeTouches(t *testing.T) {
	ctx := context.Background()
	s, err := Compile(ctx, changesSources, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Get("b").Changes; len(got) != 1 || got[0] != "spec.template.spec.containers[*].image" {
		t.Fatalf("b's changes: %v", got)
	}
	ch := func(paths ...string) *Changes {
		c := &Changes{}
		for _, p := range paths {
			c.Paths = append(c.Paths, fp(p))
		}
		return c
	}
	for _, c := range []struct {
		ch   *Changes
		want string
	}{
		{nil, "a+,b+,c+"},                 // unknown: everything
		{ch(), "a-,b-,c+"},                // nothing changes
		{ch("spec.replicas"), "a+,b-,c+"}, // a scale
		{ch("spec.template.spec.containers[api].image"), "a-,b+,c+"},
		{ch("spec.replicas", "spec.template.spec.containers[api].image"), "a+,b+,c+"},
		{ch("metadata.labels.x"), "a-,b-,c+"},
		{ch("spec"), "a+,b+,c+"}, // above both
	} {
		if got := denied(s.AdmitAll(ctx, "Deployment", "UPDATE", in("x", false), c.ch)); got != c.want {
			t.Errorf("AdmitAll with changes %v: %s, want %s", c.ch, got, c.want)
		}
		// the mutating webhook's selection skips the same policies (no Result)
		want := strings.NewReplacer("a-,", "", "b-,", "", ",b-", "").Replace(c.want)
		sel := func(*Policy) []string { return []string{"deny"} }
		if got := denied(s.AdmitSelected(ctx, "Deployment", "UPDATE", in("x", false), c.ch, sel)); got != want {
			t.Errorf("AdmitSelected with changes %v: %s, want %s", c.ch, got, want)
		}
	}
	s.EvaluateAll = true
	if got := denied(s.AdmitAll(ctx, "Deployment", "UPDATE", in("x", false), ch())); got != "a+,b+,c+" {
		t.Errorf("EvaluateAll: %s", got)
	}
}

// The combined queries prepared for the subsets that changes select are
// bounded (the changes are the caller's to choose): past maxSubsets the
// whole list's query answers, with the same answers.
func TestSubsetQueriesBounded(t *testing.T) {
	ctx := context.Background()
	var src []Source
	for i := range 10 {
		src = append(src, Source{Name: fmt.Sprintf("p%d.rego", i), Text: fmt.Sprintf(`# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
#   changes: [spec.f%d]
package driftguard.policies.p%d
deny contains "p%d" if input.request.name == "x"
`, i, i, i)})
	}
	s, err := Compile(ctx, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	for mask := range 1 << 10 {
		c := &Changes{}
		var want []string
		for i := range 10 {
			if mask&(1<<i) != 0 {
				c.Paths = append(c.Paths, fp(fmt.Sprintf("spec.f%d", i)))
				want = append(want, fmt.Sprintf("p%d+", i))
			} else {
				want = append(want, fmt.Sprintf("p%d-", i))
			}
		}
		if got := denied(s.AdmitAll(ctx, "Deployment", "UPDATE", in("x", false), c)); got != strings.Join(want, ",") {
			t.Fatalf("mask %b: %s, want %s", mask, got, strings.Join(want, ","))
		}
	}
	if s.subsets > maxSubsets || len(s.combined) > maxSubsets+1 {
		t.Errorf("%d subset queries, %d combined queries prepared; at most %d", s.subsets, len(s.combined), maxSubsets)
	}
	if s.subsets < maxSubsets {
		t.Errorf("only %d subset queries prepared: the bound was not reached", s.subsets)
	}
	// past the bound the mutating webhook's selection is answered by the
	// whole list's query too, without the skipped policies' Results
	sel := func(*Policy) []string { return []string{"deny"} }
	for _, mask := range []int{0b1011, 0b0110011001, 0b1111111110} {
		c := &Changes{}
		var want []string
		for i := range 10 {
			if mask&(1<<i) != 0 {
				c.Paths = append(c.Paths, fp(fmt.Sprintf("spec.f%d", i)))
				want = append(want, fmt.Sprintf("p%d+", i))
			}
		}
		if got := denied(s.AdmitSelected(ctx, "Deployment", "UPDATE", in("x", false), c, sel)); got != strings.Join(want, ",") {
			t.Errorf("AdmitSelected, mask %b, past the bound: %s, want %s", mask, got, strings.Join(want, ","))
		}
	}
}

func TestChangesMetadataErrors(t *testing.T) {
	for _, c := range []struct{ changes, want string }{
		{"changes: spec", "custom.changes must be a non-empty list of strings, e.g. [spec.replicas, metadata.labels]"},
		{"changes: [\"spec..x\"]", "custom.changes: \"spec..x\": an empty step"},
	} {
		_, err := Compile(context.Background(), []Source{{Name: "p.rego", Text: "# METADATA\n# custom:\n#   " + c.changes + "\npackage driftguard.policies.p\ndeny contains \"x\"\n"}}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.changes, err, c.want)
		}
	}
}
