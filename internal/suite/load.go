package suite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
)

// Options configure a test run.
type Options struct {
	// PolicyDirs are extra policy directories: their Rego unit tests run,
	// and suites evaluate against their policies.
	PolicyDirs []string
	// NoBundled leaves the embedded policies out.
	NoBundled bool
	// ConfigFile is the config of suites that name none ("" = embedded default).
	ConfigFile string
	// Run, when set, selects Rego tests (package.test_name) and suite
	// cases (suite/case) by name.
	Run *regexp.Regexp
	// Timeout bounds each Rego unit test (default 30s).
	Timeout time.Duration
}

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

// Runner loads and runs suites. Close it to remove its temporary files.
type Runner struct {
	opts   Options
	files  files
	tmp    string
	states map[string]*admit.State
	// Notes are worth telling, e.g. that a policy directory replaces the
	// bundled policies.
	Notes []string
	noted map[string]bool
	// Warnings are the loaded configs' warnings (config.Config.Warnings),
	// each once.
	Warnings []string
	warned   map[string]bool
}

// NewRunner returns a runner.
func NewRunner(o Options) *Runner {
	return &Runner{opts: o, states: map[string]*admit.State{}, noted: map[string]bool{}, warned: map[string]bool{}}
}

// Close removes temporary files.
func (r *Runner) Close() {
	if r.tmp != "" {
		_ = os.RemoveAll(r.tmp)
		r.tmp = ""
	}
}

func (r *Runner) note(s string) {
	if !r.noted[s] {
		r.noted[s] = true
		r.Notes = append(r.Notes, s)
	}
}

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

func (r *Runner) prepare(ctx context.Context, spec *FileSpec, cs *CaseSpec, dir string, suiteDirs []string, suiteName string, i int) (*Case, error) {
	if cs.Expect == nil {
		return nil, errors.New("expect is required: what should the answer be?")
	}
	if cs.Expect.empty() {
		return nil, errors.New("expect is empty: give allowed, message, warnings, patch, decisions, drift or error")
	}
	for p, d := range cs.Expect.Decisions {
		if !validDecisions[d] {
			return nil, fmt.Errorf("expect.decisions.%s: %q is not one of allow, deny, warn, break_glass, dryrun, error, skipped", p, d)
		}
	}
	c := &Case{Name: cs.Name, Skip: cs.Skip, Expect: *cs.Expect}
	uid := cs.UID
	if uid == "" {
		h := sha256.Sum256([]byte(suiteName + "/" + cs.Name))
		x := hex.EncodeToString(h[:16])
		uid = x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
	}

	if len(cs.Review) > 0 && string(cs.Review) != "null" {
		var conflicting []string
		for name, set := range map[string]bool{
			"object": len(cs.Object) > 0, "oldObject": len(cs.OldObject) > 0, "objectPatch": len(cs.ObjectPatch) > 0,
			"oldObjectPatch": len(cs.OldPatch) > 0, "operation": cs.Operation != "", "kind": cs.Kind != nil,
			"resource": cs.Resource != nil, "subResource": cs.SubResource != "", "namespace": cs.Namespace != nil,
			"objectName": cs.ObjectName != nil, "uid": cs.UID != "",
		} {
			if set {
				conflicting = append(conflicting, name)
			}
		}
		if len(conflicting) > 0 {
			sort.Strings(conflicting)
			return nil, fmt.Errorf("review and %s are exclusive (with a review, only userInfo, fieldManager, options and dryRun may be overridden)", strings.Join(conflicting, ", "))
		}
		b, from, err := r.files.source(cs.Review, dir)
		if err != nil {
			return nil, fmt.Errorf("review: %w", err)
		}
		rv, err := ParseReview(b)
		if err != nil {
			if from != "" {
				return nil, fmt.Errorf("review %s: %w", from, err)
			}
			return nil, fmt.Errorf("review: %w", err)
		}
		req := rv.Request
		if err := applyOverrides(cs, req); err != nil {
			return nil, err
		}
		c.Request = req
		if cs.Expect.Drift != nil {
			ref := req.Object
			if len(ref.Raw) == 0 {
				ref = req.OldObject
			}
			if c.Live, err = objectOf(ref); err != nil || c.Live == nil {
				return nil, errors.New("expect.drift needs an object in the review")
			}
			c.LiveGVK = req.Kind
		}
	} else {
		old, err := r.files.object("oldObject", cs.OldObject, cs.OldPatch, dir)
		if err != nil {
			return nil, err
		}
		if len(cs.OldPatch) > 0 && old == nil {
			return nil, errors.New("oldObjectPatch needs oldObject")
		}
		var obj map[string]any
		switch {
		case len(cs.Object) > 0 && string(cs.Object) != "null":
			if obj, err = r.files.object("object", cs.Object, cs.ObjectPatch, dir); err != nil {
				return nil, err
			}
		case len(cs.ObjectPatch) > 0:
			if old == nil {
				return nil, errors.New("objectPatch needs object or oldObject to apply to")
			}
			b, _ := json.Marshal(old)
			if obj, err = decodeObject("object", "oldObject", b, cs.ObjectPatch); err != nil {
				return nil, err
			}
		}
		req, err := buildRequest(cs, obj, old, uid)
		if err != nil {
			return nil, err
		}
		if req.Operation == OperationAudit {
			if cs.Expect.admission() {
				return nil, errors.New("an AUDIT case evaluates drift rules only: expect drift, nothing else")
			}
			if cs.Expect.Drift == nil {
				return nil, errors.New("an AUDIT case needs expect.drift")
			}
		} else {
			c.Request = req
		}
		if cs.Expect.Drift != nil {
			c.Live = obj
			if c.Live == nil {
				c.Live = old
			}
			c.LiveGVK = req.Kind
		}
	}
	if c.Request != nil && !operations[string(c.Request.Operation)] {
		return nil, fmt.Errorf("operation %q is not one of CREATE, UPDATE, DELETE, CONNECT", c.Request.Operation)
	}

	cfgPath, err := r.configFor(spec, cs, dir)
	if err != nil {
		return nil, err
	}
	dirs := append(append([]string{}, r.opts.PolicyDirs...), suiteDirs...)
	if c.state, err = r.state(ctx, cfgPath, dirs); err != nil {
		return nil, err
	}
	if err := r.withScaleParent(c, cs, dir); err != nil {
		return nil, err
	}
	return c, nil
}

var validDecisions = map[string]bool{"allow": true, "deny": true, "warn": true, "break_glass": true, "dryrun": true, "error": true, "skipped": true}

// configFor returns the config file to load for a case ("" = embedded
// default), writing inline configs and overrides to temporary files.
func (r *Runner) configFor(spec *FileSpec, cs *CaseSpec, dir string) (string, error) {
	base, baseDir, what := cs.Config, dir, "config"
	if len(base) == 0 || string(base) == "null" {
		base = spec.Config
	}
	var path string
	var inline []byte
	if len(base) == 0 || string(base) == "null" {
		path, baseDir = r.opts.ConfigFile, ""
		what = "the default config"
		if path != "" {
			what = "config " + path
		}
	} else if err := json.Unmarshal(base, &path); err == nil {
		if path == "" {
			return "", errors.New("config: empty file path")
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(baseDir, path)
		}
		what = "config " + path
	} else {
		inline = base
		what = "inline config"
	}
	var overrides []map[string]any
	if spec.ConfigOverrides != nil {
		overrides = append(overrides, spec.ConfigOverrides)
	}
	if cs.ConfigOverrides != nil {
		overrides = append(overrides, cs.ConfigOverrides)
	}
	if inline == nil && len(overrides) == 0 {
		if path != "" {
			if _, err := os.Stat(path); err != nil {
				return "", fmt.Errorf("config: %w", err)
			}
		}
		return path, nil
	}
	var b []byte
	switch {
	case inline != nil:
		b = inline
	case path != "":
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return "", fmt.Errorf("config: %w", err)
		}
	default:
		b = config.DefaultYAML()
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return "", fmt.Errorf("%s: invalid YAML: %w", what, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	for _, o := range overrides {
		m = merge(m, o)
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	if len(overrides) > 0 {
		what += " with configOverrides"
	}
	if _, err := config.Parse(out); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	sum := sha256.Sum256(out)
	if r.tmp == "" {
		if r.tmp, err = os.MkdirTemp("", "driftguard-test-"); err != nil {
			return "", err
		}
	}
	p := filepath.Join(r.tmp, "config-"+hex.EncodeToString(sum[:8])+".yaml")
	if _, err := os.Stat(p); err != nil {
		if err := os.WriteFile(p, out, 0o600); err != nil {
			return "", err
		}
	}
	return p, nil
}

// merge merges o over m: maps key by key, anything else replaced.
func merge(m, o map[string]any) map[string]any {
	out := make(map[string]any, len(m)+len(o))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range o {
		if om, ok := v.(map[string]any); ok {
			if mm, ok := out[k].(map[string]any); ok {
				out[k] = merge(mm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// state loads (once) the serving state for a config and policy dirs.
func (r *Runner) state(ctx context.Context, cfgPath string, dirs []string) (*admit.State, error) {
	var uniq []string // as given, each directory once
	seen := map[string]bool{}
	for _, d := range dirs {
		a, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		if !seen[a] {
			seen[a] = true
			uniq = append(uniq, d)
		}
	}
	o := r.PolicyOptions(uniq)
	o.ConfigFile = cfgPath
	key := fmt.Sprintf("%s\x00%v\x00%s", cfgPath, o.NoBundled, strings.Join(o.PolicyDirs, "\x00"))
	if st, ok := r.states[key]; ok {
		if st == nil {
			return nil, errors.New("config or policies failed to load (see above)")
		}
		return st, nil
	}
	st, err := loader.Load(ctx, o)
	r.states[key] = st
	if err != nil {
		return nil, fmt.Errorf("loading config and policies: %w", err)
	}
	for _, w := range st.Config.Warnings {
		if !r.warned[w] {
			r.warned[w] = true
			r.Warnings = append(r.Warnings, w)
		}
	}
	return st, nil
}

// PolicyOptions returns the loader options for policy directories (see
// loader.PolicyOptions), noting replaced bundled policies.
func (r *Runner) PolicyOptions(dirs []string) loader.Options {
	o, notes := loader.PolicyOptions(dirs, r.opts.NoBundled)
	for _, n := range notes {
		r.note(n)
	}
	return o
}
