package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftguard/driftguard/internal/admit"
)

// Suite is a loaded suite file, ready to run.
type Suite struct {
	Name  string
	File  string
	Cases []*Case
}

// Case is a loaded case.
type Case struct {
	Name     string
	Location string // file:line
	Skip     string
	// Request is what the webhook sees (nil for AUDIT cases).
	Request *admissionv1.AdmissionRequest
	// Live is the object whose drift rules are checked (with managedFields).
	Live    map[string]any
	LiveGVK metav1.GroupVersionKind
	Expect  Expect
	state   *admit.State
	now     func() time.Time
}

// FullName is suite/case, what --run matches.
func (c *Case) FullName(s *Suite) string { return s.Name + "/" + c.Name }

// LoadFiles loads suite files. Every problem of every file is reported
// (file:line: cases[i] (name): problem); no suite is returned then.
func (r *Runner) LoadFiles(ctx context.Context, paths []string) ([]*Suite, error) {
	var out []*Suite
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s, ferrs := r.Load(ctx, p, b)
		errs = append(errs, ferrs...)
		if s != nil {
			out = append(out, s)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Load parses one suite file's content and prepares its cases.
func (r *Runner) Load(ctx context.Context, file string, b []byte) (s *Suite, errs []error) {
	defer func() {
		// a malformed file is reported, never a crash
		if p := recover(); p != nil {
			s, errs = nil, []error{fmt.Errorf("%s: cannot be loaded: %v", file, p)}
		}
	}()
	return r.load(ctx, file, b)
}

func (r *Runner) load(ctx context.Context, file string, b []byte) (*Suite, []error) {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(b, &doc); err != nil {
		return nil, []error{fmt.Errorf("%s: invalid YAML: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, []error{fmt.Errorf("%s: empty suite file", file)}
	}
	root := doc.Content[0]
	if root.Kind != yamlv3.MappingNode {
		return nil, []error{fmt.Errorf("%s:%d: a suite file is a mapping with name, config, cases", file, root.Line)}
	}
	j, err := nodeJSON(root)
	if err != nil {
		return nil, []error{fmt.Errorf("%s: %w", file, err)}
	}
	var spec FileSpec
	if err := strictJSON(j, &spec); err != nil {
		return nil, []error{fmt.Errorf("%s: %w", file, err)}
	}
	var caseLines []int
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "cases" && root.Content[i+1].Kind == yamlv3.SequenceNode {
			for _, c := range root.Content[i+1].Content {
				caseLines = append(caseLines, c.Line)
			}
		}
	}
	s := &Suite{Name: spec.Name, File: file}
	if s.Name == "" {
		base := filepath.Base(file)
		for _, suf := range []string{".suite.yaml", ".suite.yml", ".yaml", ".yml"} {
			base = strings.TrimSuffix(base, suf)
		}
		s.Name = base
	}
	if len(spec.Cases) == 0 {
		return nil, []error{fmt.Errorf("%s: no cases", file)}
	}
	dir := filepath.Dir(file)
	var errs []error
	var now func() time.Time
	if spec.Now != "" {
		t, err := time.Parse(time.RFC3339, spec.Now)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: now: %q is not an RFC 3339 time (2026-11-25T12:00:00Z)", file, spec.Now))
		} else {
			now = func() time.Time { return t }
		}
	}
	var suiteDirs []string
	for _, d := range spec.Policies {
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("%s: policies: %s is not a directory", file, d))
			continue
		}
		suiteDirs = append(suiteDirs, d)
	}
	names := map[string]int{}
	for i, raw := range spec.Cases {
		line := 0
		if i < len(caseLines) {
			line = caseLines[i]
		}
		at := fmt.Sprintf("%s:%d: cases[%d]", file, line, i)
		var cs CaseSpec
		if err := strictJSON(raw, &cs); err != nil {
			var peek struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(raw, &peek)
			if peek.Name != "" {
				at += " (" + peek.Name + ")"
			}
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
			continue
		}
		if cs.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", at))
			continue
		}
		at += " (" + cs.Name + ")"
		if prev, dup := names[cs.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: the name is already used by cases[%d]", at, prev))
			continue
		}
		names[cs.Name] = i
		c, err := r.prepare(ctx, &spec, &cs, dir, suiteDirs, s.Name, i)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
			continue
		}
		c.Location = fmt.Sprintf("%s:%d", file, line)
		c.now = now
		s.Cases = append(s.Cases, c)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// nodeJSON converts a YAML node to JSON.
func nodeJSON(n *yamlv3.Node) ([]byte, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot be converted to JSON (are all map keys strings?): %w", err)
	}
	return b, nil
}
