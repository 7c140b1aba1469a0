package chart

import (
	"testing"

	"github.com/driftguard/driftguard/internal/config"
)

// config.defaultMode and config.policies.<name>.mode reach the rendered
// config, which the binary's own parser accepts with those modes: a first
// rollout in dryrun with one policy enforced.
func TestModes(t *testing.T) {
	r := render(t, "--set", "config.defaultMode=dryrun", "--set", "config.policies.owned_fields.mode=enforce")
	text := getLabelish(r.named(t, "ConfigMap", release+"-driftguard-config"), "data", "config.yaml")
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatalf("rendered config does not parse: %v\n%s", err, text)
	}
	for policy, want := range map[string]config.Mode{
		"owned_fields":   config.ModeEnforce,
		"revert_warning": config.ModeDryRun,
		"feature_flags":  config.ModeDryRun,
		"mutable_tags":   config.ModeDryRun,
	} {
		if got := cfg.ModeFor(policy); got != want {
			t.Errorf("ModeFor(%s) = %s, want %s", policy, got, want)
		}
	}
	// the merge kept owned_fields' params next to the mode
	if p := cfg.Policies["owned_fields"].Params; p["denyDelete"] != true || p["ignoredPaths"] == nil {
		t.Errorf("owned_fields params lost in the merge: %v", p)
	}

	// without values the shipped default pins no mode: everything is enforce
	def, err := config.Parse([]byte(getLabelish(render(t).named(t, "ConfigMap", release+"-driftguard-config"), "data", "config.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range def.Policies {
		if p.Mode != "" {
			t.Errorf("the shipped config pins policies.%s.mode: %s (defaultMode would not apply to it)", name, p.Mode)
		}
	}
}
