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
}
