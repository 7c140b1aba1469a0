package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func repoRoot() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(f), "..", "..")
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// teamLabel is a small policy with every rule: deny, warn, patch, drift.
const teamLabel = `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [CREATE, UPDATE]
package driftguard.policies.team_label

deny contains {"msg": msg, "field": "metadata.labels[team]"} if {
	not input.object.metadata.labels.team
	msg := sprintf("Deployment %s has no team label; add metadata.labels.team", [input.request.name])
}

warn contains "more than 5 replicas" if input.object.spec.replicas > 5

patch contains {"op": "add", "path": "/metadata/annotations/example.com~1checked", "value": "yes"} if {
	input.object.metadata.annotations
}

drift contains {"msg": "no team label", "field": "metadata.labels[team]"} if {
	not input.object.metadata.labels.team
}
`

const teamLabelTests = `package driftguard.policies.team_label_test

import data.driftguard.policies.team_label

test_missing_label_denied if {
	count(team_label.deny) == 1 with input as {"request": {"name": "x"}, "object": {"metadata": {}}}
}

test_deliberately_wrong if {
	count(team_label.deny) == 2 with input as {"request": {"name": "x"}, "object": {"metadata": {}}}
}
`

const deployment = `
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: web
        namespace: tenant-b
        uid: 11111111-2222-3333-4444-555555555555
        resourceVersion: "7"
        labels: {app: web, team: payments}
        annotations: {note: x}
      spec: {replicas: 2}
`

func indent(s, pad string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + strings.TrimPrefix(l, "      ")
	}
	return strings.Join(lines, "\n")
}

func policyDir(t *testing.T) string {
	dir := t.TempDir()
	write(t, dir, "team_label.rego", teamLabel)
	return dir
}

func load(t *testing.T, o Options, file string) (*Runner, []*Suite, error) {
	t.Helper()
	r := NewRunner(o)
	s, err := r.LoadFiles(context.Background(), []string{file})
	return r, s, err
}

func runOne(t *testing.T, o Options, content string) []CaseResult {
	t.Helper()
	dir := t.TempDir()
	f := write(t, dir, "x.suite.yaml", content)
	r, suites, err := load(t, o, f)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	res := r.RunSuites(context.Background(), suites)
	if len(res) != 1 {
		t.Fatalf("got %d suite results", len(res))
	}
	return res[0].Cases
}

func byName(t *testing.T, cs []CaseResult) map[string]CaseResult {
	m := map[string]CaseResult{}
	for _, c := range cs {
		m[c.Name] = c
	}
	return m
}

func TestMatcher(t *testing.T) {
	var ms []Matcher
	in := `["plain", {"contains": ["a", "b"], "regex": "^a.*b$"}, {"equals": "x"}, {"notContains": "secret"}]`
	if err := json.Unmarshal([]byte(in), &ms); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		m    int
		s    string
		want bool
	}{
		{0, "a plain text", true}, {0, "other", false},
		{1, "a and b", true}, {1, "b and a", false}, {1, "a only", false},
		{2, "x", true}, {2, "xx", false},
		{3, "fine", true}, {3, "my secret", false},
	}
	for _, c := range cases {
		if got := ms[c.m].Match(c.s); got != c.want {
			t.Errorf("matcher %d (%s) on %q = %v, want %v", c.m, &ms[c.m], c.s, got, c.want)
		}
	}
	for _, bad := range []string{`{"regex": "("}`, `{"contain": "x"}`, `{}`, `3`} {
		var m Matcher
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("matcher %s: no error", bad)
		}
	}
}

func TestPlural(t *testing.T) {
	for kind, want := range map[string]string{
		"Deployment": "deployments", "Ingress": "ingresses", "NetworkPolicy": "networkpolicies",
		"Gateway": "gateways", "Endpoints": "endpoints", "Secret": "secrets",
	} {
		if got := Plural(kind); got != want {
			t.Errorf("Plural(%s) = %s, want %s", kind, got, want)
		}
	}
}

// Every kind of expectation passes when right and fails, with a reason,
// when wrong.
func TestExpectations(t *testing.T) {
	o := Options{PolicyDirs: []string{policyDir(t)}}
	obj := indent(deployment, "      ")
	suite := `name: team
now: "2026-01-02T03:04:05Z"
cases:
  - name: ok
    operation: CREATE
    object:
` + obj + `
    userInfo: {username: alice}
    expect:
      allowed: true
      warnings: []
      patch: [{op: add, path: /metadata/annotations/example.com~1checked, value: "yes"}]
      patchCount: 1
      decisions: {team_label: allow, owned_fields: skipped}
      drift: {team_label: []}
  - name: denied
    operation: CREATE
    object:
` + obj + `
    objectPatch: [{op: remove, path: /metadata/labels/team}, {op: replace, path: /spec/replicas, value: 9}]
    userInfo: {username: alice}
    expect:
      allowed: false
      message: {contains: "Deployment web has no team label", regex: "^driftguard: \\[team_label\\]"}
      warnings: ["[team_label] more than 5 replicas"]
      warningCount: 1
      decisions: {team_label: deny}
      drift: {team_label: [{field: "metadata.labels[team]", msg: "no team label"}]}
  - name: wrong allowed
    operation: CREATE
    object:
` + obj + `
    expect: {allowed: false}
  - name: wrong message
    operation: CREATE
    object:
` + obj + `
    objectPatch: [{op: remove, path: /metadata/labels/team}]
    expect: {message: {regex: "nothing like this"}}
  - name: wrong warnings
    operation: CREATE
    object:
` + obj + `
    expect: {warnings: ["a warning that never comes"]}
  - name: wrong warning count
    operation: CREATE
    object:
` + obj + `
    objectPatch: [{op: replace, path: /spec/replicas, value: 9}]
    expect: {warningCount: 0}
  - name: wrong patch value
    operation: CREATE
    object:
` + obj + `
    expect: {patch: [{op: add, path: /metadata/annotations/example.com~1checked, value: "no"}]}
  - name: unexpected patch
    operation: CREATE
    object:
` + obj + `
    expect: {patch: []}
  - name: wrong decision
    operation: CREATE
    object:
` + obj + `
    expect: {decisions: {team_label: deny}}
  - name: wrong drift
    operation: AUDIT
    object:
` + obj + `
    expect: {drift: {team_label: [{msg: "no team label"}]}}
  - name: unexpected drift
    operation: AUDIT
    object:
` + obj + `
    objectPatch: [{op: remove, path: /metadata/labels/team}]
    expect: {drift: {team_label: []}}
  - name: skipped one
    skip: not today
    operation: CREATE
    object:
` + obj + `
    expect: {allowed: false}
`
	got := byName(t, runOne(t, o, suite))
	for name, want := range map[string]string{
		"ok": "", "denied": "",
		"wrong allowed":       "allowed: got true, want false",
		"wrong message":       `does not match: matches /nothing like this/`,
		"wrong warnings":      `no warning matches: contains "a warning that never comes"; got none`,
		"wrong warning count": "warningCount: got 1, want 0",
		"wrong patch value":   `patch: no operation add /metadata/annotations/example.com~1checked "no"`,
		"unexpected patch":    "patch: want none, got",
		"wrong decision":      "decisions.team_label: got allow, want deny",
		"wrong drift":         "drift.team_label: no finding with msg contains \"no team label\"; got none",
		"unexpected drift":    "drift.team_label: want no findings, got",
	} {
		c, ok := got[name]
		if !ok {
			t.Errorf("%s: no result", name)
			continue
		}
		if want == "" {
			if c.Status != StatusPass {
				t.Errorf("%s: %s: %s", name, c.Status, c.Reason)
			}
			continue
		}
		if c.Status != StatusFail || !strings.Contains(c.Reason, want) {
			t.Errorf("%s: got %s %q, want fail containing %q", name, c.Status, c.Reason, want)
		}
	}
	if c := got["skipped one"]; c.Status != StatusSkip || c.Reason != "not today" {
		t.Errorf("skipped one: %s %q", c.Status, c.Reason)
	}
}

// Fixtures reuse uids and resourceVersions with different managedFields:
// ownership must come from each case's own object, not a cache.
func TestNoManagedFieldsCacheBetweenCases(t *testing.T) {
	mk := func(name, manager string) string {
		return `  - name: ` + name + `
    oldObject:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: api
        namespace: tenant-a
        uid: 0d0c6b2e-0000-4000-8000-000000000001
        resourceVersion: "42"
        managedFields:
          - manager: ` + manager + `
            operation: Apply
            apiVersion: apps/v1
            fieldsType: FieldsV1
            fieldsV1: {"f:spec": {"f:replicas": {}}}
      spec: {replicas: 2}
    objectPatch: [{op: replace, path: /spec/replicas, value: 3}]
    userInfo: {username: alice}
`
	}
	suite := "cases:\n" + mk("owned by terraform", "Terraform") + "    expect: {allowed: false}\n" +
		mk("owned by someone else", "helm") + "    expect: {allowed: true}\n" +
		mk("owned by terraform again", "Terraform") + "    expect: {allowed: false}\n"
	for _, c := range runOne(t, Options{}, suite) {
		if c.Status != StatusPass {
			t.Errorf("%s: %s: %s", c.Name, c.Status, c.Reason)
		}
	}
}

func TestReviewsAndOverrides(t *testing.T) {
	root := repoRoot()
	review := filepath.Join(root, "test", "fixtures", "reviews", "set-image-alice.json")
	dir := t.TempDir()
	write(t, dir, "bad-review.yaml", `apiVersion: admission.k8s.io/v1
kind: AdmissionReview
request:
  uid: u1
  kind: {group: apps, version: v1, kind: Deployment}
  operation: UPDATE
  object: "not an object"
  oldObject: {}
`)
	suite := `cases:
  - name: review as is
    review: ` + review + `
    expect: {allowed: false, message: "is owned by Terraform"}
  - name: review with the terraform runner
    review: ` + review + `
    userInfo: {username: "system:serviceaccount:infra:terraform"}
    fieldManager: Terraform
    expect: {allowed: true}
  - name: review in warn mode
    review: ` + review + `
    configOverrides: {policies: {owned_fields: {mode: warn}}}
    expect: {allowed: true, warnings: ["allowed by warn mode"], patch: [{op: add, path: /metadata/annotations}]}
  - name: review inline yaml
    review:
      apiVersion: admission.k8s.io/v1
      kind: AdmissionReview
      request:
        uid: u2
        kind: {group: "", version: v1, kind: ConfigMap}
        resource: {group: "", version: v1, resource: configmaps}
        namespace: default
        name: c
        operation: CREATE
        userInfo: {username: alice}
        object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: default}}
    expect: {allowed: true, warnings: []}
  - name: unusable review
    review: bad-review.yaml
    expect: {error: "request.object"}
  - name: unusable review not expected
    review: bad-review.yaml
    expect: {allowed: true}
`
	f := write(t, dir, "r.suite.yaml", suite)
	r, suites, err := load(t, Options{}, f)
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, r.RunSuites(context.Background(), suites)[0].Cases)
	for _, n := range []string{"review as is", "review with the terraform runner", "review in warn mode", "review inline yaml", "unusable review"} {
		if got[n].Status != StatusPass {
			t.Errorf("%s: %s: %s", n, got[n].Status, got[n].Reason)
		}
	}
	if c := got["unusable review not expected"]; c.Status != StatusError || !strings.Contains(c.Reason, "could not be evaluated") {
		t.Errorf("unusable review not expected: %s %q", c.Status, c.Reason)
	}
}

// Malformed suites name the file, the line and the case.
func TestLoadErrors(t *testing.T) {
	obj := "{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: d}}"
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"yaml", "cases: [\n  - name: x\n", []string{"x.suite.yaml: invalid YAML"}},
		{"empty", "", []string{"empty suite file"}},
		{"no cases", "name: x\n", []string{"no cases"}},
		{"not a mapping", "- a\n- b\n", []string{"x.suite.yaml:1: a suite file is a mapping"}},
		{"unknown top field", "nmae: x\ncases: []\n", []string{`unknown field "nmae"`}},
		{"unknown case field", "cases:\n  - name: one\n    object: " + obj + "\n    expect: {allowed: true}\n  - name: two\n    objcet: {}\n    expect: {allowed: true}\n",
			[]string{`x.suite.yaml:5: cases[1] (two): unknown field "objcet"`}},
		{"unknown expect field", "cases:\n  - name: one\n    object: " + obj + "\n    expect: {alowed: true}\n", []string{`cases[0] (one): unknown field "alowed"`}},
		{"no name", "cases:\n  - object: " + obj + "\n    expect: {allowed: true}\n", []string{"cases[0]: name is required"}},
		{"duplicate", "cases:\n  - name: a\n    object: " + obj + "\n    expect: {allowed: true}\n  - name: a\n    object: " + obj + "\n    expect: {allowed: true}\n",
			[]string{"cases[1] (a): the name is already used by cases[0]"}},
		{"no expect", "cases:\n  - name: a\n    object: " + obj + "\n", []string{"(a): expect is required"}},
		{"empty expect", "cases:\n  - name: a\n    object: " + obj + "\n    expect: {}\n", []string{"(a): expect is empty"}},
		{"missing file", "cases:\n  - name: a\n    object: nowhere.json\n    expect: {allowed: true}\n", []string{"(a): object:", "nowhere.json"}},
		{"review and object", "cases:\n  - name: a\n    review: r.json\n    object: " + obj + "\n    expect: {allowed: true}\n", []string{"review and object are exclusive"}},
		{"update without old", "cases:\n  - name: a\n    operation: UPDATE\n    object: " + obj + "\n    expect: {allowed: true}\n", []string{"UPDATE needs object and oldObject"}},
		{"bad op", "cases:\n  - name: a\n    operation: PATCH\n    object: " + obj + "\n    expect: {allowed: true}\n", []string{`operation "PATCH" is not one of`}},
		{"bad decision", "cases:\n  - name: a\n    object: " + obj + "\n    expect: {decisions: {owned_fields: denied}}\n", []string{`expect.decisions.owned_fields: "denied" is not one of`}},
		{"bad regex", "cases:\n  - name: a\n    object: " + obj + "\n    expect: {message: {regex: '('}}\n", []string{"(a):", "regex \"(\""}},
		{"bad patch", "cases:\n  - name: a\n    object: " + obj + "\n    objectPatch: [{op: replace, path: /nope/x, value: 1}]\n    expect: {allowed: true}\n", []string{"(a): objectPatch: applying it to object"}},
		{"bad config override", "cases:\n  - name: a\n    object: " + obj + "\n    configOverrides: {policies: {owned_fields: {mode: loud}}}\n    expect: {allowed: true}\n",
			[]string{"(a): the default config with configOverrides:", `policies.owned_fields.mode: "loud"`}},
		{"unloaded policy in config", "config: {policies: {nosuch: {mode: warn}}}\ncases:\n  - name: a\n    object: " + obj + "\n    expect: {allowed: true}\n",
			[]string{"(a): loading config and policies:", `"nosuch"`}},
		{"bad now", "now: yesterday\ncases:\n  - name: a\n    object: " + obj + "\n    expect: {allowed: true}\n", []string{"now: \"yesterday\" is not an RFC 3339 time"}},
		{"audit with allowed", "cases:\n  - name: a\n    operation: AUDIT\n    object: " + obj + "\n    expect: {allowed: true}\n", []string{"AUDIT case evaluates drift rules only"}},
		{"wrong type", "cases:\n  - name: a\n    object: " + obj + "\n    expect: {allowed: maybe}\n", []string{"(a): expect.allowed: got a string, want bool"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := write(t, dir, "x.suite.yaml", tc.content)
			_, _, err := load(t, Options{}, f)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDriftNeedsADriftRule(t *testing.T) {
	cs := runOne(t, Options{}, `cases:
  - name: a
    operation: AUDIT
    object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: d}}
    expect: {drift: {revert_warning: []}}
`)
	if cs[0].Status != StatusError || !strings.Contains(cs[0].Reason, `policy "revert_warning" has no drift rule`) {
		t.Errorf("%s %q", cs[0].Status, cs[0].Reason)
	}
}

func TestRegoTestsAndReports(t *testing.T) {
	pdir := policyDir(t)
	write(t, pdir, "team_label_test.rego", teamLabelTests)
	sdir := t.TempDir()
	f := write(t, sdir, "s.suite.yaml", `name: s
cases:
  - name: passes
    operation: CREATE
    object:
`+indent(deployment, "      ")+`
    expect: {allowed: true}
  - name: fails
    operation: CREATE
    object:
`+indent(deployment, "      ")+`
    expect: {allowed: false}
`)
	r, suites, err := load(t, Options{PolicyDirs: []string{pdir}, NoBundled: false}, f)
	if err != nil {
		t.Fatal(err)
	}
	rego, err := r.RunRegoTests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{Suites: append(rego, r.RunSuites(context.Background(), suites)...)}
	all, regoC, fix := rep.Counts()
	if regoC.Failed != 1 || regoC.Passed < 60 {
		t.Errorf("rego counts %+v: want the bundled tests passing and 1 failure", regoC)
	}
	if fix.Tests != 2 || fix.Failed != 1 {
		t.Errorf("fixture counts %+v", fix)
	}
	var failing *CaseResult
	for _, s := range rep.Suites {
		for i := range s.Cases {
			if s.Cases[i].Name == "test_deliberately_wrong" {
				failing = &s.Cases[i]
			}
		}
	}
	if failing == nil || failing.Status != StatusFail || !strings.Contains(failing.Reason, "at line 10: count(team_label.deny) == 2") {
		t.Errorf("failing Rego test: %+v", failing)
	}
	if rep.Passed() {
		t.Error("report passed with failures")
	}

	var jb bytes.Buffer
	if err := rep.WriteJSON(&jb); err != nil {
		t.Fatal(err)
	}
	var j struct {
		Passed bool
		Counts Counts
		Suites []struct {
			Name, Kind string
			Cases      []struct{ Name, Status, Reason string }
		}
	}
	if err := json.Unmarshal(jb.Bytes(), &j); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	if j.Passed || j.Counts != all {
		t.Errorf("JSON report: passed %v counts %+v, want %+v", j.Passed, j.Counts, all)
	}

	var xb bytes.Buffer
	if err := rep.WriteJUnit(&xb); err != nil {
		t.Fatal(err)
	}
	var x junitSuites
	if err := xml.Unmarshal(xb.Bytes(), &x); err != nil {
		t.Fatalf("JUnit report: %v\n%s", err, xb.String())
	}
	if x.Tests != all.Tests || x.Failures != 2 || x.Errors != 0 {
		t.Errorf("JUnit totals tests=%d failures=%d errors=%d, want %d, 2, 0", x.Tests, x.Failures, x.Errors, all.Tests)
	}
	n, f2 := 0, 0
	for _, s := range x.Suites {
		if len(s.Cases) != s.Tests {
			t.Errorf("suite %s: tests=%d but %d testcases", s.Name, s.Tests, len(s.Cases))
		}
		for _, c := range s.Cases {
			n++
			if c.Failure != nil {
				f2++
			}
		}
	}
	if n != all.Tests || f2 != 2 {
		t.Errorf("JUnit testcases %d failures %d", n, f2)
	}

	var tb bytes.Buffer
	if err := rep.WriteText(&tb, false); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"FAIL  test_deliberately_wrong", "FAIL  fails", "allowed: got true, want false", "s.suite.yaml:17", "FAIL  Rego tests:"} {
		if !strings.Contains(tb.String(), w) {
			t.Errorf("text report lacks %q:\n%s", w, tb.String())
		}
	}
}

func TestRunFilter(t *testing.T) {
	o := Options{Run: regexp.MustCompile("^x/keep")}
	cs := runOne(t, o, `cases:
  - name: keep me
    object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: d}}
    expect: {allowed: true}
  - name: drop me
    object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: d}}
    expect: {allowed: false}
`)
	if len(cs) != 1 || cs[0].Name != "keep me" {
		t.Errorf("filtered cases: %+v", cs)
	}
}

func TestDiscover(t *testing.T) {
	root := repoRoot()
	files, err := Discover([]string{filepath.Join(root, "policies")})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Errorf("bundled suites: %v", files)
	}
	for _, f := range files {
		if !IsSuiteFile(f) {
			t.Errorf("%s is no suite file", f)
		}
	}
}

// The bundled suites pass against the bundled policies.
// bundledSuites loads the suites under policies/ as driftguard test
// policies does.
func bundledSuites(t *testing.T) (*Runner, []*Suite) {
	t.Helper()
	dir := filepath.Join(repoRoot(), "policies")
	files, err := Discover([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Options{PolicyDirs: []string{dir}})
	suites, err := r.LoadFiles(context.Background(), files)
	if err != nil {
		t.Fatal(err)
	}
	return r, suites
}

func TestBundledSuites(t *testing.T) {
	r, suites := bundledSuites(t)
	n := 0
	for _, s := range r.RunSuites(context.Background(), suites) {
		for _, c := range s.Cases {
			n++
			if c.Status != StatusPass {
				t.Errorf("%s/%s (%s): %s: %s", s.Name, c.Name, c.Location, c.Status, c.Reason)
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d bundled cases", n)
	}
}
