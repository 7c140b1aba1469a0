package suite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/driftguard/driftguard/internal/config"
)

// Inline configs and configOverrides are merged and loaded in memory: no
// file is written, and cases with the same merged config share a state.
func TestMergedConfigsWriteNoFiles(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	review := filepath.Join(repoRoot(), "test", "fixtures", "reviews", "set-image-alice.json")
	dir := t.TempDir()
	write(t, dir, "default.yaml", string(config.DefaultYAML()))
	f := write(t, dir, "c.suite.yaml", `cases:
  - name: default config
    review: `+review+`
    expect: {allowed: false, decisions: {owned_fields: deny}}
  - name: overrides
    review: `+review+`
    configOverrides: {policies: {owned_fields: {mode: warn}}}
    expect: {allowed: true, decisions: {owned_fields: warn}}
  - name: the same overrides again
    review: `+review+`
    configOverrides: {policies: {owned_fields: {mode: warn}}}
    expect: {allowed: true, decisions: {owned_fields: warn}}
  - name: inline config without owners
    review: `+review+`
    config: {defaultMode: enforce}
    expect: {allowed: true, decisions: {owned_fields: allow}}
  - name: config file with overrides
    review: `+review+`
    config: default.yaml
    configOverrides: {policies: {owned_fields: {mode: dryrun}}}
    expect: {allowed: true, decisions: {owned_fields: dryrun}}
  - name: config file
    review: `+review+`
    config: default.yaml
    expect: {allowed: false, decisions: {owned_fields: deny}}
`)
	r, suites, err := load(t, Options{}, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.RunSuites(context.Background(), suites)[0].Cases {
		if c.Status != StatusPass {
			t.Errorf("%s: %s: %s", c.Name, c.Status, c.Reason)
		}
	}
	// the default, the warn overrides, the inline config, default.yaml,
	// default.yaml with dryrun
	if len(r.states) != 5 {
		t.Errorf("%d states loaded, want 5", len(r.states))
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("file left in TMPDIR: %s", e.Name())
	}
}
