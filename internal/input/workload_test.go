package input

import (
	"context"
	"encoding/json"
	"io/fs"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/driftguard/driftguard/policies"
)

// The workload facts must be what the bundled library computes in Rego
// without them: these tests evaluate the library's own rules (bundled
// policies, embedded) on the same values and compare.

// libraryQuery prepares query over the bundled policies and library.
func libraryQuery(t *testing.T, query string) rego.PreparedEvalQuery {
	t.Helper()
	opts := []func(*rego.Rego){rego.Query(query)}
	err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		src, err := fs.ReadFile(policies.FS, p)
		if err != nil {
			return err
		}
		opts = append(opts, rego.Module(p, string(src)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pq
}

// jsonRound is v as encoding/json gives it back (for comparing Go
// values with Rego results).
func jsonRound(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseImageIsTheLibrarys(t *testing.T) {
	refs := []string{
		"", "nginx", "nginx:1.27", "library/nginx:1.27", "docker.io/library/nginx:1.27",
		"ghcr.io/acme/api:1.1.0", "ghcr.io/acme/api@sha256:abc", "ghcr.io/acme/api:1.1.0@sha256:abc",
		"localhost/app", "localhost:5000/app:1.0@sha256:abc", "localhost:5000/team/app",
		"registry:5000/app", "a.b/c:d:e", "app@sha256:a@b", "app:", ":tag", "/app", "app/", "a//b:1",
		"Localhost/app", "héllo.io/äpp:ü", "a:b/c:d", "@", "::", "a@b:c/d",
	}
	rng := rand.New(rand.NewPCG(14, 18))
	pieces := []string{"a", "b", "1", ":", "/", "@", ".", "localhost", "sha256:", "-", "é"}
	for range 3000 {
		var sb strings.Builder
		for range rng.IntN(9) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		refs = append(refs, sb.String())
	}
	pq := libraryQuery(t, "x := [data.driftguard.lib.images.parse(r) | some r in input.refs]")
	rs, err := pq.Eval(context.Background(), rego.EvalInput(map[string]any{"refs": refs}))
	if err != nil || len(rs) != 1 {
		t.Fatalf("evaluating images.parse: %v %v", rs, err)
	}
	got := rs[0].Bindings["x"].([]any)
	if len(got) != len(refs) {
		t.Fatalf("%d answers for %d references (parse undefined for some)", len(got), len(refs))
	}
	for i, ref := range refs {
		if want := jsonRound(t, ParseImage(ref).doc()); !reflect.DeepEqual(got[i], want) {
			t.Errorf("%q: Rego %v, Go %v", ref, got[i], want)
		}
	}
}

// workloadCases are objects of each workload kind, usual and odd.
func workloadCases() []struct {
	name, kind string
	obj, old   string
} {
	container := func(name, image string) string {
		return `{"name": "` + name + `", "image": "` + image + `", "securityContext": {"runAsNonRoot": true}}`
	}
	deploy := func(annotations, containers, inits string) string {
		return `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {"template": {"metadata": {"annotations": ` +
			annotations + `}, "spec": {"containers": [` + containers + `], "initContainers": [` + inits + `]}}}}`
	}
	two := container("api", "ghcr.io/acme/api:1.1.0") + ", " + container("proxy", "localhost:5000/proxy")
	return []struct {
		name, kind string
		obj, old   string
	}{
		{"deployment", "Deployment", deploy(`{}`, two, container("init", "busybox")), deploy(`{}`, container("api", "ghcr.io/acme/api:1.0.0"), "")},
		{"default container named", "Deployment", deploy(`{"kubectl.kubernetes.io/default-container": "proxy"}`, two, ""), ""},
		{"default container missing", "Deployment", deploy(`{"kubectl.kubernetes.io/default-container": "gone"}`, two, ""), ""},
		{"default container not a string", "Deployment", deploy(`{"kubectl.kubernetes.io/default-container": 3}`, two, ""), ""},
		{"no containers", "Deployment", deploy(`{}`, "", ""), ""},
		{"delete", "Deployment", "", deploy(`{}`, two, "")},
		{"no pod spec", "Deployment", `{"spec": {"replicas": 2}}`, ""},
		{"no spec", "StatefulSet", `{"metadata": {}}`, ""},
		{"image not a string", "Deployment", deploy(`{}`, `{"name": "api", "image": 7}`, ""), ""},
		{"no image", "Deployment", deploy(`{}`, `{"name": "api"}`, ""), ""},
		{"pod", "Pod", `{"spec": {"containers": [` + two + `], "ephemeralContainers": [` + container("debug", "busybox:latest") + `]}}`, `{"spec": {"containers": [` + two + `]}}`},
		{"cronjob", "CronJob", `{"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [` + two + `]}}}}}}`, ""},
		{"job", "Job", `{"spec": {"template": {"spec": {"containers": [` + two + `]}}}}`, ""},
		// odd objects: the facts are left out, the Rego decides
		{"duplicate names", "Deployment", deploy(`{}`, container("api", "a:1")+", "+container("api", "a:2"), ""), ""},
		{"container not an object", "Deployment", deploy(`{}`, `"api"`, ""), ""},
		{"name not a string", "Deployment", deploy(`{}`, `{"name": 5, "image": "a:1"}`, ""), ""},
		{"containers not a list", "Pod", `{"spec": {"containers": {"name": "api"}}}`, ""},
		{"pod spec not an object", "Deployment", `{"spec": {"template": {"spec": "x"}}}`, ""},
		{"template not an object", "Deployment", `{"spec": {"template": 3}}`, ""},
	}
}

func TestWorkloadFactsAreTheLibrarys(t *testing.T) {
	pq := libraryQuery(t, `new := data.driftguard.lib.workloads.new_containers
old := data.driftguard.lib.workloads.old_containers
main := [m | m := data.driftguard.policies.version_label.main_container]`)
	facts := 0
	for _, c := range workloadCases() {
		t.Run(c.name, func(t *testing.T) {
			var obj, old map[string]any
			for _, x := range []struct {
				src string
				dst *map[string]any
			}{{c.obj, &obj}, {c.old, &old}} {
				if x.src != "" {
					if err := json.Unmarshal([]byte(x.src), x.dst); err != nil {
						t.Fatalf("%s: %v", x.src, err)
					}
				}
			}
			in := map[string]any{"request": map[string]any{"kind": map[string]any{"kind": c.kind}, "operation": "UPDATE"}}
			if obj != nil {
				in["object"] = obj
			}
			if old != nil {
				in["oldObject"] = old
			}
			w := workloadDoc(c.kind, obj, old, nil)
			rs, err := pq.Eval(context.Background(), rego.EvalInput(in))
			if w == nil {
				return // the Rego decides, error or not
			}
			facts++
			if err != nil || len(rs) != 1 {
				t.Fatalf("the library fails where Go found facts: %v %v", rs, err)
			}
			b := rs[0].Bindings
			if got := jsonRound(t, w["containers"]); !reflect.DeepEqual(got, jsonRound(t, b["new"])) {
				t.Errorf("containers: Go %v, Rego %v", got, b["new"])
			}
			if got := jsonRound(t, w["oldContainers"]); !reflect.DeepEqual(got, jsonRound(t, b["old"])) {
				t.Errorf("oldContainers: Go %v, Rego %v", got, b["old"])
			}
			main := []any{}
			if key, ok := w["main"].(string); ok {
				main = append(main, w["containers"].(map[string]any)[key].(map[string]any)["c"])
			}
			if !reflect.DeepEqual(jsonRound(t, main), jsonRound(t, b["main"])) {
				t.Errorf("main container: Go %v, Rego %v", main, b["main"])
			}
			for _, cs := range []any{w["containers"], w["oldContainers"]} {
				for _, e := range cs.(map[string]any) {
					if image, ok := e.(map[string]any)["c"].(map[string]any)["image"].(string); ok {
						if _, ok := w["images"].(map[string]any)[image]; !ok {
							t.Errorf("image %q has no parts", image)
						}
					}
				}
			}
		})
	}
	if facts < 13 {
		t.Errorf("facts for only %d cases", facts)
	}
}

// The odd objects get no facts: the Rego's own answer (an error for two
// containers of one name) must stay.
func TestWorkloadFactsLeftOutForOddObjects(t *testing.T) {
	for _, c := range workloadCases() {
		var obj, old map[string]any
		if c.obj != "" {
			_ = json.Unmarshal([]byte(c.obj), &obj)
		}
		if c.old != "" {
			_ = json.Unmarshal([]byte(c.old), &old)
		}
		odd := strings.Contains(c.name, "not an object") || strings.Contains(c.name, "not a list") ||
			c.name == "duplicate names" || c.name == "name not a string"
		if got := workloadDoc(c.kind, obj, old, nil) == nil; got != odd {
			t.Errorf("%s: facts left out %v, want %v", c.name, got, odd)
		}
	}
	if workloadDoc("Service", map[string]any{"spec": map[string]any{}}, nil, nil) != nil {
		t.Error("a Service got workload facts")
	}
}

func BenchmarkWorkloadDoc(b *testing.B) {
	raw, err := os.ReadFile("../../test/fixtures/reviews/deployment-update-8k.json")
	if err != nil {
		b.Fatal(err)
	}
	var rv struct {
		Request struct{ Object, OldObject map[string]any }
	}
	if err := json.Unmarshal(raw, &rv); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if workloadDoc("Deployment", rv.Request.Object, rv.Request.OldObject, nil) == nil {
			b.Fatal("no facts")
		}
	}
}

func TestStructuralChangeIsTheLibrarys(t *testing.T) {
	pq := libraryQuery(t, "x := data.driftguard.lib.workloads.structural_change")
	paths := []string{
		"spec", "spec.template", "spec.template.spec", "spec.template.spec.containers", "spec.template.spec.initContainers",
		"spec.template.spec.containers[api]", "spec.template.spec.containers[api].image", "spec.template.spec.containers[a.b]",
		"spec.template.spec.containers[api].env[X].value", "spec.template.spec.containersX", "spec.template.spec.ephemeralContainers[d]",
		"spec.template.metadata.labels.version", "spec.replicas", "metadata", "metadata.labels.app", "spec.templateX",
		"spec.template.spec.containers[]", "spec.containers[api]", "spec.containers[api].image", "spec.jobTemplate.spec.template.spec.containers[x]",
		"", "spec.template.spec.containers[api]]", "spec.template.spec.containers[a].b]",
	}
	n := 0
	for _, kind := range []string{"Deployment", "Pod", "CronJob", "Job"} {
		specPath := workloadSpecPaths[kind]
		for _, p := range paths {
			for _, changes := range [][]Change{{{Path: p}}, {{Path: "spec.replicas"}, {Path: p}}} {
				doc := make([]any, len(changes))
				for i, c := range changes {
					doc[i] = map[string]any{"path": c.Path, "op": "replace"}
				}
				rs, err := pq.Eval(context.Background(), rego.EvalInput(map[string]any{
					"request": map[string]any{"kind": map[string]any{"kind": kind}, "operation": "UPDATE"}, "changes": doc}))
				if err != nil || len(rs) != 1 {
					t.Fatalf("%s %q: %v %v", kind, p, rs, err)
				}
				want := rs[0].Bindings["x"].(bool)
				if got := structuralChange(specPath, changes); got != want {
					t.Errorf("%s, changes %v: Go %v, Rego %v", kind, changes, got, want)
				}
				if want {
					n++
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d structural cases", n)
	}
}
