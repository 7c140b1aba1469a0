package suite

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/config"
)

// caseConfig is the config a case loads: a file (path; "" is the
// embedded default) or, for an inline config or configOverrides, the
// config they make (cfg).
type caseConfig struct {
	path string
	cfg  *config.Config
	// key tells the runner's states apart: the path, or the merged
	// config's hash.
	key string
}

// configFor returns the config of a case: its own, its suite's or the
// run's, with the suite's and the case's configOverrides merged over it.
func (r *Runner) configFor(spec *FileSpec, cs *CaseSpec, dir string) (caseConfig, error) {
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
			return caseConfig{}, errors.New("config: empty file path")
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
				return caseConfig{}, fmt.Errorf("config: %w", err)
			}
		}
		return caseConfig{path: path, key: "file:" + path}, nil
	}
	var b []byte
	switch {
	case inline != nil:
		b = inline
	case path != "":
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return caseConfig{}, fmt.Errorf("config: %w", err)
		}
	default:
		b = config.DefaultYAML()
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return caseConfig{}, fmt.Errorf("%s: invalid YAML: %w", what, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	for _, o := range overrides {
		m = merge(m, o)
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return caseConfig{}, err
	}
	if len(overrides) > 0 {
		what += " with configOverrides"
	}
	cfg, err := config.Parse(out)
	if err != nil {
		return caseConfig{}, fmt.Errorf("%s: %w", what, err)
	}
	sum := sha256.Sum256(out)
	return caseConfig{cfg: cfg, key: "merged:" + hex.EncodeToString(sum[:])}, nil
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
