package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/go-logr/logr"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
	"github.com/driftguard/driftguard/internal/metrics"
	"github.com/driftguard/driftguard/internal/policy"
	"github.com/driftguard/driftguard/policies"
)

// Options say where config and policies come from.
type Options struct {
	// ConfigFile is the YAML config; empty means the embedded default.
	ConfigFile string
	// Config, when set, is the config itself (config.Parse), used instead
	// of ConfigFile, which must then be empty. Reload does not watch it.
	Config *config.Config
	// PolicyDirs are extra directories of .rego files.
	PolicyDirs []string
	// NoBundled leaves the embedded policies out.
	NoBundled bool
	// Parents looks up controlling owners (nil: none).
	Parents input.ParentLookup
	// Baseline tells which baseline needs depend on RBAC objects (nil: none).
	Baseline input.BaselineLookup
	// Reverts tells which fields of an object were reverted lately (nil: none).
	Reverts input.RevertLookup
	// Scale reads the parents of scale requests (nil: none, so they are
	// answered per failurePolicy).
	Scale input.ScaleReader
}

// Sources returns the Rego sources: bundled first, then the directories.
func Sources(o Options, withTests bool) ([]policy.Source, error) {
	var out []policy.Source
	if !o.NoBundled {
		b, err := policy.ReadDir(policies.FS, ".", withTests)
		if err != nil {
			return nil, fmt.Errorf("bundled policies: %w", err)
		}
		for i := range b {
			b[i].Name = "bundled:" + b[i].Name
		}
		out = append(out, b...)
	}
	d, err := policy.ReadDirs(o.PolicyDirs, withTests)
	if err != nil {
		return nil, err
	}
	return append(out, d...), nil
}

// Load builds a state from the options.
func Load(ctx context.Context, o Options) (*admit.State, error) {
	st, _, err := LoadWithSources(ctx, o)
	return st, err
}

// LoadWithSources is Load, also returning the Rego sources the policies
// were compiled from (internal/narrowing tells bundled policies from
// edited copies by them).
func LoadWithSources(ctx context.Context, o Options) (*admit.State, []policy.Source, error) {
	cfg, err := o.config()
	if err != nil {
		return nil, nil, err
	}
	src, err := Sources(o, false)
	if err != nil {
		return nil, nil, err
	}
	params := map[string]any{}
	for name, p := range cfg.Policies {
		if p.Params != nil {
			params[name] = p.Params
		}
	}
	set, err := policy.Compile(ctx, src, params)
	if err != nil {
		return nil, nil, err
	}
	set.TimeoutRetry = policy.TimeoutRetryFor(cfg.EvalTimeout.Duration)
	if len(set.Policies) == 0 {
		return nil, nil, fmt.Errorf("no policies loaded (bundled policies off and no package %s<name> in %v)", policy.PackagePrefix, o.PolicyDirs)
	}
	for name := range cfg.Policies {
		if set.Get(name) == nil {
			return nil, nil, fmt.Errorf("config names policy %q, which is not loaded", name)
		}
	}
	b := input.NewBuilder(cfg, o.Parents)
	if o.Baseline != nil {
		b.WithBaseline(o.Baseline)
	}
	if o.Scale != nil {
		b = b.WithScaleReader(o.Scale)
	}
	if o.Reverts != nil {
		b.WithReverts(o.Reverts)
	}
	return &admit.State{Config: cfg, Builder: b, Policies: set}, src, nil
}

func (o Options) config() (*config.Config, error) {
	if o.Config == nil {
		return config.Load(o.ConfigFile)
	}
	if o.ConfigFile != "" {
		return nil, fmt.Errorf("config %s: a config is given as well as the file; give one", o.ConfigFile)
	}
	return o.Config, nil
}

// Fingerprint hashes the contents of the config file and the policy
// directories, so any edit (including a ConfigMap's symlink swap) shows.
func Fingerprint(o Options) (string, error) {
	h := sha256.New()
	add := func(p string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", p)
		_, err = io.Copy(h, f)
		return err
	}
	if o.ConfigFile != "" {
		if err := add(o.ConfigFile); err != nil {
			return "", err
		}
	}
	for _, d := range o.PolicyDirs {
		var files []string
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() && p != d && e.Name()[0] == '.' {
				return fs.SkipDir
			}
			if !e.IsDir() && filepath.Ext(p) == ".rego" {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		sort.Strings(files)
		for _, p := range files {
			if err := add(p); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Reloader swaps the engine's state when files change.
type Reloader struct {
	Options  Options
	Engine   *admit.Engine
	Metrics  *metrics.Metrics
	Log      logr.Logger
	Interval time.Duration
	// OnReload, when set, is called after each successful reload with the
	// new state and the Rego sources it was compiled from.
	OnReload func(st *admit.State, sources []policy.Source)
	last     string
}

// Loaded records a successful (initial) load and logs the config's
// warnings.
func (r *Reloader) Loaded(st *admit.State) {
	r.last, _ = Fingerprint(r.Options)
	for _, w := range st.Config.Warnings {
		r.Log.Info("config warning", "warning", w)
	}
	if r.Metrics != nil {
		r.Metrics.LoadSuccess.Inc()
		r.Metrics.LastLoad.SetToCurrentTime()
		r.Metrics.LastLoadFailed.Set(0)
		r.Metrics.PoliciesLoaded.Set(float64(len(st.Policies.Policies)))
	}
}

// Run polls until ctx ends.
func (r *Reloader) Run(ctx context.Context) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Check(ctx)
		}
	}
}

// Check reloads once if the files changed. It reports whether a new
// state is serving.
func (r *Reloader) Check(ctx context.Context) bool {
	fp, err := Fingerprint(r.Options)
	if err != nil {
		r.failed(fp, fmt.Errorf("reading policy files: %w", err))
		return false
	}
	if fp == r.last {
		return false
	}
	st, src, err := LoadWithSources(ctx, r.Options)
	if err != nil {
		r.failed(fp, err)
		return false
	}
	r.Engine.Swap(st)
	r.Loaded(st)
	r.last = fp
	r.Log.Info("policies reloaded", "policies", len(st.Policies.Policies), "files", len(st.Policies.Files))
	if r.OnReload != nil {
		r.OnReload(st, src)
	}
	return true
}

func (r *Reloader) failed(fp string, err error) {
	// count a broken version once, not at every poll
	if fp != "" && fp == r.last {
		return
	}
	r.last = fp
	r.Log.Error(err, "policy reload failed; the previous policies keep serving")
	if r.Metrics != nil {
		r.Metrics.LoadErrors.Inc()
		r.Metrics.LastLoadFailed.Set(1)
	}
}
