//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/driftguard/driftguard/internal/admit"
)

// Identities the scenarios act as (impersonated by the system:masters admin).
var (
	asAlice      = []string{"--as=alice", "--as-group=devs"}
	asBreakGlass = []string{"--as=alice", "--as-group=devs", "--as-group=driftguard:break-glass"}
	// a second member of the break-glass group
	asBob       = []string{"--as=bob", "--as-group=devs", "--as-group=driftguard:break-glass"}
	asTerraform = []string{"--as=system:serviceaccount:infra:terraform"}
	asESO       = []string{"--as=system:serviceaccount:external-secrets:external-secrets"}
	asKubeflow  = []string{"--as=system:serviceaccount:kubeflow:profile-controller"}
)

// result is one kubectl run.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("kubectl %s\n  exit %d\n  stdout: %s\n  stderr: %s",
		strings.Join(r.args, " "), r.code, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
}

// warnings are the `Warning: ...` lines kubectl printed on stderr.
func (r result) warnings() []string {
	var out []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if w, ok := strings.CutPrefix(l, "Warning: "); ok {
			out = append(out, w)
		}
	}
	return out
}

type kopts struct {
	stdin string
	env   []string
}

func (s *suite) run(o kopts, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runCmd(ctx, o, args, s.kubectlPath, append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
}

// runCmd runs a program and keeps its exit code and output; shown is how
// the run is named in messages.
func runCmd(ctx context.Context, o kopts, shown []string, path string, args ...string) result {
	cmd := exec.CommandContext(ctx, path, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if o.stdin != "" {
		cmd.Stdin = strings.NewReader(o.stdin)
	}
	cmd.Env = append(os.Environ(), o.env...)
	err := cmd.Run()
	r := result{args: shown, stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		r.code = -1
		r.stderr += "\n(exec: " + err.Error() + ")"
	}
	if os.Getenv("DRIFTGUARD_E2E_TRACE") != "" {
		fmt.Fprintf(os.Stderr, "e2e trace: %s\n", r)
	}
	return r
}

func (s *suite) kubectl(args ...string) result { return s.run(kopts{}, args...) }

func (s *suite) kubectlIn(stdin string, args ...string) result {
	return s.run(kopts{stdin: stdin}, args...)
}

// k runs kubectl as an identity: as... then the command.
func k(as []string, args ...string) result {
	return s.kubectl(append(append([]string{}, args...), as...)...)
}

func kIn(as []string, stdin string, args ...string) result {
	return s.kubectlIn(stdin, append(append([]string{}, args...), as...)...)
}

// editor writes an EDITOR script running sed expressions on the file
// kubectl edit opens, and returns the environment that selects it.
func editor(t *testing.T, sedExprs ...string) []string {
	t.Helper()
	var b strings.Builder
	b.WriteString("#!/bin/sh\nset -e\nsed -i")
	for _, e := range sedExprs {
		b.WriteString(" -e '" + e + "'")
	}
	b.WriteString(" \"$1\"\n")
	p := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(p, []byte(b.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"EDITOR=" + p, "KUBE_EDITOR=" + p}
}

// get returns a jsonpath of a stored object, read as the admin.
func get(t *testing.T, resource, ns, jsonpath string) string {
	t.Helper()
	args := []string{"get", resource, "-o", "jsonpath=" + jsonpath}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	r := s.kubectl(args...)
	if r.code != 0 {
		t.Fatalf("reading %s: %s", resource, r)
	}
	return r.stdout
}

// getObj returns a stored object as JSON.
func getObj(t *testing.T, resource, ns string) map[string]any {
	t.Helper()
	r := s.kubectl("get", resource, "-n", ns, "-o", "json")
	if r.code != 0 {
		t.Fatalf("reading %s: %s", resource, r)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("decoding %s: %v", resource, err)
	}
	return m
}

func uid(t *testing.T, resource, ns string) string {
	t.Helper()
	u := get(t, resource, ns, "{.metadata.uid}")
	if u == "" {
		t.Fatalf("%s has no uid", resource)
	}
	return u
}

// mustSucceed fails unless kubectl exited 0.
func mustSucceed(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("expected success:\n%s", r)
	}
}

// expectAllowed asserts exit 0 and no driftguard denial.
func expectAllowed(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 || strings.Contains(r.stderr, "denied the request") {
		t.Fatalf("expected the request to be allowed:\n%s", r)
	}
}

// expectDenied asserts kubectl failed because driftguard's validating
// webhook denied the request, with every want in the message.
func expectDenied(t *testing.T, r result, wants ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("expected a denial, but kubectl succeeded:\n%s", r)
	}
	if !strings.Contains(r.stderr, `admission webhook "validate.driftguard.io" denied the request`) {
		t.Fatalf("expected driftguard's denial:\n%s", r)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("denial does not contain %q:\n%s", w, r)
		}
	}
}

// denial is the text of driftguard's denial (the lines that carry it).
func denial(r result) string {
	var out []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, "denied the request") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// expectWarning asserts exactly n Warning lines and that one of them has every want.
func expectWarning(t *testing.T, r result, n int, wants ...string) string {
	t.Helper()
	if ws := r.warnings(); len(ws) != n {
		t.Fatalf("expected %d Warning line(s), got %d:\n%s", n, len(ws), r)
	}
	return anyWarning(t, r, wants...)
}

// anyWarning asserts a Warning line with every want (other lines may exist).
func anyWarning(t *testing.T, r result, wants ...string) string {
	t.Helper()
	for _, w := range r.warnings() {
		ok := true
		for _, want := range wants {
			if !strings.Contains(w, want) {
				ok = false
			}
		}
		if ok {
			return w
		}
	}
	t.Fatalf("no Warning line contains all of %q:\n%s", wants, r)
	return ""
}

func expectNoWarning(t *testing.T, r result) {
	t.Helper()
	if ws := r.warnings(); len(ws) != 0 {
		t.Fatalf("expected no Warning lines:\n%s", r)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// ---- metrics ----

// metricSum reads driftguard's /metrics and sums the samples of name
// whose labels include all of want (0 when there are none).
func (s *suite) metricSum(name string, want map[string]string) (float64, error) {
	resp, err := http.Get("http://" + s.metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("parsing /metrics: %w", err)
	}
	fam, ok := fams[name]
	if !ok {
		return 0, nil
	}
	var sum float64
	for _, m := range fam.GetMetric() {
		if !labelsMatch(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		case m.Histogram != nil: // the number of observations
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, nil
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, err := s.metricSum(name, labels)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

// counter is a metric series remembered before an action, to assert its delta after.
type counter struct {
	name   string
	labels map[string]string
	before float64
}

func watch(t *testing.T, name string, labels map[string]string) *counter {
	t.Helper()
	return &counter{name: name, labels: labels, before: metric(t, name, labels)}
}

// expectDelta asserts the series grew by exactly d.
func (c *counter) expectDelta(t *testing.T, d float64) {
	t.Helper()
	if got := metric(t, c.name, c.labels) - c.before; got != d {
		t.Errorf("%s%v changed by %v, want %v", c.name, c.labels, got, d)
	}
}

// decisions is driftguard_admission_decisions_total for one policy,
// decision and dry-run flag.
func decisions(t *testing.T, policy, decision, dryRun string) *counter {
	t.Helper()
	return watch(t, "driftguard_admission_decisions_total", map[string]string{"policy": policy, "decision": decision, "dry_run": dryRun})
}

// waitMetricAbove polls until the series exceeds v.
func waitMetricAbove(t *testing.T, name string, labels map[string]string, v float64, timeout time.Duration) float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := metric(t, name, labels)
		if got > v {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v stayed at %v (want > %v) for %s", name, labels, got, v, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// driftRecord reads the driftguard.io/drift annotation of a stored object.
type driftEdit = admit.DriftEdit

func driftRecord(t *testing.T, resource, ns string) (raw string, edits []driftEdit) {
	t.Helper()
	raw = get(t, resource, ns, `{.metadata.annotations.driftguard\.io/drift}`)
	if raw == "" {
		return "", nil
	}
	var rec struct {
		Edits []driftEdit `json:"edits"`
	}
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		t.Fatalf("drift record of %s is not JSON: %v: %s", resource, err, raw)
	}
	return raw, rec.Edits
}

// startInstance starts another driftguard (serve args, its log in the
// suite's temporary directory as driftguard-<name>.log, env added to the
// environment), stops it when the test ends (showing the end of its log
// if the test failed) and waits until it is ready. The returned suite is
// a copy of s with the instance's health and metrics addresses.
func startInstance(t *testing.T, name, healthAddr, metricsAddr string, args []string, env ...string) *suite {
	t.Helper()
	logFile := filepath.Join(s.tmp, "driftguard-"+name+".log")
	lf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.binary, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); lf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("driftguard log:\n%s", tail(string(b), 40))
		}
	})
	t.Logf("driftguard %s (log %s)", strings.Join(args, " "), logFile)
	inst := *s
	inst.healthAddr, inst.metricsAddr, inst.procDone = healthAddr, metricsAddr, done
	if err := inst.waitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return &inst
}
