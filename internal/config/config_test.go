package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	if c.DefaultMode != ModeEnforce || c.FailurePolicy != "deny" || c.EvalTimeout.Duration != 2*time.Second {
		t.Errorf("defaults: mode %q failurePolicy %q evalTimeout %s", c.DefaultMode, c.FailurePolicy, c.EvalTimeout)
	}
	if c.MaxRequestBytes != DefaultMaxRequestBytes || c.RequestTimeout.Duration != DefaultRequestTimeout || c.MaxChanges != DefaultMaxChanges || c.DriftAnnotation != "driftguard.io/drift" || c.OwnerAnnotation != "driftguard.io/owner" {
		t.Errorf("defaults: maxRequestBytes %d drift %q owner %q", c.MaxRequestBytes, c.DriftAnnotation, c.OwnerAnnotation)
	}
	if c.BreakGlass.Annotation != "driftguard.io/break-glass" || len(c.BreakGlass.Groups) != 1 || c.BreakGlass.Groups[0] != "driftguard:break-glass" {
		t.Errorf("breakGlass %+v", c.BreakGlass)
	}

	tf := c.OwnerByName("terraform")
	if tf == nil || tf.Display != "Terraform" || !has(tf.Managers, "Terraform") || !has(tf.Identities.ServiceAccounts, "infra/terraform") {
		t.Errorf("terraform owner %+v", tf)
	}
	es := c.OwnerByName("external-secrets")
	if es == nil || len(es.Kinds) != 1 || es.Kinds[0] != (GroupKind{Group: "external-secrets.io", Kind: "ExternalSecret"}) {
		t.Errorf("external-secrets owner %+v", es)
	}
	if c.OwnerByName("nope") != nil {
		t.Error("OwnerByName")
	}

	kinds := map[GroupKind]OwnerKind{}
	for _, k := range c.OwnerKinds {
		kinds[k.GroupKind] = k
	}
	ns, ok := kinds[GroupKind{Kind: "Namespace"}]
	if !ok || !ns.Reconciles || !strings.Contains(ns.Source, "{ownerName}") {
		t.Errorf("Namespace owner kind %+v", ns)
	}
	dep, ok := kinds[GroupKind{Group: "apps", Kind: "Deployment"}]
	if !ok || !dep.Reconciles || len(dep.PausedWhen) != 1 || dep.PausedWhen[0] != "spec.paused" {
		t.Errorf("Deployment owner kind (inline group/kind) %+v", dep)
	}
	if _, ok := kinds[GroupKind{Group: "external-secrets.io", Kind: "ExternalSecret"}]; !ok {
		t.Error("ExternalSecret owner kind missing")
	}

	for _, ns := range []string{"kube-system", "kube-public", "kube-node-lease"} {
		if !has(c.Exempt.Namespaces, ns) {
			t.Errorf("namespace %s not exempt", ns)
		}
	}
	if !has(c.Exempt.Groups, "system:nodes") {
		t.Error("system:nodes not exempt")
	}

	p := c.Policies["owned_fields"]
	ignored, _ := p.Params["ignoredPaths"].([]any)
	if !hasAny(ignored, "spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]") ||
		!hasAny(ignored, "metadata.annotations[driftguard.io/break-glass]") {
		t.Errorf("owned_fields ignoredPaths %v", ignored)
	}
	for _, name := range []string{"owned_fields", "revert_warning", "externalsecret_owned"} {
		if c.ModeFor(name) != ModeEnforce {
			t.Errorf("ModeFor(%s) = %q", name, c.ModeFor(name))
		}
	}

	// Default returns independent copies.
	c.Owners[0].Name = "mutated"
	if Default().Owners[0].Name == "mutated" {
		t.Error("Default shares state between calls")
	}
	y := DefaultYAML()
	y[0] = 'X'
	if DefaultYAML()[0] == 'X' {
		t.Error("DefaultYAML shares its buffer")
	}
}

func has(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func hasAny(xs []any, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// validOwner is a minimal valid owner, for composing bad configs.
const validOwner = `
  - name: terraform
    managers: [Terraform]
    identities: {serviceAccounts: [infra/terraform]}
    source: the Terraform module
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error, each naming the place
	}{
		{"unknown top-level field", "ownrs: []", []string{`unknown field "ownrs"`}},
		{"unknown nested field", "owners:\n  - name: a\n    managers: [x]\n    identities: {serviceAccount: [a/b]}\n    source: s\n", []string{`unknown field "serviceAccount"`}},
		{"unknown policy field", "policies:\n  owned_fields:\n    mod: warn\n", []string{`unknown field "mod"`}},
		{"not YAML", "owners: [", []string{"invalid YAML"}},
		{"wrong type", "owners: {name: a}", []string{"invalid YAML"}},
		{"bad default mode", "defaultMode: block", []string{`defaultMode: "block" is not one of enforce, warn, dryrun`}},
		{"bad policy mode", "policies:\n  owned_fields:\n    mode: audit\n", []string{`policies.owned_fields.mode: "audit"`}},
		{"bad policy name", "policies:\n  Owned-Fields: {}\n", []string{"policies.Owned-Fields:"}},
		{"bad failurePolicy", "failurePolicy: ignore", []string{`failurePolicy: "ignore"`}},
		{"negative evalTimeout", "evalTimeout: -1s", []string{"evalTimeout: -1s"}},
		{"evalTimeout above webhook timeout", "evalTimeout: 30s", []string{"evalTimeout: 30s"}},
		{"tiny maxRequestBytes", "maxRequestBytes: 10", []string{"maxRequestBytes: 10"}},
		{"duplicate owners", "owners:" + validOwner + validOwner, []string{`owners[1].name: "terraform" is declared twice`}},
		{"owner name not a DNS label", "owners:\n  - name: Terraform_Cloud\n    managers: [x]\n    identities: {users: [u]}\n    source: s\n", []string{`owners[0].name: "Terraform_Cloud"`}},
		{"owner without identities", "owners:\n  - name: eso\n    managers: [external-secrets]\n    source: s\n", []string{"owners[0] (eso): identities is empty"}},
		{"owner with empty identities", "owners:\n  - name: eso\n    managers: [external-secrets]\n    identities: {users: [], groups: [], serviceAccounts: []}\n    source: s\n", []string{"owners[0] (eso): identities is empty"}},
		{"owner without managers or kinds", "owners:\n  - name: eso\n    identities: {users: [u]}\n    source: s\n", []string{"owners[0] (eso): needs at least one of managers or kinds"}},
		{"owner without source", "owners:\n  - name: eso\n    managers: [m]\n    identities: {users: [u]}\n    source: '  '\n", []string{"owners[0] (eso): source is required"}},
		{"manager shared by two owners", "owners:" + validOwner + "  - name: other\n    managers: [Terraform]\n    identities: {users: [u]}\n    source: s\n", []string{`owners[1].managers: "Terraform" is already a manager of owner "terraform"`}},
		{"service account without namespace", "owners:\n  - name: tf\n    managers: [m]\n    identities: {serviceAccounts: [terraform]}\n    source: s\n", []string{`owners[0].identities.serviceAccounts[0]: "terraform" must be namespace/name`}},
		{"service account as a username", "owners:\n  - name: tf\n    managers: [m]\n    identities: {serviceAccounts: [infra/ok, 'system:serviceaccount:infra:terraform']}\n    source: s\n", []string{`owners[0].identities.serviceAccounts[1]: "system:serviceaccount:infra:terraform" must be namespace/name`}},
		{"service account with empty name", "owners:\n  - name: tf\n    managers: [m]\n    identities: {serviceAccounts: [infra/]}\n    source: s\n", []string{`serviceAccounts[0]: "infra/"`}},
		{"service account with extra slash", "owners:\n  - name: tf\n    managers: [m]\n    identities: {serviceAccounts: [infra/terraform/x]}\n    source: s\n", []string{`owners[0].identities.serviceAccounts[0]: "infra/terraform/x" must be namespace/name`}},
		{"service account with the username prefix before the slash", "owners:\n  - name: tf\n    managers: [m]\n    identities: {serviceAccounts: ['system:serviceaccount:infra/terraform']}\n    source: s\n", []string{`owners[0].identities.serviceAccounts[0]: "system:serviceaccount:infra/terraform" must be namespace/name`}},
		{"service account upper case", "owners:\n  - name: tf\n    managers: [m]\n    identities: {serviceAccounts: [Infra/Terraform]}\n    source: s\n", []string{`serviceAccounts[0]: "Infra/Terraform"`}},
		{"owner kind without kind", "owners:\n  - name: eso\n    kinds: [{group: external-secrets.io}]\n    identities: {users: [u]}\n    source: s\n", []string{"owners[0].kinds[0]: kind is required"}},
		{"ownerKinds entry without kind", "ownerKinds:\n  - group: apps\n    reconciles: true\n", []string{"ownerKinds[0]: kind is required"}},
		{
			"every problem reported at once",
			"defaultMode: x\nfailurePolicy: y\nowners:\n  - name: a\n    managers: [m]\n    source: s\n",
			[]string{"defaultMode:", "failurePolicy:", "owners[0] (a): identities is empty"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted %q: %+v", tc.yaml, c)
			}
			if c != nil {
				t.Errorf("Parse returned a config with an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	c, err := Parse([]byte(`
owners:
  - name: gitops
    managers: [argocd-controller]
    kinds: [{group: argoproj.io, kind: Application}]
    identities:
      users: [argo-admin]
      groups: [gitops-writers]
      serviceAccounts: [argocd/argocd-application-controller, kube-system/my.controller-1]
    source: "the Git source of {kind} {namespace}/{name}"
ownerKinds:
  - {group: argoproj.io, kind: Application, reconciles: true, reconciler: Argo CD, source: git, matchLabels: {a: b}}
defaultMode: warn
failurePolicy: allow
evalTimeout: 1500ms
maxRequestBytes: 1048576
driftAnnotation: example.com/drift
ownerAnnotation: example.com/owner
breakGlass: {groups: [sre]}
policies:
  owned_fields: {mode: dryrun, params: {denyDelete: false}}
  revert_warning: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.EvalTimeout.Duration != 1500*time.Millisecond || c.DefaultMode != ModeWarn || c.FailurePolicy != "allow" || c.MaxRequestBytes != 1<<20 {
		t.Errorf("parsed %+v", c)
	}
	if c.DriftAnnotation != "example.com/drift" || c.OwnerAnnotation != "example.com/owner" {
		t.Errorf("annotations %q %q", c.DriftAnnotation, c.OwnerAnnotation)
	}
	if c.BreakGlass.Annotation != "driftguard.io/break-glass" {
		t.Errorf("break-glass annotation default %q", c.BreakGlass.Annotation)
	}
	if o := c.OwnerByName("gitops"); o == nil || o.Display != "gitops" {
		t.Errorf("display defaults to the name: %+v", o)
	}
	if c.OwnerKinds[0].GroupKind != (GroupKind{Group: "argoproj.io", Kind: "Application"}) || c.OwnerKinds[0].MatchLabels["a"] != "b" {
		t.Errorf("ownerKinds %+v", c.OwnerKinds)
	}
	if c.ModeFor("owned_fields") != ModeDryRun || c.ModeFor("revert_warning") != ModeWarn || c.ModeFor("unknown") != ModeWarn {
		t.Errorf("ModeFor: %q %q %q", c.ModeFor("owned_fields"), c.ModeFor("revert_warning"), c.ModeFor("unknown"))
	}
	if v, ok := c.Policies["owned_fields"].Params["denyDelete"].(bool); !ok || v {
		t.Errorf("params %v", c.Policies["owned_fields"].Params)
	}

	// An empty file is the built-in defaults without owners, and valid.
	e, err := Parse(nil)
	if err != nil {
		t.Fatalf("empty config: %v", err)
	}
	if e.DefaultMode != ModeEnforce || e.EvalTimeout.Duration != 2*time.Second || len(e.Owners) != 0 {
		t.Errorf("empty config %+v", e)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{`"2s"`, 2 * time.Second, ""},
		{`"1m30s"`, 90 * time.Second, ""},
		{`"250ms"`, 250 * time.Millisecond, ""},
		{`"0s"`, 0, ""},
		{`2`, 0, `duration must be a string like "2s"`},
		{`"2"`, 0, "missing unit"},
		{`"2 parsecs"`, 0, "unknown unit"},
		{`null`, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var d Duration
			err := json.Unmarshal([]byte(tc.in), &d)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Duration != tc.want {
				t.Errorf("got %s, want %s", d.Duration, tc.want)
			}
		})
	}
	b, err := json.Marshal(Duration{90 * time.Second})
	if err != nil || string(b) != `"1m30s"` {
		t.Errorf("marshal: %s %v", b, err)
	}
	// in YAML
	for _, tc := range []struct {
		yaml    string
		want    time.Duration
		wantErr string
	}{
		{"evalTimeout: 500ms", 500 * time.Millisecond, ""},
		{"evalTimeout: '3s'", 3 * time.Second, ""},
		{"evalTimeout: 0s", 2 * time.Second, ""}, // zero means the default
		{"evalTimeout:", 2 * time.Second, ""},    // empty means the default
		{"evalTimeout: ~", 2 * time.Second, ""},
		{"evalTimeout: 2", 0, "duration must be a string"},
		{"evalTimeout: soon", 0, "invalid duration"},
	} {
		c, err := Parse([]byte(tc.yaml))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if c.EvalTimeout.Duration != tc.want {
			t.Errorf("%q: got %s, want %s", tc.yaml, c.EvalTimeout.Duration, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	c, err := Load("")
	if err != nil || c.OwnerByName("terraform") == nil {
		t.Fatalf("Load(\"\") = %v, %v", c, err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("owners:"+validOwner), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(good)
	if err != nil || len(c.Owners) != 1 {
		t.Fatalf("Load(good) = %+v, %v", c, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("defaultMode: nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "defaultMode") {
		t.Errorf("Load(bad) error %v, want it to name the file and the field", err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) error %v", err)
	}
}

func TestGroupKindString(t *testing.T) {
	if s := (GroupKind{Kind: "Namespace"}).String(); s != "Namespace" {
		t.Errorf("core: %q", s)
	}
	if s := (GroupKind{Group: "apps", Kind: "Deployment"}).String(); s != "Deployment.apps" {
		t.Errorf("apps: %q", s)
	}
}
