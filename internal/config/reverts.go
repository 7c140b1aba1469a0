package config

import "time"

// Reverts configures revert detection: on the audit leader, a field a
// person changed that another manager sets back to its previous value
// within Window is an observed revert (docs/reverts.md).
type Reverts struct {
	// Enabled turns detection on (default true; it needs serve --cluster
	// and runs beside the audit).
	Enabled *bool `json:"enabled"`
	// Window: a set-back later than this is not counted (default 10m).
	Window Duration `json:"window"`
	// MaxTracked bounds the hand edits remembered at once (default 20000;
	// the oldest are forgotten first).
	MaxTracked int `json:"maxTracked"`
	// Reverters are the managers that keep their name in the reverter
	// metric label; any other is "other" (default: the controllers named
	// in KnownManagers and metacontroller, kube-controller-manager).
	Reverters []string `json:"reverters"`
}

// Revert detection defaults.
const (
	DefaultRevertWindow     = 10 * time.Minute
	DefaultRevertMaxTracked = 20000
	maxRevertWindow         = 24 * time.Hour
	maxRevertTracked        = 1000000
)

// On reports whether revert detection is enabled.
func (r Reverts) On() bool { return r.Enabled == nil || *r.Enabled }

func defaultReverters() []string {
	out := []string{"kube-controller-manager", "metacontroller"}
	for _, t := range KnownManagers {
		if t.Tool != "kubectl" {
			out = append(out, t.Managers...)
		}
	}
	return out
}

func (r *Reverts) applyDefaults() {
	if r.Window.Duration == 0 {
		r.Window.Duration = DefaultRevertWindow
	}
	if r.MaxTracked == 0 {
		r.MaxTracked = DefaultRevertMaxTracked
	}
	if r.Reverters == nil {
		r.Reverters = defaultReverters()
	}
}

func (r *Reverts) validate(bad func(format string, a ...any)) {
	if r.Window.Duration < time.Second || r.Window.Duration > maxRevertWindow {
		bad("audit.reverts.window: %s is outside 1s..24h", r.Window)
	}
	if r.MaxTracked < 0 || r.MaxTracked > maxRevertTracked {
		bad("audit.reverts.maxTracked: %d is outside 1..%d", r.MaxTracked, maxRevertTracked)
	}
	if len(r.Reverters) > 100 {
		bad("audit.reverts.reverters: %d names; at most 100 keep their own metric label", len(r.Reverters))
	}
	for i, m := range r.Reverters {
		if m == "" {
			bad("audit.reverts.reverters[%d]: empty manager name", i)
		}
	}
}
