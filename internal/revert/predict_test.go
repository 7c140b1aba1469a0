package revert_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/revert"
)

// s8 is the metacontroller child of the revert_warning fixture suite
// (S8: Deployment admin/ml-pipeline-ui-artifact, rendered from Namespace
// admin), before and after alice's image edit with kubectl set image.
func s8(t *testing.T) (old, new map[string]any) {
	t.Helper()
	_, f, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(f), "..", "..", "policies", "suites", "revert-warning.suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Cases []struct {
			OldObject json.RawMessage `json:"oldObject"`
		} `json:"cases"`
	}
	if err := yaml.Unmarshal(b, &suite); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(suite.Cases[0].OldObject, &old); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(old)
	_ = json.Unmarshal(raw, &new)
	md := new["metadata"].(map[string]any)
	md["resourceVersion"] = "48214"
	md["managedFields"] = append(md["managedFields"].([]any), map[string]any{
		"manager": "kubectl-set", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-25T12:00:00Z", "fieldsType": "FieldsV1",
		"fieldsV1": map[string]any{"f:spec": map[string]any{"f:template": map[string]any{"f:spec": map[string]any{"f:containers": map[string]any{
			`k:{"name":"ml-pipeline-ui-artifact"}`: map[string]any{"f:image": map[string]any{}}}}}}},
	})
	c := new["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	c["image"] = "gcr.io/ml-pipeline/frontend:2.5.0"
	return old, new
}

const s8Field = "spec.template.spec.containers[ml-pipeline-ui-artifact].image"

func TestEnginePredictorNamesTheOwnerTheWarningNamed(t *testing.T) {
	st, err := loader.Load(context.Background(), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	predict := revert.EnginePredictor(admit.NewEngine(st, nil))
	old, new := s8(t)
	got := predict(context.Background(), old, new, "alice")
	if got[s8Field] != "Namespace/admin" || len(got) != 1 {
		t.Fatalf("prediction %v, want %s -> Namespace/admin", got, s8Field)
	}
	// a controller's write is not a hand edit: no warning, no prediction
	if got := predict(context.Background(), old, new, "system:serviceaccount:kubeflow:metacontroller"); len(got) != 0 {
		t.Fatalf("prediction for a controller's write: %v", got)
	}
}

// The seed incident, end to end through the detector: alice's edit is
// warned, metacontroller sets it back, the prediction came true.
func TestSeedIncidentRevertCameTrue(t *testing.T) {
	st, err := loader.Load(context.Background(), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[revert.Outcome]int{}
	d := revert.New(revert.Options{HandEditManagers: st.Config.HandEditManagers}, revert.EnginePredictor(admit.NewEngine(st, nil)),
		func(o revert.Outcome, _ revert.Ref, _ string) { outcomes[o]++ })
	old, edited := s8(t)
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d.Observe(context.Background(), old, edited, at)
	var back map[string]any
	raw, _ := json.Marshal(old)
	_ = json.Unmarshal(raw, &back)
	md := back["metadata"].(map[string]any)
	md["resourceVersion"] = "48215"
	mf := md["managedFields"].([]any)
	mf[0].(map[string]any)["time"] = "2026-11-25T12:00:14Z"
	rs := d.Observe(context.Background(), edited, back, at.Add(14*time.Second))
	if len(rs) != 1 || rs[0].Predicted != "Namespace/admin" || rs[0].RevertedBy != "metacontroller" || !rs[0].OlderImage {
		t.Fatalf("reverts %+v", rs)
	}
	if outcomes[revert.CameTrue] != 1 || outcomes[revert.Missed] != 0 {
		t.Fatalf("outcomes %v", outcomes)
	}
}

func TestSuggestNamesTheConfigThatWouldHavePredicted(t *testing.T) {
	st, err := loader.Load(context.Background(), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.Config
	obj := revert.Ref{Kind: "Deployment", Namespace: "team", Name: "web"}
	cases := []struct {
		r    revert.Revert
		want string
	}{
		{revert.Revert{Object: obj, Field: "spec.replicas", RevertedBy: "acme-operator", Controller: revert.OwnerRef{APIVersion: "acme.io/v1", Kind: "Widget", Name: "w"}},
			`add to ownerKinds: {group: "acme.io", kind: Widget, reconciles: true, reconciler: "acme-operator"}`},
		{revert.Revert{Object: obj, Field: "spec.replicas", RevertedBy: "acme-operator"},
			"add to owners: {name: <owner>, managers: [acme-operator]"},
		{revert.Revert{Object: obj, Field: "spec.replicas", RevertedBy: "Terraform"},
			"is owner terraform's"},
	}
	for _, c := range cases {
		if got := revert.Suggest(cfg, c.r); !strings.Contains(got, c.want) {
			t.Errorf("Suggest(%+v) = %q, want it to contain %q", c.r, got, c.want)
		}
	}
}

// A person editing a field that was reverted lately is told so at
// admission: input.reverts from the History, the revert_warning rule.
func TestRepeatOffenderWarnedAtAdmission(t *testing.T) {
	h := &revert.History{}
	st, err := loader.Load(context.Background(), loader.Options{Reverts: h})
	if err != nil {
		t.Fatal(err)
	}
	e := admit.NewEngine(st, nil)
	old, new := s8(t)
	oldRaw, _ := json.Marshal(old)
	newRaw, _ := json.Marshal(new)
	req := func(user string) *admissionv1.AdmissionRequest {
		return &admissionv1.AdmissionRequest{
			UID: "u", Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			Resource:  metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
			Namespace: "admin", Name: "ml-pipeline-ui-artifact", Operation: admissionv1.Update,
			UserInfo: authenticationv1.UserInfo{Username: user},
			Object:   k8sruntime.RawExtension{Raw: newRaw}, OldObject: k8sruntime.RawExtension{Raw: oldRaw},
		}
	}
	repeat := func(ws []string) bool {
		for _, w := range ws {
			if strings.Contains(w, "was reverted 3 time(s) in the last hour by metacontroller") {
				return true
			}
		}
		return false
	}
	d, err := e.Decide(context.Background(), req("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if repeat(d.Warnings) {
		t.Fatalf("repeat warning with no history: %v", d.Warnings)
	}
	h.SetNamespace("admin", []audit.Finding{{
		Object: audit.Ref{Kind: "Deployment", Namespace: "admin", Name: "ml-pipeline-ui-artifact"},
		Policy: revert.FindingPolicy, Field: s8Field, Owner: "metacontroller", Count: 3,
	}})
	if d, err = e.Decide(context.Background(), req("alice")); err != nil || !repeat(d.Warnings) {
		t.Fatalf("warnings %v (%v), want the repeat-offender warning", d.Warnings, err)
	}
	if d, err = e.Decide(context.Background(), req("system:serviceaccount:kubeflow:profile-controller")); err != nil || repeat(d.Warnings) {
		t.Fatalf("a controller told it repeats: %v (%v)", d.Warnings, err)
	}
}
