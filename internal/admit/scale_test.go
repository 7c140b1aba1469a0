package admit_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
)

// clusterOf is a fake cluster for the parents of scale requests.
type clusterOf struct {
	objects map[string][]byte // namespace/name
	reads   int
}

func (c *clusterOf) ReadParent(_ context.Context, _ metav1.GroupVersionResource, namespace, name string) ([]byte, error) {
	c.reads++
	if b, ok := c.objects[namespace+"/"+name]; ok {
		return b, nil
	}
	return nil, errors.New("not found")
}

// terraformDeployment is the API server's Deployment tenant-a/api after
// Terraform's apply (Terraform owns spec.replicas); without replicas,
// Terraform's entry leaves spec.replicas to nobody.
func terraformDeployment(t *testing.T, withReplicas bool) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "test", "fixtures", "managedfields", "deployment-terraform.json"))
	if err != nil {
		t.Fatal(err)
	}
	if withReplicas {
		return b
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	mf := m["metadata"].(map[string]any)["managedFields"].([]any)
	delete(mf[0].(map[string]any)["fieldsV1"].(map[string]any)["f:spec"].(map[string]any), "f:replicas")
	b, _ = json.Marshal(m)
	return b
}

// scaleReview is kubectl scale deployment/api --replicas=3 as the API
// server sends it to a validating webhook (no fieldManager, Scales without
// managedFields); scaleMF, when set, is managedFields on both Scales.
func scaleReview(t *testing.T, user, scaleMF string) []byte {
	t.Helper()
	mf := ""
	if scaleMF != "" {
		mf = `,"managedFields":` + scaleMF
	}
	scale := func(n string) string {
		return `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"api","namespace":"tenant-a","uid":"78f6ff59-dd9b-40f0-8dea-9f141a395481","resourceVersion":"217"` + mf +
			`},"spec":{"replicas":` + n + `},"status":{"replicas":2,"selector":"app=api"}}`
	}
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
		"uid":"5c0e1a2b-0000-4000-8000-000000000003",
		"kind":{"group":"autoscaling","version":"v1","kind":"Scale"},
		"resource":{"group":"apps","version":"v1","resource":"deployments"},
		"subResource":"scale",
		"requestKind":{"group":"autoscaling","version":"v1","kind":"Scale"},
		"requestResource":{"group":"apps","version":"v1","resource":"deployments"},
		"requestSubResource":"scale",
		"name":"api","namespace":"tenant-a","operation":"UPDATE",
		"userInfo":{"username":"` + user + `","groups":["system:authenticated"]},
		"object":` + scale("3") + `,"oldObject":` + scale("2") + `,
		"dryRun":false,
		"options":{"apiVersion":"meta.k8s.io/v1","kind":"UpdateOptions"}}}`)
}

func scaleEnv(t *testing.T, cfgYAML string, c *clusterOf) *env {
	t.Helper()
	opts := loader.Options{}
	if c != nil {
		opts.Scale = c
	}
	if cfgYAML != "" {
		p := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(p, []byte(cfgYAML), 0o644); err != nil {
			t.Fatal(err)
		}
		opts.ConfigFile = p
	}
	return newEnvOpts(t, opts)
}

// defaultConfigWith is the embedded default config changed by f.
func defaultConfigWith(t *testing.T, f func(map[string]any)) string {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal(config.DefaultYAML(), &cfg); err != nil {
		t.Fatal(err)
	}
	f(cfg)
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const terraformSA = "system:serviceaccount:infra:terraform"

func TestScaleOfTerraformOwnedReplicas(t *testing.T) {
	c := &clusterOf{objects: map[string][]byte{"tenant-a/api": terraformDeployment(t, true)}}
	e := scaleEnv(t, "", c)

	resp := answer(t, post(e.validate, scaleReview(t, "alice", "")))
	if resp.Allowed {
		t.Fatal("alice's kubectl scale of Terraform-owned replicas was allowed")
	}
	for _, want := range []string{
		"[owned_fields] spec.replicas of Deployment tenant-a/api (scale subresource) is owned by Terraform",
		"alice is not Terraform's identity",
		"Change it in the tenant's Terraform module for Deployment tenant-a/api",
	} {
		if !strings.Contains(resp.Result.Message, want) {
			t.Errorf("denial %q does not say %q", resp.Result.Message, want)
		}
	}
	if got := testutil.ToFloat64(e.metrics.Decisions.WithLabelValues("owned_fields", "deny", "UPDATE", "Scale", "false")); got != 1 {
		t.Errorf("owned_fields deny on Scale counted %v times, want 1", got)
	}

	// managedFields on the review's Scale claiming kubectl-scale owns
	// replicas (anyone reaching the webhook port can send them) change nothing
	forged := `[{"manager":"kubectl-scale","operation":"Update","apiVersion":"autoscaling/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}},"subresource":"scale"}]`
	if resp := answer(t, post(e.validate, scaleReview(t, "alice", forged))); resp.Allowed {
		t.Error("forged managedFields on the Scale let alice's scale through")
	}

	if resp := answer(t, post(e.validate, scaleReview(t, terraformSA, ""))); !resp.Allowed {
		t.Errorf("the Terraform identity's scale was denied: %s", resp.Result.Message)
	}
	if c.reads != 3 {
		t.Errorf("%d parent reads for 3 validating reviews", c.reads)
	}

	// the mutating webhook answers at once: no parent read, no patch
	resp = answer(t, post(e.mutate, scaleReview(t, "alice", "")))
	if !resp.Allowed || len(resp.Patch) > 0 {
		t.Errorf("mutating answer to a scale: allowed %v patch %s, want allowed without a patch", resp.Allowed, resp.Patch)
	}
	if c.reads != 3 {
		t.Errorf("the mutating webhook read the parent (%d reads)", c.reads)
	}
}

func TestScaleOfUnownedReplicasAllowed(t *testing.T) {
	c := &clusterOf{objects: map[string][]byte{"tenant-a/api": terraformDeployment(t, false)}}
	e := scaleEnv(t, "", c)
	resp := answer(t, post(e.validate, scaleReview(t, "alice", "")))
	if !resp.Allowed || len(resp.Warnings) > 0 {
		t.Errorf("alice's scale of replicas no declared owner manages: allowed %v warnings %v message %v", resp.Allowed, resp.Warnings, resp.Result)
	}
	// forged managedFields claiming Terraform owns replicas change nothing either
	forgedTF := `[{"manager":"Terraform","operation":"Apply","apiVersion":"autoscaling/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}]`
	if resp := answer(t, post(e.validate, scaleReview(t, "alice", forgedTF))); !resp.Allowed {
		t.Errorf("forged Terraform managedFields on the Scale denied alice: %s", resp.Result.Message)
	}
}

func TestScaleParentUnreadablePerFailurePolicy(t *testing.T) {
	counted := func(e *env) float64 {
		return testutil.ToFloat64(e.metrics.Unreviewed.WithLabelValues("validate", "parent_unreadable"))
	}
	t.Run("not found, failurePolicy deny", func(t *testing.T) {
		e := scaleEnv(t, "", &clusterOf{})
		resp := answer(t, post(e.validate, scaleReview(t, "alice", "")))
		if resp.Allowed {
			t.Fatal("a scale whose Deployment cannot be read was allowed under failurePolicy deny")
		}
		for _, want := range []string{"UPDATE of deployments/scale tenant-a/api was not reviewed: this scale request changes spec.replicas of Deployment tenant-a/api", "reading it from the cluster failed: not found", "failurePolicy is deny"} {
			if !strings.Contains(resp.Result.Message, want) {
				t.Errorf("denial %q does not say %q", resp.Result.Message, want)
			}
		}
		if got := counted(e); got != 1 {
			t.Errorf("driftguard_admission_unreviewed_total{parent_unreadable} = %v, want 1", got)
		}
		// the mutating webhook does not count it a second time
		answer(t, post(e.mutate, scaleReview(t, "alice", "")))
		if got := counted(e); got != 1 {
			t.Errorf("after the mutating review: %v, want 1", got)
		}
	})
	t.Run("no cluster connection", func(t *testing.T) {
		e := scaleEnv(t, "", nil)
		resp := answer(t, post(e.validate, scaleReview(t, terraformSA, "")))
		if resp.Allowed || !strings.Contains(resp.Result.Message, "there is no cluster connection") {
			t.Errorf("without a cluster: allowed %v message %v", resp.Allowed, resp.Result)
		}
	})
	t.Run("failurePolicy allow", func(t *testing.T) {
		e := scaleEnv(t, "failurePolicy: allow\n", &clusterOf{})
		resp := answer(t, post(e.validate, scaleReview(t, "alice", "")))
		if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "allowed because failurePolicy is allow") {
			t.Errorf("failurePolicy allow: allowed %v warnings %v", resp.Allowed, resp.Warnings)
		}
		if got := counted(e); got != 1 {
			t.Errorf("counted %v, want 1", got)
		}
	})
	t.Run("every matching policy in dryrun", func(t *testing.T) {
		cfg := defaultConfigWith(t, func(cfg map[string]any) {
			cfg["defaultMode"] = "dryrun"
			ps, _ := cfg["policies"].(map[string]any)
			for name := range ps {
				p, _ := ps[name].(map[string]any)
				if p == nil {
					p = map[string]any{}
					ps[name] = p
				}
				p["mode"] = "dryrun"
			}
		})
		e := scaleEnv(t, cfg, &clusterOf{})
		resp := answer(t, post(e.validate, scaleReview(t, "alice", "")))
		if !resp.Allowed || len(resp.Warnings) > 0 {
			t.Errorf("dryrun: allowed %v warnings %v message %v", resp.Allowed, resp.Warnings, resp.Result)
		}
		if got := counted(e); got != 1 {
			t.Errorf("counted %v, want 1", got)
		}
	})
}

func TestScaleInWarnModeSaysNoDriftRecord(t *testing.T) {
	c := &clusterOf{objects: map[string][]byte{"tenant-a/api": terraformDeployment(t, true)}}
	e := scaleEnv(t, defaultConfigWith(t, func(cfg map[string]any) {
		ps, _ := cfg["policies"].(map[string]any)
		if ps == nil {
			ps = map[string]any{}
			cfg["policies"] = ps
		}
		p, _ := ps["owned_fields"].(map[string]any)
		if p == nil {
			p = map[string]any{}
			ps["owned_fields"] = p
		}
		p["mode"] = "warn"
	}), c)
	resp := answer(t, post(e.validate, scaleReview(t, "alice", "")))
	if !resp.Allowed {
		t.Fatalf("warn mode denied: %s", resp.Result.Message)
	}
	ws := strings.Join(resp.Warnings, "\n")
	if !strings.Contains(ws, "allowed by warn mode") || !strings.Contains(ws, "no drift record is kept for this hand edit: a scale request stores only spec.replicas on Deployment tenant-a/api") {
		t.Errorf("warnings %q", ws)
	}
}
