package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// gkConstraint is one constraint with its template's Rego, evaluated
// here with OPA directly (no Gatekeeper) the way Gatekeeper does:
// input.review is the admission request, input.parameters the
// constraint's, and only requests of a kind the constraint matches.
type gkConstraint struct {
	name   string
	query  rego.PreparedEvalQuery
	kinds  map[string]bool // "group/Kind"
	params map[string]any
}

func gatekeeperConstraintsForTest(t *testing.T) []gkConstraint {
	t.Helper()
	srcs := map[string]string{} // constraint kind → Rego
	for _, s := range gatekeeperPolicies {
		u, err := unstructuredFromYAML(s)
		if err != nil {
			t.Fatal(err)
		}
		kind, _, _ := unstructured.NestedString(u.Object, "spec", "crd", "spec", "names", "kind")
		targets, _, _ := unstructured.NestedSlice(u.Object, "spec", "targets")
		if strings.ToLower(kind) != u.GetName() || len(targets) != 1 {
			t.Fatalf("template %s: kind %q, %d targets", u.GetName(), kind, len(targets))
		}
		srcs[kind] = targets[0].(map[string]any)["rego"].(string)
	}
	var out []gkConstraint
	for _, s := range gatekeeperConstraints {
		u, err := unstructuredFromYAML(s)
		if err != nil {
			t.Fatal(err)
		}
		src, ok := srcs[u.GetKind()]
		if !ok {
			t.Fatalf("constraint %s: no template for kind %s", u.GetName(), u.GetKind())
		}
		c := gkConstraint{name: u.GetName(), kinds: map[string]bool{}}
		c.params, _, _ = unstructured.NestedMap(u.Object, "spec", "parameters")
		kinds, _, _ := unstructured.NestedSlice(u.Object, "spec", "match", "kinds")
		for _, k := range kinds {
			k := k.(map[string]any)
			for _, g := range k["apiGroups"].([]any) {
				for _, kk := range k["kinds"].([]any) {
					c.kinds[g.(string)+"/"+kk.(string)] = true
				}
			}
		}
		m, err := ast.ParseModuleWithOpts(u.GetKind(), src, ast.ParserOptions{RegoVersion: ast.RegoV0})
		if err != nil {
			t.Fatalf("%s: %v", u.GetKind(), err)
		}
		c.query, err = rego.New(rego.ParsedModule(m), rego.SetRegoVersion(ast.RegoV0),
			rego.Query("v := data."+m.Package.Path[1:].String()+".violation")).PrepareForEval(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", u.GetKind(), err)
		}
		out = append(out, c)
	}
	return out
}

// violations of one AdmissionReview body under the constraints.
func violations(t *testing.T, cs []gkConstraint, body []byte) []string {
	t.Helper()
	var rv struct {
		Request map[string]any `json:"request"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&rv); err != nil {
		t.Fatal(err)
	}
	k := rv.Request["kind"].(map[string]any)
	var out []string
	for _, c := range cs {
		if !c.kinds[k["group"].(string)+"/"+k["kind"].(string)] {
			continue
		}
		rs, err := c.query.Eval(context.Background(), rego.EvalInput(map[string]any{"review": rv.Request, "parameters": c.params}))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(rs) != 1 {
			t.Fatalf("%s: %d results", c.name, len(rs))
		}
		for _, v := range rs[0].Bindings["v"].([]any) {
			out = append(out, c.name+": "+v.(map[string]any)["msg"].(string))
		}
	}
	return out
}

// The bench's constraints deny exactly the reviews the bench expects
// Gatekeeper to deny: alice's image edit of the Deployment (and its
// dry-run), and a Deployment without the app label; Terraform's replicas
// change (and the same image change by Terraform) and everything else in
// the mix pass.
func TestGatekeeperConstraints(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	m, err := buildMix(root, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	cs := gatekeeperConstraintsForTest(t)
	for _, rt := range m.types {
		v := violations(t, cs, rt.bodies[0])
		if (len(v) == 0) != rt.want("gatekeeper") {
			t.Errorf("%s: violations %q, want allowed=%v", rt.Name, v, rt.want("gatekeeper"))
		}
		if !rt.want("gatekeeper") && (len(v) != 1 || !strings.HasPrefix(v[0], "images-by-terraform-only: alice may not change the image of container api")) {
			t.Errorf("%s: violations %q, want alice's image change of container api only", rt.Name, v)
		}
	}
	// the same image change by Terraform's identity passes
	var rv map[string]any
	if err := json.Unmarshal(m.byName("deployment-update-hand-edit-denied").bodies[0], &rv); err != nil {
		t.Fatal(err)
	}
	rv["request"].(map[string]any)["userInfo"] = terraform
	byTerraform, err := json.Marshal(rv)
	if err != nil {
		t.Fatal(err)
	}
	if v := violations(t, cs, byTerraform); len(v) != 0 {
		t.Errorf("Terraform's image change: violations %q", v)
	}
	if v := violations(t, cs, m.unlabelled); len(v) != 1 || v[0] != "deployments-have-app: Deployment api has no label app" {
		t.Errorf("Deployment without the app label: violations %q", v)
	}
	probes, err := gatekeeperProbes(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probes {
		if v := violations(t, cs, p.body); (len(v) == 0) != p.allowed {
			t.Errorf("probe %s: violations %q, want allowed=%v", p.name, v, p.allowed)
		}
	}
}

// A short run with Gatekeeper (its control plane, constraints and
// webhook) next to the floor and driftguard: no errors, every answer as
// expected, Gatekeeper's rows and the comparison in the report. Needs the
// Gatekeeper build and the control-plane binaries.
func TestShortRunGatekeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three servers and a control plane")
	}
	dir := os.Getenv("DRIFTGUARD_BENCH_GATEKEEPER")
	if dir == "" {
		t.Skip("DRIFTGUARD_BENCH_GATEKEEPER is not set (DRIFTGUARD_BENCH_GATEKEEPER=$(hack/bench-assets.sh | tail -n1))")
	}
	if _, err := os.Stat(filepath.Join(dir, "gatekeeper")); err != nil {
		t.Skipf("no Gatekeeper build in DRIFTGUARD_BENCH_GATEKEEPER: %v (run hack/bench-assets.sh)", err)
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set (KUBEBUILDER_ASSETS=$(hack/e2e-assets.sh | tail -n1))")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		t.Skipf("no kube-apiserver in KUBEBUILDER_ASSETS: %v (run hack/e2e-assets.sh)", err)
	}
	var out bytes.Buffer
	if err := run([]string{"-targets", "floor,driftguard,gatekeeper", "-duration", "1s", "-warmup", "200ms",
		"-concurrency", "2", "-variants", "8", "-cpu", "-1"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []string{"| floor | – | closed, 2 conn |", "| driftguard | 0 | closed, 2 conn |", "| gatekeeper | – | closed, 2 conn |",
		"- 2 conn: driftguard/Gatekeeper: ", "- 2 conn: Gatekeeper "} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, l := range strings.Split(report, "\n") {
		cells := strings.Split(l, "|")
		if len(cells) > 11 && strings.TrimSpace(cells[1]) == "gatekeeper" && strings.TrimSpace(cells[10]) == "0" {
			t.Errorf("Gatekeeper denied nothing: %s", l)
		}
	}
}
