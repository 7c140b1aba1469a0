package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/metrics"
)

var deployGVK = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

func root() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(f), "..", "..")
}

func fixture(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), "test", "fixtures", "managedfields", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const matrixCfg = `versionMatrix:
  - name: kfp-frontend
    image: ghcr.io/kubeflow/kfp-frontend:2.5.0
    workloads: [{kind: Deployment, namespace: kubeflow, name: ml-pipeline-ui, container: ml-pipeline-ui}]
`

func state(t testing.TB, extraCfg string) *admit.State {
	t.Helper()
	opts := loader.Options{}
	if extraCfg != "" {
		p := filepath.Join(t.TempDir(), "c.yaml")
		cfg := strings.Replace(string(config.DefaultYAML()), "versionMatrix: []\n", extraCfg, 1)
		if !strings.Contains(cfg, extraCfg) {
			t.Fatal("could not place the test config")
		}
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		opts.ConfigFile = p
	}
	st, err := loader.Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func uiDeployment(image string) map[string]any {
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "ml-pipeline-ui", "namespace": "kubeflow", "uid": "u-ui", "resourceVersion": "1"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "ml-pipeline-ui", "image": image}},
		}}},
	}
}

// Case names starting with S<n> cite docs/scenarios.md.
func TestEvaluateDrift(t *testing.T) {
	st := state(t, matrixCfg)
	withRecord := fixture(t, "deployment-terraform.json")
	withRecord["metadata"].(map[string]any)["annotations"] = map[string]any{
		"driftguard.io/drift": `{"edits":[{"by":"alice","at":"2026-11-25T12:00:00Z","owner":"terraform","fields":["spec.template.spec.containers[api].image"],"policy":"owned_fields","reason":"warn mode"}]}`,
	}
	withRecord["metadata"].(map[string]any)["resourceVersion"] = "999"
	cases := []struct {
		name string
		obj  map[string]any
		want map[audit.Key]int
	}{
		{"terraform only: no drift", fixture(t, "deployment-terraform.json"), map[audit.Key]int{}},
		{"S12: kubectl-edit on a Terraform object", fixture(t, "deployment-terraform-then-kubectl-edit.json"),
			map[audit.Key]int{{"owned_fields", "tenant-a", "Deployment"}: 1}},
		{"kubectl set image on a Terraform object", fixture(t, "deployment-terraform-then-kubectl-set.json"),
			map[audit.Key]int{{"owned_fields", "tenant-a", "Deployment"}: 1}},
		{"drift record stamped by the webhook", withRecord,
			map[audit.Key]int{{"owned_fields", "tenant-a", "Deployment"}: 1}},
		{"S13: matrix mismatch", uiDeployment("gcr.io/ml-pipeline/frontend:2.0.5"),
			map[audit.Key]int{{"version_matrix", "kubeflow", "Deployment"}: 1}},
		{"matrix match", uiDeployment("ghcr.io/kubeflow/kfp-frontend:2.5.0"), map[audit.Key]int{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := audit.Evaluate(context.Background(), st, []audit.Object{{GVK: deployGVK, Object: c.obj}}, 10)
			if res.Errors != 0 {
				t.Fatalf("%d evaluation errors", res.Errors)
			}
			if fmt.Sprint(res.Drift) != fmt.Sprint(c.want) {
				t.Fatalf("drift %v, want %v", res.Drift, c.want)
			}
			n := 0
			for _, v := range c.want {
				n += v
			}
			if (len(res.Findings) > 0) != (n > 0) {
				t.Fatalf("findings %+v for drift %v", res.Findings, res.Drift)
			}
			for _, f := range res.Findings {
				if f.Object.Name == "" || f.Object.Kind != "Deployment" || f.Object.APIVersion != "apps/v1" || f.Msg == "" || f.Policy == "" {
					t.Fatalf("finding does not name its object, policy and message: %+v", f)
				}
			}
		})
	}
}

func TestFindingsNameFieldAndOwner(t *testing.T) {
	st := state(t, "")
	res := audit.Evaluate(context.Background(), st, []audit.Object{{GVK: deployGVK, Object: fixture(t, "deployment-terraform-then-kubectl-edit.json")}}, 10)
	if len(res.Findings) == 0 {
		t.Fatal("no findings")
	}
	f := res.Findings[0]
	if f.Policy != "owned_fields" || f.Owner != "terraform" || f.Field == "" || f.Object.Namespace != "tenant-a" {
		t.Fatalf("finding %+v", f)
	}
	t.Logf("%+v", res.Findings)
}

func TestNamespaceLabelCap(t *testing.T) {
	st := state(t, "")
	var objs []audit.Object
	for _, ns := range []string{"a", "b", "c"} {
		o := fixture(t, "deployment-terraform-then-kubectl-edit.json")
		md := o["metadata"].(map[string]any)
		md["namespace"], md["uid"] = ns, "uid-"+ns
		objs = append(objs, audit.Object{GVK: deployGVK, Object: o})
	}
	res := audit.Evaluate(context.Background(), st, objs, 2)
	if len(res.Drift) != 3 || res.Drift[audit.Key{"owned_fields", audit.OtherNamespace, "Deployment"}] != 1 {
		t.Fatalf("cap of 2 namespaces: %v", res.Drift)
	}
}

func TestAuditorExportsAndResolves(t *testing.T) {
	st := state(t, "")
	// controller-runtime's fake client drops managedFields, so a
	// list-only reader serves the real objects.
	r := &reader{items: []map[string]any{fixture(t, "deployment-terraform-then-kubectl-edit.json")}}
	m := metrics.New(prometheus.NewRegistry())
	a := &audit.Auditor{Engine: admit.NewEngine(st, m), Reader: r, Metrics: m}
	if err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := m.DriftObjects.WithLabelValues("owned_fields", "tenant-a", "Deployment")
	if v := testutil.ToFloat64(g); v != 1 {
		t.Fatalf("drift gauge %v, want 1", v)
	}
	// the owner re-applies: the hand edit's manager is gone
	r.items = []map[string]any{fixture(t, "deployment-terraform.json")}
	if err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(g); v != 0 {
		t.Fatalf("drift gauge %v after re-apply, want 0", v)
	}
	if err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.DriftObjects); n != 0 {
		t.Fatalf("%d drift series left after two clean runs, want 0", n)
	}
	if v := testutil.ToFloat64(m.AuditRuns.WithLabelValues("ok")); v != 3 {
		t.Fatalf("%v ok audit runs counted, want 3", v)
	}
}

type reader struct{ items []map[string]any }

func (r *reader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return fmt.Errorf("not supported")
}

func (r *reader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	ul, ok := list.(*unstructured.UnstructuredList)
	if !ok || ul.GetKind() != "DeploymentList" {
		return nil
	}
	for _, o := range r.items {
		ul.Items = append(ul.Items, unstructured.Unstructured{Object: o})
	}
	return nil
}

// BenchmarkEvaluate10k is a full re-evaluation of 10,000 Deployments (a
// third of them drifted) with the bundled policies.
// Run: go test ./internal/audit -run '^$' -bench Evaluate10k -benchtime 3x
func BenchmarkEvaluate10k(b *testing.B) {
	st := state(b, matrixCfg)
	base := []map[string]any{
		fixture(b, "deployment-terraform.json"),
		fixture(b, "deployment-terraform-then-kubectl-edit.json"),
		fixture(b, "deployment-terraform-then-kubectl-set.json"),
	}
	objs := make([]audit.Object, 10000)
	for i := range objs {
		raw, _ := json.Marshal(base[i%3])
		var o map[string]any
		_ = json.Unmarshal(raw, &o)
		md := o["metadata"].(map[string]any)
		md["name"] = fmt.Sprintf("api-%d", i)
		md["namespace"] = fmt.Sprintf("tenant-%d", i%50)
		md["uid"] = fmt.Sprintf("uid-%d", i)
		objs[i] = audit.Object{GVK: deployGVK, Object: o}
	}
	b.ResetTimer()
	for b.Loop() {
		// a new builder per pass: no managedFields cache hits across passes
		fresh := &admit.State{Config: st.Config, Builder: st.Builder.WithoutCache(), Policies: st.Policies}
		res := audit.Evaluate(context.Background(), fresh, objs, 200)
		if res.Drift[audit.Key{"owned_fields", "tenant-1", "Deployment"}] == 0 {
			b.Fatal("no drift found")
		}
	}
}
