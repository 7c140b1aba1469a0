package admit_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
)

// boomPolicy fails at run time on every Deployment UPDATE (its complete
// rule gets two values: a conflict error).
const boomPolicy = `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.boom
value := 1 if input.request.operation == "UPDATE"
value := 2 if input.request.operation == "UPDATE"
deny contains "boom" if value == 3
`

// A policy that errors or runs out of time denies only in enforce mode
// (with failurePolicy deny): in warn mode it answers a warning, in dryrun
// mode nothing at all; every error is counted.
func TestPolicyErrorAnsweredPerMode(t *testing.T) {
	policies := map[string]struct{ src, reason string }{
		"boom": {boomPolicy, "error"},
		"busy": {busyPolicy, "timeout"},
	}
	for name, p := range policies {
		for _, mode := range []config.Mode{config.ModeEnforce, config.ModeWarn, config.ModeDryRun} {
			t.Run(fmt.Sprintf("%s %s", name, mode), func(t *testing.T) {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, name+".rego"), p.src)
				cfg := fmt.Sprintf("evalTimeout: 200ms\nfailurePolicy: deny\ndefaultMode: %s\n", mode)
				cfgPath := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), cfg)
				e := newEnvOpts(t, loader.Options{ConfigFile: cfgPath, PolicyDirs: []string{dir}, NoBundled: true})
				resp := answer(t, post(e.validate, review(t, nil)))
				want := fmt.Sprintf("[%s] driftguard could not evaluate this policy (%s)", name, p.reason)
				warns := policyWarnings(resp.Warnings, name)
				switch mode {
				case config.ModeEnforce:
					if resp.Allowed || !strings.Contains(resp.Result.Message, want+"; failurePolicy is deny") {
						t.Errorf("enforce: want a denial %q, got allowed=%v %+v", want, resp.Allowed, resp.Result)
					}
				case config.ModeWarn:
					if !resp.Allowed || len(warns) != 1 || warns[0] != want+"; allowed because the policy is in warn mode" {
						t.Errorf("warn: want allowed with the warning %q, got allowed=%v warnings=%q %+v", want, resp.Allowed, resp.Warnings, resp.Result)
					}
				case config.ModeDryRun:
					if !resp.Allowed || len(resp.Warnings) != 0 {
						t.Errorf("dryrun: want allowed without warnings, got allowed=%v warnings=%q %+v", resp.Allowed, resp.Warnings, resp.Result)
					}
				}
				if got := testutil.ToFloat64(e.metrics.EvalErrors.WithLabelValues(name, p.reason)); got != 1 {
					t.Errorf("eval errors{%s,%s} = %v, want 1", name, p.reason, got)
				}
			})
		}
	}
}

// defaultMode applies to every bundled policy (the shipped config pins no
// mode): dryrun allows alice's edit of a Terraform-owned image without a
// word and counts it; a per-policy mode overrides defaultMode.
func TestDefaultModeAppliesToBundledPolicies(t *testing.T) {
	def := string(config.DefaultYAML())
	dry := strings.Replace(def, "\ndefaultMode: enforce\n", "\ndefaultMode: dryrun\n", 1)
	if dry == def {
		t.Fatal("could not set defaultMode in the default config")
	}
	e := newEnv(t, dry)
	resp := answer(t, post(e.validate, review(t, nil)))
	if !resp.Allowed || len(resp.Warnings) != 0 {
		t.Fatalf("defaultMode dryrun: allowed=%v warnings=%q %+v", resp.Allowed, resp.Warnings, resp.Result)
	}
	if got := testutil.ToFloat64(e.metrics.Decisions.WithLabelValues("owned_fields", "dryrun", "UPDATE", "Deployment", "false")); got != 1 {
		t.Errorf("owned_fields dryrun decisions %v, want 1", got)
	}

	override := strings.Replace(dry, "  owned_fields:\n", "  owned_fields:\n    mode: enforce\n", 1)
	e = newEnv(t, override)
	resp = answer(t, post(e.validate, review(t, nil)))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "[owned_fields]") {
		t.Fatalf("owned_fields mode enforce under defaultMode dryrun: allowed=%v %+v", resp.Allowed, resp.Result)
	}
	if got := e.engine.State().Config.ModeFor("revert_warning"); got != config.ModeDryRun {
		t.Errorf("revert_warning mode %s, want dryrun from defaultMode", got)
	}
}
