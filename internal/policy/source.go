package policy

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Source is one Rego file.
type Source struct {
	Name string // file path or embedded name, for messages
	Text string
}

// ReadDir reads the .rego files of a directory tree. Test files
// (*_test.rego) are included only when withTests is set.
func ReadDir(fsys fs.FS, root string, withTests bool) ([]Source, error) {
	var out []Source
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir // ConfigMap mounts keep old copies in ..data dirs
			}
			return nil
		}
		if !strings.HasSuffix(p, ".rego") || (!withTests && strings.HasSuffix(p, "_test.rego")) {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out = append(out, Source{Name: p, Text: string(b)})
		return nil
	})
	return out, err
}

// ReadDirs reads Rego files from directories on disk.
func ReadDirs(dirs []string, withTests bool) ([]Source, error) {
	var out []Source
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		src, err := ReadDir(os.DirFS(abs), ".", withTests)
		if err != nil {
			return nil, fmt.Errorf("policy directory %s: %w", d, err)
		}
		for i := range src {
			src[i].Name = filepath.Join(d, src[i].Name)
		}
		out = append(out, src...)
	}
	return out, nil
}

// ParseModules parses the sources as Rego v1 modules, by name, with their
// METADATA annotations (see metadata.go); all parse errors (and names
// loaded twice) are returned together, and so are uses of
// ForbiddenBuiltins (see CheckBuiltins).
func ParseModules(sources []Source) (map[string]*ast.Module, error) {
	modules := make(map[string]*ast.Module, len(sources))
	var errs []error
	for _, s := range sources {
		m, err := ast.ParseModuleWithOpts(s.Name, s.Text, ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := modules[s.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: loaded twice", s.Name))
		}
		modules[s.Name] = m
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("parse policies: %w", errors.Join(errs...))
	}
	if err := CheckBuiltins(modules); err != nil {
		return nil, fmt.Errorf("parse policies: %w", err)
	}
	return modules, nil
}

// locatedError is a load error at a line of a file; errors are reported
// in file and line order.
type locatedError struct {
	file string
	row  int
	msg  string
}

func (e *locatedError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.row, e.msg) }

// errorAt is the error at loc (file when loc has none).
func errorAt(loc *ast.Location, file, format string, args ...any) *locatedError {
	e := &locatedError{file: file, msg: fmt.Sprintf(format, args...)}
	if loc != nil {
		e.row = loc.Row
		if loc.File != "" {
			e.file = loc.File
		}
	}
	return e
}

// joinSorted joins errs in file and line order (nil when there are none).
func joinSorted(errs []*locatedError) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool {
		return cmp.Or(cmp.Compare(errs[i].file, errs[j].file), cmp.Compare(errs[i].row, errs[j].row)) < 0
	})
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}
