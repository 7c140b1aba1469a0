package suite

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IsSuiteFile reports whether a file name is a suite file.
func IsSuiteFile(name string) bool {
	return strings.HasSuffix(name, ".suite.yaml") || strings.HasSuffix(name, ".suite.yml")
}

// Discover lists the suite files (*.suite.yaml, *.suite.yml) under the
// given paths; a path that is a file is taken as a suite file.
func Discover(paths []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if q != p && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if IsSuiteFile(d.Name()) {
				found = append(found, q)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		for _, q := range found {
			if !seen[q] {
				seen[q] = true
				out = append(out, q)
			}
		}
	}
	return out, nil
}
