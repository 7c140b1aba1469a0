package loader_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
)

// A parsed config is served as given, checked against the policies like
// a config file, and not taken together with a file.
func TestLoadParsedConfig(t *testing.T) {
	ctx := context.Background()
	cfg, err := config.Parse([]byte("policies:\n  owned_fields: {mode: warn}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := loader.Load(ctx, loader.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if st.Config != cfg || st.Config.ModeFor("owned_fields") != config.ModeWarn {
		t.Errorf("state serves another config: owned_fields mode %s", st.Config.ModeFor("owned_fields"))
	}

	unknown, err := config.Parse([]byte("policies:\n  nosuch: {mode: warn}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loader.Load(ctx, loader.Options{Config: unknown}); err == nil || !strings.Contains(err.Error(), `config names policy "nosuch"`) {
		t.Errorf("config naming an unloaded policy: %v", err)
	}

	file := filepath.Join(t.TempDir(), "config.yaml")
	write(t, file, "defaultMode: warn\n")
	if _, err := loader.Load(ctx, loader.Options{Config: cfg, ConfigFile: file}); err == nil || !strings.Contains(err.Error(), "give one") {
		t.Errorf("config and config file: %v", err)
	}
}
