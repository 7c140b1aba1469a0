package admit_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/driftguard/driftguard/internal/loader"
)

// manyDenials denies every request with 20 findings (no metadata: it
// applies to every kind and operation).
const manyDenials = `package driftguard.policies.many
deny contains sprintf("finding %02d", [i]) if some i in numbers.range(1, 20)
`

// A denial names the first 8 findings and summarises the rest, so a
// request that trips many findings still gets a readable message.
func TestDenialMessageCapsFindings(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "many.rego"), manyDenials)
	cfg := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), "defaultMode: enforce\n")
	e := newEnvOpts(t, loader.Options{ConfigFile: cfg, PolicyDirs: []string{dir}, NoBundled: true})
	resp := answer(t, post(e.validate, review(t, nil)))
	if resp.Allowed || resp.Result == nil {
		t.Fatalf("want a denial, got allowed=%v %+v", resp.Allowed, resp.Result)
	}
	msg := resp.Result.Message
	var shown []string
	for i := 1; i <= 20; i++ {
		if strings.Contains(msg, fmt.Sprintf("[many] finding %02d", i)) {
			shown = append(shown, fmt.Sprintf("%02d", i))
		}
	}
	if len(shown) != 8 || !strings.HasSuffix(msg, " | and 12 more") {
		t.Errorf("want 8 findings shown and %q at the end, got %d shown (%v): %q", " | and 12 more", len(shown), shown, msg)
	}
}
