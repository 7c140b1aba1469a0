package loader_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/loader"
)

const httpSendPolicy = `# METADATA
# custom:
#   kinds: [Pod]
#   operations: [CREATE]
package driftguard.policies.phone_home

deny contains "blocked upstream" if {
	resp := http.send({"method": "GET", "url": "http://203.0.113.1/allow"})
	resp.status_code != 200
}
`

// A policy that calls http.send, added during hot reload, is refused with
// a message naming the builtin, file and line; the previous set keeps
// serving and the failure is counted.
func TestHotReloadRefusesNetworkBuiltin(t *testing.T) {
	var logged strings.Builder
	log := funcr.New(func(prefix, args string) { logged.WriteString(args + "\n") }, funcr.Options{})
	dir, st, e, m, r := reloadable(t, log)

	write(t, filepath.Join(dir, "phone_home.rego"), httpSendPolicy)
	if r.Check(context.Background()) {
		t.Fatal("a policy calling http.send was loaded")
	}
	if e.State() != st {
		t.Fatal("serving state changed after a refused reload")
	}
	want := filepath.Join(dir, "phone_home.rego") + ":8: http.send is not allowed in driftguard policies"
	if !strings.Contains(logged.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logged.String())
	}
	if testutil.ToFloat64(m.LoadErrors) != 1 {
		t.Errorf("load errors %v, want 1", testutil.ToFloat64(m.LoadErrors))
	}
	d, err := e.Decide(context.Background(), podCreate())
	if err != nil || d.Allowed {
		t.Fatalf("previous policies stopped serving: %+v %v", d, err)
	}
}

// The config's warnings are logged on the first load and on every reload.
func TestConfigWarningsLogged(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	owners := func(mgr string) string {
		return "owners:\n  - name: terraform\n    managers: [" + mgr + "]\n    identities: {serviceAccounts: [infra/terraform]}\n    source: x\n"
	}
	write(t, cfg, owners("hashicorp"))
	opts := loader.Options{ConfigFile: cfg}
	st, err := loader.Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	log := funcr.New(func(prefix, args string) { logged.WriteString(args + "\n") }, funcr.Options{})
	r := &loader.Reloader{Options: opts, Engine: admit.NewEngine(st, nil), Log: log}
	r.Loaded(st)
	if !strings.Contains(logged.String(), `"config warning"`) || !strings.Contains(logged.String(), `write \"HashiCorp\"`) {
		t.Errorf("first load did not log the warning:\n%s", logged.String())
	}
	logged.Reset()
	write(t, cfg, owners("terraform"))
	if !r.Check(context.Background()) {
		t.Fatal("changed config not reloaded")
	}
	if !strings.Contains(logged.String(), `write \"Terraform\"`) {
		t.Errorf("reload did not log the warning:\n%s", logged.String())
	}
}
