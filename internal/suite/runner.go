package suite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/driftguard/driftguard/internal/admit"
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

// Runner loads and runs suites.
type Runner struct {
	opts   Options
	files  files
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

func (r *Runner) note(s string) {
	if !r.noted[s] {
		r.noted[s] = true
		r.Notes = append(r.Notes, s)
	}
}

// state loads (once) the serving state for a config and policy dirs.
func (r *Runner) state(ctx context.Context, cc caseConfig, dirs []string) (*admit.State, error) {
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
	o.ConfigFile, o.Config = cc.path, cc.cfg
	key := fmt.Sprintf("%s\x00%v\x00%s", cc.key, o.NoBundled, strings.Join(o.PolicyDirs, "\x00"))
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
