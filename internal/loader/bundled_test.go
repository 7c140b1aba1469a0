package loader_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/driftguard/driftguard/internal/loader"
)

// The repository's policies/ holds the bundled policies and replaces the
// embedded copy; a directory of other policies adds to it.
func TestPolicyOptionsReplaceBundledByTheirDirectory(t *testing.T) {
	bundled := filepath.Join("..", "..", "policies")
	if !loader.HoldsBundled(bundled) {
		t.Error("policies/ does not hold the bundled policies")
	}
	foreign := t.TempDir()
	write(t, filepath.Join(foreign, "no_latest.rego"), extra)
	if loader.HoldsBundled(foreign) {
		t.Error("a foreign policy dir holds the bundled policies")
	}

	o, notes := loader.PolicyOptions([]string{foreign}, false)
	if o.NoBundled || len(notes) != 0 {
		t.Errorf("foreign dir: NoBundled=%v notes=%v", o.NoBundled, notes)
	}
	o, notes = loader.PolicyOptions([]string{foreign, bundled}, false)
	if !o.NoBundled || len(notes) != 1 || !strings.Contains(notes[0], bundled+" holds the bundled policies") {
		t.Errorf("policies/: NoBundled=%v notes=%v", o.NoBundled, notes)
	}
	if len(o.PolicyDirs) != 2 {
		t.Errorf("dirs %v", o.PolicyDirs)
	}
}
