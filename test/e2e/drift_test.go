//go:build e2e

package e2e

// `driftguard drift` (and `kubectl driftguard`) against the suite's real
// kube-apiserver: a Terraform Deployment hand edited with kubectl-edit
// before driftguard watched its namespace is drift, listed from the live
// objects (--live) and from an OpenReports Report, with its field and
// owner, and exit 1; once Terraform re-applies, exit 0 and no row.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/explain"
	"github.com/driftguard/driftguard/internal/findings"
	"github.com/driftguard/driftguard/internal/report"
)

const (
	driftNS    = "drift-a"
	driftField = "spec.template.spec.containers[api].env[LOG_LEVEL].value"
)

// driftRun runs `driftguard drift` with the admin kubeconfig.
func driftRun(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := append(append([]string{"drift"}, args...), "--kubeconfig", s.kubeconfig)
	return runCmd(ctx, kopts{}, full, s.binary, full...)
}

// driftList runs drift -o json and decodes the list; the exit code must be want.
func driftList(t *testing.T, want int, args ...string) *findings.List {
	t.Helper()
	r := driftRun(t, append(args, "-o", "json")...)
	if r.code != want {
		t.Fatalf("exit %d, want %d:\n%s", r.code, want, r)
	}
	var l findings.List
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("drift -o json is not a list: %v\n%s", err, r.stdout)
	}
	return &l
}

// handEditRow is the table row of the hand edit (SINCE aside), or "".
func handEditRow(out string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 7 && f[0] == driftNS && f[1] == "Deployment" && f[2] == "api" && f[4] == driftField {
			return strings.Join(f[:6], " ")
		}
	}
	return ""
}

const wantRow = driftNS + " Deployment api owned_fields " + driftField + " terraform"

// documented is what docs/drift.md shows after the n-th (0-based) "$ <command>"
// line: the lines up to the next "$ " line or the end of the block.
func documented(t *testing.T, command string, n int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.repoRoot, "docs", "drift.md"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(b), "$ "+command+"\n")
	if len(parts) <= n+1 {
		t.Fatalf("docs/drift.md shows `%s` fewer than %d times", command, n+1)
	}
	var out []string
	for _, l := range strings.Split(parts[n+1], "\n") {
		if strings.HasPrefix(l, "$ ") || strings.HasPrefix(l, "```") {
			break
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

// writeReport applies driftguard's Report for the namespace with these
// findings, as the audit writes it.
func writeReport(t *testing.T, fs []findings.Row, since time.Time) {
	t.Helper()
	rep := orv1.Report{
		TypeMeta:   metav1.TypeMeta{APIVersion: orv1.SchemeGroupVersion.String(), Kind: "Report"},
		ObjectMeta: metav1.ObjectMeta{Namespace: driftNS, Name: report.Name, Labels: map[string]string{report.ManagedByLabel: "driftguard"}},
		Source:     report.Source,
		Summary:    orv1.ReportSummary{Fail: len(fs)},
	}
	for _, r := range fs {
		f := audit.Finding{Object: audit.Ref{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, UID: r.UID},
			Policy: r.Policy, Field: r.Field, Owner: r.Owner, Msg: r.Message}
		rep.Results = append(rep.Results, report.ResultOf(f, metav1.Timestamp{Seconds: since.Unix()}))
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, s.kubectlIn(string(b), "apply", "-f", "-"))
}

// cappedReport marks the test's Report as capped: the omitted findings
// count (exit 1) and the summary names --live.
func cappedReport(t *testing.T) {
	t.Helper()
	mustSucceed(t, s.kubectl("annotate", "report", report.Name, "-n", driftNS, report.OmittedAnnotation+"=2", "--overwrite"))
	o := driftRun(t, "-n", driftNS)
	if o.code != 1 || handEditRow(o.stdout) != wantRow ||
		!strings.Contains(o.stdout, "1 drift finding on 1 object in namespace "+driftNS+" (driftguard's reports). 2 more findings left out of the reports by their cap: run with --live to see all.") {
		t.Errorf("capped report:\n%s", o)
	}
	if l := driftList(t, 1, "-n", driftNS); l.Omitted != 2 {
		t.Errorf("omitted %d, want 2", l.Omitted)
	}
}

// waitFor polls cond every 500ms until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(500 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// installReportCRDs applies the OpenReports CRDs of the module driftguard builds with.
func installReportCRDs(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api").Output()
	if err != nil {
		t.Fatalf("locating the reports-api module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd")
	mustSucceed(t, s.kubectl("apply", "-f", dir))
	mustSucceed(t, s.kubectl("wait", "--for=condition=Established", "--timeout=30s",
		"crd/reports.openreports.io", "crd/clusterreports.openreports.io"))
}

func TestDriftCommand(t *testing.T) {
	mustSucceed(t, s.kubectl("create", "namespace", driftNS))
	t.Cleanup(func() { s.kubectl("delete", "namespace", driftNS, "--wait=false") })
	// not watched yet: the hand edit "happened before driftguard ran"
	mustSucceed(t, s.kubectl("label", "namespace", driftNS, "driftguard.io/ignore=true"))
	mustSucceed(t, kIn(asTerraform, terraformDeploymentIn(driftNS, "api", "ghcr.io/acme/api:1.0.0"),
		"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
	mustSucceed(t, k(asAlice, "set", "env", "deployment/api", "-n", driftNS, "LOG_LEVEL=debug", "--field-manager=kubectl-edit"))
	mustSucceed(t, s.kubectl("label", "namespace", driftNS, "driftguard.io/ignore-"))

	// the plugin: the same binary named kubectl-driftguard on PATH, run by the real kubectl
	pluginDir := t.TempDir()
	bin, err := os.ReadFile(s.binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pluginDir, "kubectl-driftguard"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	pluginEnv := []string{"PATH=" + pluginDir + string(os.PathListSeparator) + os.Getenv("PATH")}
	plugin := func(args ...string) result {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		full := append([]string{"driftguard"}, args...)
		return runCmd(ctx, kopts{env: pluginEnv}, full, s.kubectlPath, full...)
	}

	var live []findings.Row
	t.Run("--live lists the hand edit with field and owner, exit 1", func(t *testing.T) {
		r := driftRun(t, "--live", "-n", driftNS)
		if r.code != 1 || handEditRow(r.stdout) != wantRow || !strings.Contains(r.stdout, "NAMESPACE   KIND") {
			t.Fatalf("want exit 1 and the row %q:\n%s", wantRow, r)
		}
		if !strings.Contains(r.stdout, "in namespace "+driftNS+" (live objects, 1 object evaluated).") {
			t.Errorf("summary:\n%s", r.stdout)
		}
		if doc := documented(t, "driftguard drift --live -n "+driftNS, 0); doc != r.stdout {
			t.Errorf("docs/drift.md shows\n%s\nthe binary prints\n%s", doc, r.stdout)
		}
		l := driftList(t, 1, "--live", "-n", driftNS)
		for _, f := range l.Findings {
			if f.Name != "api" || f.Owner != "terraform" || f.Policy != "owned_fields" || f.UID == "" ||
				!strings.Contains(f.Message, "kubectl-edit") || f.Since != nil {
				t.Errorf("finding %+v", f)
			}
		}
		live = l.Findings
		if y := driftRun(t, "--live", "-n", driftNS, "-o", "yaml"); y.code != 1 || !strings.Contains(y.stdout, "field: "+driftField) {
			t.Errorf("yaml:\n%s", y)
		}
		if w := driftRun(t, "--live", "-n", driftNS, "-o", "wide"); w.code != 1 || !strings.Contains(w.stdout, "MESSAGE") ||
			!strings.Contains(w.stdout, "is owned by kubectl-edit (a hand edit)") {
			t.Errorf("wide:\n%s", w)
		}
		if a := driftRun(t, "--live", "-A"); a.code != 1 || handEditRow(a.stdout) != wantRow {
			t.Errorf("-A:\n%s", a)
		}
		// a misspelt namespace does not pass the gate
		if n := driftRun(t, "--live", "-n", driftNS+"-typo"); n.code != 2 || !strings.Contains(n.stderr, `namespace "`+driftNS+`-typo" not found`) {
			t.Errorf("missing namespace:\n%s", n)
		}
	})

	t.Run("kubectl driftguard runs the plugin", func(t *testing.T) {
		h := plugin("--help")
		if h.code != 0 || !strings.Contains(h.stdout, "usage: kubectl driftguard <command>") || !strings.Contains(h.stdout, "  drift ") {
			t.Fatalf("kubectl driftguard --help:\n%s", h)
		}
		r := plugin("drift", "--live", "-n", driftNS, "--kubeconfig", s.kubeconfig)
		if r.code != 1 || handEditRow(r.stdout) != wantRow {
			t.Fatalf("kubectl driftguard drift --live: want exit 1 and %q:\n%s", wantRow, r)
		}
		e := plugin("explain", "deploy/api", "-n", driftNS, "--kubeconfig", s.kubeconfig)
		if e.code != 0 || !strings.Contains(e.stdout, "6. Drift") || !strings.Contains(e.stdout, driftField) {
			t.Fatalf("kubectl driftguard explain:\n%s", e)
		}
	})

	since := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	audited := false // the suite's driftguard writes the Reports itself
	t.Run("from the Reports: the same rows, since when; exit 2 without the CRDs", func(t *testing.T) {
		if len(live) == 0 {
			t.Skip("no live findings")
		}
		if r := s.kubectl("get", "crd", "reports.openreports.io"); r.code != 0 {
			n := driftRun(t, "-n", driftNS)
			if n.code != 2 || !strings.Contains(n.stderr, "no OpenReports CRDs") || !strings.Contains(n.stderr, "--live") {
				t.Fatalf("without the CRDs: want exit 2 and a hint at --live:\n%s", n)
			}
			installReportCRDs(t)
		}
		// driftguard's audit may write the namespace's Report itself (when
		// its report writer runs in this suite): then that one is read;
		// otherwise the test writes it as the audit would
		audited = waitFor(6*time.Second, func() bool { return driftRun(t, "-n", driftNS).code == 1 })
		if !audited {
			writeReport(t, live, since)
		}
		l := driftList(t, 1, "-n", driftNS)
		if l.Source != findings.FromReports || len(l.Findings) != len(live) {
			t.Fatalf("from the report %+v, live %+v", l, live)
		}
		for i, f := range l.Findings {
			if f.Since == nil {
				t.Errorf("%+v has no since", f)
			}
			f.Since = nil
			if f != live[i] {
				t.Errorf("report row %+v, live %+v", f, live[i])
			}
		}
		r := driftRun(t, "-n", driftNS)
		if r.code != 1 || handEditRow(r.stdout) != wantRow || !strings.Contains(r.stdout, "(driftguard's reports).") {
			t.Fatalf("table from the report:\n%s", r)
		}
		// a report whose cap left findings out: they count (exit 1) and --live is named
		if audited {
			t.Log("the audit writes the Report: the capped-report check needs the test's own")
		} else {
			cappedReport(t)
		}
		// explain shows the finding with the report's since
		e := explainRun(t, "deploy/api", "-n", driftNS, "-o", "json")
		var rep explain.Report
		if e.code != 0 || json.Unmarshal([]byte(e.stdout), &rep) != nil {
			t.Fatalf("explain:\n%s", e)
		}
		found := false
		for _, f := range rep.Drift.Findings {
			if f.Field == driftField && f.Owner == "terraform" && f.Since != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("explain's drift findings %+v lack %s with a since time", rep.Drift.Findings, driftField)
		}
	})

	t.Run("after the owner re-applies: exit 0, no row", func(t *testing.T) {
		mustSucceed(t, kIn(asTerraform, terraformDeploymentIn(driftNS, "api", "ghcr.io/acme/api:1.0.0"),
			"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
		if mgrs := get(t, "deployment/api", driftNS, "{.metadata.managedFields[*].manager}"); strings.Contains(mgrs, "kubectl-edit") {
			t.Fatalf("managers after the forced re-apply: %s", mgrs)
		}
		r := driftRun(t, "--live", "-n", driftNS)
		if r.code != 0 || handEditRow(r.stdout) != "" || !strings.Contains(r.stdout, "No drift in namespace "+driftNS) {
			t.Fatalf("want exit 0 and no row:\n%s", r)
		}
		if doc := documented(t, "driftguard drift --live -n "+driftNS, 1); doc != r.stdout {
			t.Errorf("docs/drift.md shows\n%s\nthe binary prints\n%s", doc, r.stdout)
		}
		if l := driftList(t, 0, "--live", "-n", driftNS); len(l.Findings) != 0 {
			t.Errorf("findings %+v", l.Findings)
		}
		if p := plugin("drift", "--live", "-n", driftNS, "--kubeconfig", s.kubeconfig); p.code != 0 {
			t.Errorf("kubectl driftguard drift --live:\n%s", p)
		}
		if len(live) == 0 {
			return
		}
		// the audit removes a report without findings (the test does it for its own)
		if !audited {
			mustSucceed(t, s.kubectl("delete", "report", report.Name, "-n", driftNS, "--ignore-not-found"))
		}
		var fromReports result
		if !waitFor(20*time.Second, func() bool { fromReports = driftRun(t, "-n", driftNS); return fromReports.code == 0 }) ||
			handEditRow(fromReports.stdout) != "" {
			t.Fatalf("from the reports after the re-apply:\n%s", fromReports)
		}
	})
}
