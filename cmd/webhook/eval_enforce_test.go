package main

import (
	"strings"
	"testing"

	"github.com/driftguard/driftguard/internal/config"
)

// driftguard eval shows, from the command line: a policy that reaches the
// network does not load; defaultMode dryrun allows and only counts; a
// Terraform typed resource's manager (HashiCorp) owns the fields it wrote.
func TestEvalEnforcement(t *testing.T) {
	bin := buildCLI(t)
	review := "test/fixtures/reviews/set-image-alice.json"

	t.Run("a policy calling http.send does not load", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, dir, "phone_home.rego", `package driftguard.policies.phone_home

deny contains "upstream said no" if {
	resp := http.send({"method": "GET", "url": "http://203.0.113.1/allow"})
	resp.status_code != 200
}
`)
		r := runCLI(t, bin, "", "eval", "-f", review, "--policies", dir)
		want := p + ":4: http.send is not allowed in driftguard policies: they run on the API server's request path and may not reach the network or the runtime"
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, want)
		}
	})

	t.Run("defaultMode dryrun allows and shows the dryrun verdict", func(t *testing.T) {
		def := string(config.DefaultYAML())
		dry := strings.Replace(def, "\ndefaultMode: enforce\n", "\ndefaultMode: dryrun\n", 1)
		if dry == def {
			t.Fatal("could not set defaultMode in the default config")
		}
		cfg := writeFile(t, t.TempDir(), "dryrun.yaml", dry)
		r := runCLI(t, bin, "", "eval", "-f", review, "--config", cfg)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		for _, w := range []string{"answer:    allowed", "warnings:  none", "owned_fields             dryrun   dryrun",
			"deny  [spec.template.spec.containers[api].image, owner terraform]", "revert_warning           dryrun   allow"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("output lacks %q:\n%s", w, r.stdout)
			}
		}
	})

	t.Run("the Terraform provider's manager HashiCorp owns the StatefulSet's image", func(t *testing.T) {
		r := runCLI(t, bin, "", "eval", "-f", "test/fixtures/reviews/set-image-statefulset-hashicorp.json")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		for _, w := range []string{"answer:    denied",
			`message:   driftguard: [owned_fields] spec.template.spec.containers[db].image of StatefulSet tenant-a/db is owned by Terraform (managedFields manager "HashiCorp"); alice is not Terraform's identity.`,
			"owned_fields             enforce  deny"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("output lacks %q:\n%s", w, r.stdout)
			}
		}
		if r.stderr != "" {
			t.Errorf("stderr %q, want none with the shipped config", r.stderr)
		}
	})

	t.Run("a manager spelled in another case still matches and is warned about", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "config.yaml", `owners:
  - name: terraform
    display: Terraform
    managers: [hashicorp]
    identities: {serviceAccounts: [infra/terraform]}
    source: "the tenant's Terraform module"
`)
		r := runCLI(t, bin, "", "eval", "-f", "test/fixtures/reviews/set-image-statefulset-hashicorp.json", "--config", cfg)
		if r.code != 0 || !strings.Contains(r.stdout, "answer:    denied") {
			t.Fatalf("exit %d, want the denial\n%s%s", r.code, r.stdout, r.stderr)
		}
		want := `warning: config: owners[0].managers: manager "hashicorp" differs from the Terraform kubernetes provider's "HashiCorp" only by case; it matches (manager names match case-insensitively), but write "HashiCorp"`
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
		// driftguard test prints the same warning
		rt := runCLI(t, bin, "", "test", "--config", cfg, "--no-rego-tests", "policies/suites/owned-fields.suite.yaml")
		if !strings.Contains(rt.stderr, want) {
			t.Errorf("driftguard test stderr lacks %q:\n%s", want, rt.stderr)
		}
	})
}
