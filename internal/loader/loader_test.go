package loader_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/metrics"
	"github.com/driftguard/driftguard/internal/policy"
)

const extra = `# METADATA
# custom:
#   kinds: [Pod]
#   operations: [CREATE]
package driftguard.policies.no_latest

deny contains {"msg": sprintf("container %s uses the latest tag", [c.name]), "field": "spec.containers"} if {
	some c in input.object.spec.containers
	endswith(c.image, ":latest")
}
`

func podCreate() *admissionv1.AdmissionRequest {
	return &admissionv1.AdmissionRequest{
		UID: "u1", Operation: admissionv1.Create, Namespace: "tenant-a", Name: "p",
		Kind:   metav1GVK("", "v1", "Pod"),
		Object: runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx:latest"}]}}`)},
	}
}

func TestLoadBundledAndExtraPolicies(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "no_latest.rego"), extra)
	st, err := loader.Load(context.Background(), loader.Options{PolicyDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range st.Policies.Policies {
		names[p.Name] = true
	}
	for _, want := range []string{"no_latest", "owned_fields", "revert_warning", "externalsecret_owned", "version_matrix", "permission_baseline"} {
		if !names[want] {
			t.Errorf("policy %s not loaded (loaded: %v)", want, names)
		}
	}
	// only matching policies are evaluated: every policy returned matches
	// kind and operation, and every matching policy is returned
	for _, c := range []struct{ kind, op string }{{"Pod", "CREATE"}, {"Pod", "UPDATE"}, {"Secret", "UPDATE"}, {"Service", "CONNECT"}} {
		got := map[string]bool{}
		for _, p := range st.Policies.Matching(c.kind, c.op) {
			got[p.Name] = true
		}
		for _, p := range st.Policies.Policies {
			want := (slices.Contains(p.Kinds, "*") || slices.Contains(p.Kinds, c.kind)) &&
				(slices.Contains(p.Operations, "*") || slices.Contains(p.Operations, c.op))
			if got[p.Name] != want {
				t.Errorf("%s %s: policy %s matched=%v, want %v (kinds %v, operations %v)", c.kind, c.op, p.Name, got[p.Name], want, p.Kinds, p.Operations)
			}
		}
	}
	if ps := st.Policies.Matching("Pod", "UPDATE"); slices.ContainsFunc(ps, func(p *policy.Policy) bool { return p.Name == "no_latest" }) {
		t.Error("no_latest (CREATE only) matched a Pod UPDATE")
	}
	e := admit.NewEngine(st, nil)
	d, err := e.Decide(context.Background(), podCreate())
	if err != nil || d.Allowed || !strings.Contains(strings.Join(d.Denials, "|"), "[no_latest] container c uses the latest tag") {
		t.Fatalf("decision %+v err %v", d, err)
	}
}

func TestLoadErrorsAreClear(t *testing.T) {
	cases := map[string]struct{ file, want string }{
		"syntax":        {"package driftguard.policies.bad\ndeny contains x if {", "bad.rego"},
		"unsafe var":    {"package driftguard.policies.bad\ndeny contains x if { y := 1 }", "var x is unsafe"},
		"bad operation": {"# METADATA\n# custom:\n#   operations: [PATCH]\npackage driftguard.policies.bad\ndeny contains \"x\" if false", "bad.rego:3: policy bad: METADATA custom.operations: \"PATCH\" is not one of"},
		"old meta rule": {"package driftguard.policies.bad\nmeta := 3\ndeny contains \"x\" if false", "bad.rego:2: policy bad: a meta rule no longer selects requests"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "bad.rego"), c.file)
			_, err := loader.Load(context.Background(), loader.Options{PolicyDirs: []string{dir}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
	if _, err := loader.Load(context.Background(), loader.Options{NoBundled: true}); err == nil || !strings.Contains(err.Error(), "no policies loaded") {
		t.Fatalf("no policies: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	write(t, cfg, "policies:\n  owned_feilds:\n    mode: warn\n")
	if _, err := loader.Load(context.Background(), loader.Options{ConfigFile: cfg}); err == nil || !strings.Contains(err.Error(), `"owned_feilds"`) {
		t.Fatalf("typo in policy name: %v", err)
	}
}

// docs/scenarios.md S17: a broken policy during hot reload keeps the previous set
// serving, is logged and counted; a fixed one is picked up.
func TestHotReloadKeepsLastGoodSet(t *testing.T) {
	dir, st, e, m, r := reloadable(t, logr.Discard())
	if r.Check(context.Background()) {
		t.Fatal("reloaded without a change")
	}

	write(t, filepath.Join(dir, "broken.rego"), "package driftguard.policies.broken\ndeny contains x if {")
	if r.Check(context.Background()) {
		t.Fatal("swapped in a broken policy set")
	}
	if e.State() != st {
		t.Fatal("serving state changed after a failed reload")
	}
	if testutil.ToFloat64(m.LoadErrors) != 1 || testutil.ToFloat64(m.LastLoadFailed) != 1 {
		t.Fatalf("load error not counted: errors=%v failed=%v", testutil.ToFloat64(m.LoadErrors), testutil.ToFloat64(m.LastLoadFailed))
	}
	r.Check(context.Background()) // same broken files: counted once
	if testutil.ToFloat64(m.LoadErrors) != 1 {
		t.Fatal("the same broken version was counted twice")
	}
	d, err := e.Decide(context.Background(), podCreate())
	if err != nil || d.Allowed {
		t.Fatalf("previous policies stopped serving: %+v %v", d, err)
	}

	write(t, filepath.Join(dir, "broken.rego"), "# METADATA\n# custom:\n#   kinds: [Pod]\npackage driftguard.policies.broken\nwarn contains \"fixed\" if true")
	if !r.Check(context.Background()) {
		t.Fatal("fixed policy set not loaded")
	}
	if testutil.ToFloat64(m.LastLoadFailed) != 0 || testutil.ToFloat64(m.PoliciesLoaded) != 2 {
		t.Fatalf("after fix: failed=%v loaded=%v", testutil.ToFloat64(m.LastLoadFailed), testutil.ToFloat64(m.PoliciesLoaded))
	}
	d, _ = e.Decide(context.Background(), podCreate())
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "fixed") {
		t.Fatalf("new policy not serving: %+v", d.Warnings)
	}
}

// reloadable serves the extra policy from a fresh directory with a config
// file, as serve does, and returns the pieces a hot-reload test changes
// and checks: the policy directory, the first state, the engine, its
// metrics and the reloader (logging to log).
func reloadable(t *testing.T, log logr.Logger) (dir string, st *admit.State, e *admit.Engine, m *metrics.Metrics, r *loader.Reloader) {
	t.Helper()
	dir = t.TempDir()
	write(t, filepath.Join(dir, "no_latest.rego"), extra)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	write(t, cfg, "defaultMode: enforce\n")
	opts := loader.Options{ConfigFile: cfg, PolicyDirs: []string{dir}, NoBundled: true}
	st, err := loader.Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	m = metrics.New(prometheus.NewRegistry())
	e = admit.NewEngine(st, m)
	r = &loader.Reloader{Options: opts, Engine: e, Metrics: m, Log: log}
	r.Loaded(st)
	return dir, st, e, m, r
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
