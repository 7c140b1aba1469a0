// Package alerts checks the shipped Prometheus alert rules
// (deploy/prometheus/driftguard-rules.yaml) with a real promtool: the rules
// must load, their unit tests (driftguard-rules.test.yaml) must pass, and
// the unit tests must be able to fail — a deliberately broken copy of the
// rules has to be caught.
//
// promtool comes from hack/install-prometheus.sh; without it these tests
// fail rather than skip.
package alerts

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const (
	rulesFile = "driftguard-rules.yaml"
	testsFile = "driftguard-rules.test.yaml"
)

// rulesDir is deploy/prometheus, found from this file so the tests do not
// depend on the working directory.
func rulesDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source file")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "prometheus")
	for _, f := range []string{rulesFile, testsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("rules missing: %v", err)
		}
	}
	return dir
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not on PATH: run hack/install-prometheus.sh (installs Debian's prometheus package) and re-run: %v", err)
	}
	return p
}

// run executes promtool with args in dir and returns its combined output
// and exit error.
func run(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func TestRulesLoad(t *testing.T) {
	dir := rulesDir(t)
	out, err := run(t, dir, "check", "rules", rulesFile)
	if err != nil {
		t.Fatalf("promtool check rules %s failed: %v\n%s", rulesFile, err, out)
	}
	t.Logf("promtool check rules:\n%s", out)
}

func TestRulesUnitTests(t *testing.T) {
	dir := rulesDir(t)
	out, err := run(t, dir, "test", "rules", testsFile)
	if err != nil {
		t.Fatalf("promtool test rules %s failed: %v\n%s", testsFile, err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules exited 0 without SUCCESS:\n%s", out)
	}
	t.Logf("promtool test rules:\n%s", out)
}

// TestBrokenRulesAreCaught breaks a temporary copy of the rules in ways a
// careless edit would, and requires the unit tests to fail on each: the
// suite is only worth something if it can fail.
func TestBrokenRulesAreCaught(t *testing.T) {
	dir := rulesDir(t)
	orig, err := os.ReadFile(filepath.Join(dir, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(dir, testsFile))
	if err != nil {
		t.Fatal(err)
	}
	mutations := []struct {
		name, old, new string
	}{
		{"denial threshold raised", "\n          ) > 1\n", "\n          ) > 3\n"},
		{"slow threshold raised", "\n          ) > 0.1\n", "\n          ) > 1\n"},
		{"error ratio threshold raised", "\n          > 0.05\n", "\n          > 0.5\n"},
		{"certificate warning window shortened", "< 7 * 24 * 3600", "< 3 * 24 * 3600"},
		{"certificate reload failure for: lengthened", "driftguard_certificate_reload_failing) == 1\n        for: 10m", "driftguard_certificate_reload_failing) == 1\n        for: 30m"},
		{"drift for: lengthened", "driftguard_drift_objects) > 0\n        for: 15m", "driftguard_drift_objects) > 0\n        for: 30m"},
		{"permission gap severity changed", "driftguard_permission_missing) > 0\n        for: 5m\n        labels:\n          severity: warning",
			"driftguard_permission_missing) > 0\n        for: 5m\n        labels:\n          severity: critical"},
		{"break-glass dry runs counted", `decision="break_glass",dry_run="false"}[10m]`, `decision="break_glass"}[10m]`},
		{"down alert looks at the wrong job", `absent(up{job=~".*driftguard.*"} == 1)`, `absent(up{job="driftguard-webhook"} == 1)`},
		{"annotation text changed", "drifted from their declared owner", "drifted from their owner"},
		{"runbook names another namespace", "First step: `driftguard drift -n {{ $labels.namespace }}` lists the drifted", "First step: `driftguard drift -n {{ $labels.policy }}` lists the drifted"},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			if n := strings.Count(string(orig), m.old); n != 1 {
				t.Fatalf("mutation anchor %q occurs %d times in %s, want 1: update this test with the rules", m.old, n, rulesFile)
			}
			tmp := t.TempDir()
			broken := strings.Replace(string(orig), m.old, m.new, 1)
			if err := os.WriteFile(filepath.Join(tmp, rulesFile), []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tmp, testsFile), tests, 0o644); err != nil {
				t.Fatal(err)
			}
			// The broken copy must still be valid rules: the unit tests,
			// not the parser, have to catch it.
			if out, err := run(t, tmp, "check", "rules", rulesFile); err != nil {
				t.Fatalf("broken copy does not even load (the mutation is wrong): %v\n%s", err, out)
			}
			out, err := run(t, tmp, "test", "rules", testsFile)
			if err == nil {
				t.Fatalf("promtool test rules passed on rules with %s; the unit tests do not cover it:\n%s", m.name, out)
			}
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("promtool did not run: %v\n%s", err, out)
			}
			if !strings.Contains(out, "FAILED") {
				t.Fatalf("promtool failed without reporting a FAILED test:\n%s", out)
			}
		})
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

type testFile struct {
	Tests []struct {
		Name          string `json:"name"`
		AlertRuleTest []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `json:"exp_labels"`
				ExpAnnotations map[string]string `json:"exp_annotations"`
			} `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// TestEveryAlertIsDocumentedAndTested requires each alerting rule to carry
// a severity and runbook-style annotations, and the unit tests to hold, for
// each alert and severity, a case where it fires with exact labels and
// annotations and, for each alert, a case where it stays quiet.
func TestEveryAlertIsDocumentedAndTested(t *testing.T) {
	dir := rulesDir(t)
	var rules ruleFile
	var tests testFile
	for f, v := range map[string]any{rulesFile: &rules, testsFile: &tests} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}

	type key struct{ alert, severity string }
	fires := map[key]bool{}
	quiet := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) == 0 {
				quiet[at.Alertname] = true
			}
			for _, a := range at.ExpAlerts {
				if len(a.ExpAnnotations) == 0 {
					t.Errorf("test %q: expected %s alert has no exp_annotations", tc.Name, at.Alertname)
				}
				fires[key{at.Alertname, a.ExpLabels["severity"]}] = true
			}
		}
	}

	severities := map[string]bool{"info": true, "warning": true, "critical": true}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			sev := r.Labels["severity"]
			if !severities[sev] {
				t.Errorf("%s: severity %q, want info, warning or critical", r.Alert, sev)
			}
			if strings.TrimSpace(r.Annotations["summary"]) == "" {
				t.Errorf("%s (%s): no summary annotation", r.Alert, sev)
			}
			if d := r.Annotations["description"]; !strings.Contains(d, "What to do") {
				t.Errorf("%s (%s): description does not say what to do: %q", r.Alert, sev, d)
			}
			if !fires[key{r.Alert, sev}] {
				t.Errorf("%s (%s): no unit test case where it fires", r.Alert, sev)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: no unit test case where it does not fire", r.Alert)
			}
		}
	}
	if alerts == 0 {
		t.Fatalf("no alerting rules found in %s", rulesFile)
	}
}

// TestEveryAlertNamesTheDriftCommand: every alert's runbook annotation
// starts with the command that lists what drifted: `driftguard drift -n
// <namespace>` when the alert carries the namespace label, `driftguard
// drift -A` for the cluster-wide ones.
func TestEveryAlertNamesTheDriftCommand(t *testing.T) {
	dir := rulesDir(t)
	var rules ruleFile
	b, err := os.ReadFile(filepath.Join(dir, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	byLabels := regexp.MustCompile(`\bby \(([^)]*)\)`)
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			namespaced := false
			if m := byLabels.FindStringSubmatch(r.Expr); m != nil {
				for _, l := range strings.Split(m[1], ",") {
					namespaced = namespaced || strings.TrimSpace(l) == "namespace"
				}
			}
			want := "First step: `driftguard drift -A`"
			if namespaced {
				want = "First step: `driftguard drift -n {{ $labels.namespace }}`"
			}
			if rb := r.Annotations["runbook"]; !strings.HasPrefix(rb, want) {
				t.Errorf("%s (%s): runbook annotation %q does not start with %q", r.Alert, r.Labels["severity"], rb, want)
			}
		}
	}
	if alerts == 0 {
		t.Fatalf("no alerting rules found in %s", rulesFile)
	}
}
