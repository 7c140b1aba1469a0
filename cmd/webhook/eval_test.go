package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvalCommand(t *testing.T) {
	bin := buildCLI(t)
	review := filepath.Join("test", "fixtures", "reviews", "set-image-alice.json")

	t.Run("prints the denial and who said it", func(t *testing.T) {
		r := runCLI(t, bin, "", "eval", "-f", review)
		if r.code != 0 {
			t.Fatalf("exit %d (a denial is a successful evaluation)\n%s", r.code, r.stderr)
		}
		for _, w := range []string{
			"review:    UPDATE apps/v1 Deployment tenant-a/api by alice (fieldManager kubectl-set)",
			"answer:    denied",
			"message:   driftguard: [owned_fields] spec.template.spec.containers[api].image of Deployment tenant-a/api is owned by Terraform",
			"owned_fields             enforce  deny",
			"deny  [spec.template.spec.containers[api].image, owner terraform]",
			"revert_warning           enforce  allow",
			"externalsecret_owned     enforce  skipped",
		} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("output lacks %q:\n%s", w, r.stdout)
			}
		}
	})

	t.Run("a scale request without a cluster: denied per failurePolicy, naming the Deployment", func(t *testing.T) {
		r := runCLI(t, bin, "", "eval", "-f", filepath.Join("test", "fixtures", "reviews", "scale-alice.json"), "--show-input")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		for _, w := range []string{
			"review:    UPDATE autoscaling/v1 Scale tenant-a/api by alice (subresource scale)",
			"answer:    denied",
			"message:   driftguard: UPDATE of deployments/scale tenant-a/api was not reviewed: this scale request changes spec.replicas of Deployment tenant-a/api, and driftguard cannot tell who owns it: there is no cluster connection",
			"failurePolicy is deny",
			`"kind": "Deployment"`,
			`"read": false`,
		} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("output lacks %q:\n%s", w, r.stdout)
			}
		}
	})

	t.Run("stdin, json and the input", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(repoDir(), review))
		if err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, bin, string(b), "eval", "-f", "-", "--show-input", "-o", "json")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		var out struct {
			Answer struct {
				Allowed  bool
				Message  string
				Verdicts []struct{ Policy, Decision string }
			}
			Input struct {
				Actor   struct{ Username, FieldManager string }
				Changes []struct{ Path, Owner string }
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
		if out.Answer.Allowed || !strings.Contains(out.Answer.Message, "is owned by Terraform") {
			t.Errorf("answer %+v", out.Answer)
		}
		if out.Input.Actor.Username != "alice" || out.Input.Actor.FieldManager != "kubectl-set" ||
			len(out.Input.Changes) != 1 || out.Input.Changes[0].Path != "spec.template.spec.containers[api].image" || out.Input.Changes[0].Owner != "terraform" {
			t.Errorf("input %+v", out.Input)
		}
	})

	t.Run("warn mode with --mutate shows the drift record", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "config.yaml", `owners:
  - name: terraform
    display: Terraform
    managers: [Terraform]
    identities: {serviceAccounts: [infra/terraform]}
    source: "the tenant's Terraform module"
policies:
  owned_fields: {mode: warn}
`)
		r := runCLI(t, bin, "", "eval", "-f", review, "--config", cfg, "--mutate")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		for _, w := range []string{"answer:    allowed", "allowed by warn mode, recorded as drift", "owned_fields             warn     warn", "patch:     (mutating webhook)", `"path":"/metadata/annotations"`, `driftguard.io/drift`} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("output lacks %q:\n%s", w, r.stdout)
			}
		}
	})

	t.Run("bad input exits 2", func(t *testing.T) {
		dir := t.TempDir()
		v1beta1 := writeFile(t, dir, "old.json", `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}`)
		badObj := writeFile(t, dir, "obj.json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Deployment"},"operation":"UPDATE","object":"x","oldObject":{}}}`)
		for _, tc := range []struct {
			args  []string
			stdin string
			want  string
		}{
			{[]string{"eval"}, "", "-f is required"},
			{[]string{"eval", "-f", "no/such.json"}, "", "no such file"},
			{[]string{"eval", "-f", "-"}, "{not json", "neither JSON nor YAML"},
			{[]string{"eval", "-f", "-"}, "", "empty"},
			{[]string{"eval", "-f", v1beta1}, "", "only admission.k8s.io/v1 AdmissionReview"},
			{[]string{"eval", "-f", badObj}, "", "the review cannot be evaluated: request.object"},
			{[]string{"eval", "-f", review, "--config", "no/such.yaml"}, "", "loading config and policies"},
		} {
			r := runCLI(t, bin, tc.stdin, tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
			}
		}
	})
}
