package loader

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/driftguard/driftguard/internal/policy"
	"github.com/driftguard/driftguard/policies"
)

// PolicyOptions returns the loader options for policy directories. A
// directory that holds the bundled policies' files (the policies/
// directory of the repository) replaces the embedded copy, so a bundled
// policy can be edited and tested without a rebuild, and nothing is
// loaded twice. The notes say which directories did so.
func PolicyOptions(dirs []string, noBundled bool) (Options, []string) {
	o := Options{PolicyDirs: dirs, NoBundled: noBundled}
	if noBundled {
		return o, nil
	}
	var notes []string
	for _, d := range dirs {
		if HoldsBundled(d) {
			o.NoBundled = true
			notes = append(notes, fmt.Sprintf("%s holds the bundled policies: its files are used instead of the copies embedded in the binary", d))
		}
	}
	return o, notes
}

// HoldsBundled reports whether a directory holds a file of the bundled
// policies (same relative path, same package).
func HoldsBundled(dir string) bool {
	src, err := policy.ReadDir(policies.FS, ".", true)
	if err != nil {
		return false
	}
	for _, s := range src {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(s.Name)))
		if err != nil {
			continue
		}
		if pkg := packageOf([]byte(s.Text)); pkg != "" && pkg == packageOf(b) {
			return true
		}
	}
	return false
}

func packageOf(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "package "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}
