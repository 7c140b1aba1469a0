package findings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/report"
)

var t0 = metav1.Timestamp{Seconds: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC).Unix()}

func finding(ns, kind, name, policy, field, owner string) audit.Finding {
	return audit.Finding{
		Object: audit.Ref{APIVersion: "apps/v1", Kind: kind, Namespace: ns, Name: name, UID: "uid-" + name},
		Policy: policy, Field: field, Owner: owner, Msg: "[" + policy + "] " + field + " of " + kind + " " + ns + "/" + name + " is owned by " + owner,
	}
}

func nsReport(ns, name string, omitted int, fs ...audit.Finding) *orv1.Report {
	r := &orv1.Report{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{report.ManagedByLabel: "driftguard"}}, Source: report.Source}
	if omitted > 0 {
		r.Annotations = map[string]string{report.OmittedAnnotation: "3"}
	}
	for _, f := range fs {
		r.Results = append(r.Results, report.ResultOf(f, t0))
	}
	return r
}

func fakeReader(t *testing.T, objs ...client.Object) client.Reader {
	t.Helper()
	sc, err := Scheme()
	if err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(sc).WithObjects(objs...).Build()
}

func reportObjects() []client.Object {
	a := nsReport("tenant-a", report.Name, 3,
		finding("tenant-a", "Deployment", "web", "owned_fields", "spec.replicas", "terraform"),
		finding("tenant-a", "Deployment", "api", "owned_fields", "spec.template.spec.containers[api].env[LOG_LEVEL].value", "terraform"))
	// another engine's result in driftguard's report, and another report in the namespace
	a.Results = append(a.Results, orv1.ReportResult{Source: "kyverno", Policy: "require-labels", Result: "fail"})
	other := nsReport("tenant-a", "kyverno-polr", 0, finding("tenant-a", "Deployment", "x", "someone_elses", "spec", "x"))
	b := nsReport("tenant-b", report.Name, 0, finding("tenant-b", "StatefulSet", "db", "version_matrix", "spec.template.spec.containers[db].image", "kfp"))
	cr := &orv1.ClusterReport{ObjectMeta: metav1.ObjectMeta{Name: report.Name}, Source: report.Source,
		Results: []orv1.ReportResult{report.ResultOf(audit.Finding{
			Object: audit.Ref{APIVersion: "v1", Kind: "ServiceAccount", Namespace: "kubeflow", Name: "argo"},
			Policy: "permission_baseline", Msg: "kubeflow/argo lacks list workflows.argoproj.io"}, metav1.Timestamp{})}}
	return []client.Object{a, other, b, cr}
}

func TestReportsOneNamespace(t *testing.T) {
	l, err := Reports(context.Background(), fakeReader(t, reportObjects()...), Scope{Namespace: "tenant-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Findings) != 2 || l.Omitted != 3 || l.Source != FromReports || l.Namespace != "tenant-a" {
		t.Fatalf("list %+v", l)
	}
	// sorted by name: api before web
	r := l.Findings[0]
	if r.Name != "api" || r.Kind != "Deployment" || r.Policy != "owned_fields" || r.Owner != "terraform" ||
		r.Field != "spec.template.spec.containers[api].env[LOG_LEVEL].value" || r.Since == nil || r.Since.Unix() != t0.Seconds ||
		!strings.Contains(r.Message, "is owned by terraform") || r.UID != "uid-api" {
		t.Errorf("row %+v", r)
	}
	if l.Findings[1].Name != "web" {
		t.Errorf("second row %+v", l.Findings[1])
	}
	if l.ExitCode() != ExitDrift {
		t.Errorf("exit %d, want %d", l.ExitCode(), ExitDrift)
	}
}

func TestReportsAllNamespacesAndCluster(t *testing.T) {
	l, err := Reports(context.Background(), fakeReader(t, reportObjects()...), Scope{AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range l.Findings {
		got = append(got, r.Namespace+"/"+r.Kind+"/"+r.Name+"/"+r.Policy)
	}
	want := "kubeflow/ServiceAccount/argo/permission_baseline tenant-a/Deployment/api/owned_fields tenant-a/Deployment/web/owned_fields tenant-b/StatefulSet/db/version_matrix"
	if strings.Join(got, " ") != want {
		t.Errorf("rows\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	if l.Findings[0].Since != nil {
		t.Errorf("a result without a timestamp has since %v", l.Findings[0].Since)
	}
	if !l.AllNamespaces || l.Namespace != "" || l.Omitted != 3 {
		t.Errorf("list %+v", l)
	}
}

// A namespace without driftguard's report has no drift: exit 0.
func TestReportsNamespaceWithoutReport(t *testing.T) {
	l, err := Reports(context.Background(), fakeReader(t, reportObjects()...), Scope{Namespace: "tenant-c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Findings) != 0 || l.ExitCode() != ExitNoDrift {
		t.Fatalf("list %+v exit %d", l, l.ExitCode())
	}
	var b bytes.Buffer
	if err := Write(&b, l, "table"); err != nil {
		t.Fatal(err)
	}
	if b.String() != "No drift in namespace tenant-c (driftguard's reports).\n" {
		t.Errorf("table %q", b.String())
	}
}

// No OpenReports CRDs: a NoReportsError that points at --live.
func TestReportsWithoutCRDs(t *testing.T) {
	noMatch := &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "openreports.io", Kind: "Report"}, SearchedVersions: []string{"v1alpha1"}}
	sc, _ := Scheme()
	r := fake.NewClientBuilder().WithScheme(sc).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return noMatch
		},
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error { return noMatch },
	}).Build()
	for _, s := range []Scope{{Namespace: "tenant-a"}, {AllNamespaces: true}} {
		_, err := Reports(context.Background(), r, s)
		if !IsNoReports(err) || !strings.Contains(err.Error(), "--live") {
			t.Errorf("%s: error %v, want a NoReportsError suggesting --live", s, err)
		}
	}
	// another error is not a missing CRD
	boom := errors.New("etcdserver: request timed out")
	r = fake.NewClientBuilder().WithScheme(sc).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return boom
		},
	}).Build()
	if _, err := Reports(context.Background(), r, Scope{Namespace: "tenant-a"}); !errors.Is(err, boom) || IsNoReports(err) {
		t.Errorf("error %v", err)
	}
}

func TestSinceFromReports(t *testing.T) {
	s := Since{Reader: fakeReader(t, reportObjects()...)}
	m, err := s.Of(context.Background(), "tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	k := Key(RowOf(finding("tenant-a", "Deployment", "web", "owned_fields", "spec.replicas", "terraform"), nil))
	if at, ok := m[k]; !ok || at.Unix() != t0.Seconds || len(m) != 2 {
		t.Errorf("since %v", m)
	}
	if m, err := s.Of(context.Background(), "nowhere"); err != nil || len(m) != 0 {
		t.Errorf("missing report: %v %v", m, err)
	}
}

// --- live

func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "test", "fixtures", "managedfields", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

type fakeLister struct {
	items map[string][]map[string]any // by kind
	asked []string
	err   error
}

func (f *fakeLister) List(_ context.Context, gvk schema.GroupVersionKind, ns string, metadataOnly bool) ([]map[string]any, error) {
	f.asked = append(f.asked, gvk.Kind+"@"+ns)
	if f.err != nil {
		return nil, f.err
	}
	var out []map[string]any
	for _, it := range f.items[gvk.Kind] {
		if ns == "" || namespaceOf(it) == ns {
			out = append(out, it)
		}
	}
	return out, nil
}

func state(t *testing.T) *admit.State {
	t.Helper()
	st, err := loader.Load(context.Background(), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestLiveHandEditIsDrift(t *testing.T) {
	st := state(t)
	edited := fixture(t, "deployment-terraform-then-kubectl-edit.json")
	clean := fixture(t, "deployment-terraform.json")
	clean["metadata"].(map[string]any)["name"] = "clean"
	f := &fakeLister{items: map[string][]map[string]any{"Deployment": {edited, clean}}}
	l, err := Live(context.Background(), st, f, Scope{Namespace: "tenant-a"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.asked, ",") != "Deployment@tenant-a,StatefulSet@tenant-a,DaemonSet@tenant-a,ConfigMap@tenant-a" {
		t.Errorf("listed %v", f.asked)
	}
	if len(l.Findings) == 0 || l.Evaluated != 2 || l.Source != FromLive || l.ExitCode() != ExitDrift {
		t.Fatalf("list %+v", l)
	}
	for _, r := range l.Findings {
		if r.Name != "api" || r.Policy != "owned_fields" || r.Owner != "terraform" || r.Field == "" || r.Since != nil {
			t.Errorf("row %+v", r)
		}
	}
	// the clean object alone: no drift, exit 0
	f.items["Deployment"] = []map[string]any{clean}
	if l, err = Live(context.Background(), st, f, Scope{AllNamespaces: true}); err != nil || len(l.Findings) != 0 || l.ExitCode() != ExitNoDrift {
		t.Fatalf("clean: %+v %v", l, err)
	}
	if f.asked[len(f.asked)-1] != "ConfigMap@" {
		t.Errorf("-A listed %v", f.asked)
	}
}

func TestLiveListErrorIsAnError(t *testing.T) {
	f := &fakeLister{err: errors.New("deployments.apps is forbidden")}
	if _, err := Live(context.Background(), state(t), f, Scope{Namespace: "x"}); err == nil || !strings.Contains(err.Error(), "apps/v1 Deployment") {
		t.Fatalf("error %v", err)
	}
}

// A drift rule that fails on an object makes the answer unknown: exit 2.
func TestLiveEvaluationErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	const broken = `# METADATA
# custom:
#   kinds: ["Deployment"]
package driftguard.policies.broken_drift

# two values for one complete rule: a runtime conflict error on every object
level := 1 if input.object
level := 2 if input.object

drift contains {"field": "spec", "owner": "x", "msg": sprintf("level %d", [level])}
`
	if err := os.WriteFile(filepath.Join(dir, "broken.rego"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := loader.Load(context.Background(), loader.Options{PolicyDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeLister{items: map[string][]map[string]any{"Deployment": {fixture(t, "deployment-terraform.json")}}}
	l, err := Live(context.Background(), st, f, Scope{Namespace: "tenant-a"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Errors == 0 || l.ExitCode() != ExitError || !strings.Contains(Summary(l), "could not be evaluated") {
		t.Fatalf("list %+v exit %d summary %q", l, l.ExitCode(), Summary(l))
	}
}

// The config's audit.namespaces limit --live like the audit.
func TestLiveAuditNamespaces(t *testing.T) {
	st := state(t)
	st.Config.Audit.Namespaces = []string{"tenant-b", "tenant-c"}
	f := &fakeLister{items: map[string][]map[string]any{"Deployment": {fixture(t, "deployment-terraform-then-kubectl-edit.json")}}}
	l, err := Live(context.Background(), st, f, Scope{AllNamespaces: true})
	if err != nil || len(l.Findings) != 0 || l.Evaluated != 0 {
		t.Fatalf("tenant-a is not audited: %+v %v", l, err)
	}
}

// --- output

func sample() *List {
	since := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	return &List{Source: FromReports, Namespace: "tenant-a", Omitted: 3, Findings: []Row{
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "tenant-a", Name: "api", Policy: "owned_fields",
			Field: "spec.replicas", Owner: "terraform", Since: &since, Message: "line one\nline\ttwo"},
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "tenant-a", Name: "web", Policy: "version_matrix", Message: "m"},
	}}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sample(), "table"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s", b.String())
	}
	if strings.Join(strings.Fields(lines[0]), " ") != "NAMESPACE KIND NAME POLICY FIELD OWNER SINCE" {
		t.Errorf("header %q", lines[0])
	}
	if strings.Join(strings.Fields(lines[1]), " ") != "tenant-a Deployment api owned_fields spec.replicas terraform 2026-11-30T08:00:00Z" {
		t.Errorf("row %q", lines[1])
	}
	if strings.Join(strings.Fields(lines[2]), " ") != "tenant-a Deployment web version_matrix - - -" {
		t.Errorf("row %q", lines[2])
	}
	want := "2 drift findings on 2 objects in namespace tenant-a (driftguard's reports). 3 more findings left out of the reports by their cap: run with --live to see all."
	if lines[3] != want {
		t.Errorf("summary\n %q\nwant\n %q", lines[3], want)
	}
	if strings.Contains(b.String(), "line one") {
		t.Errorf("the table shows the message:\n%s", b.String())
	}
}

func TestWideShowsMessageOnOneLine(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sample(), "wide"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.HasSuffix(strings.Join(strings.Fields(lines[0]), " "), "SINCE MESSAGE") || !strings.HasSuffix(lines[1], "   line one line two") {
		t.Errorf("wide:\n%s", b.String())
	}
}

func TestJSONAndYAML(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		var b bytes.Buffer
		if err := Write(&b, sample(), format); err != nil {
			t.Fatal(err)
		}
		var back List
		var err error
		if format == "json" {
			err = json.Unmarshal(b.Bytes(), &back)
		} else {
			err = yaml.UnmarshalStrict(b.Bytes(), &back)
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", format, err, b.String())
		}
		if len(back.Findings) != 2 || back.Omitted != 3 || back.Source != FromReports || back.Findings[0].Message != "line one\nline\ttwo" ||
			back.Findings[0].Since == nil || back.Findings[0].Field != "spec.replicas" || back.Findings[1].Owner != "" {
			t.Errorf("%s read back %+v", format, back)
		}
	}
	// no findings: an empty list, not null
	var b bytes.Buffer
	if err := Write(&b, newList(FromLive, Scope{Namespace: "x"}), "json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"findings": []`) {
		t.Errorf("empty json %s", b.String())
	}
	if err := Write(&b, sample(), "xml"); err == nil {
		t.Error("xml accepted")
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		l    List
		want int
	}{
		{List{}, ExitNoDrift},
		{List{Findings: []Row{{}}}, ExitDrift},
		{List{Omitted: 1}, ExitDrift},
		{List{Dropped: 1}, ExitDrift},
		{List{Errors: 1}, ExitError},
		{List{Errors: 1, Findings: []Row{{}}}, ExitError},
	} {
		if got := c.l.ExitCode(); got != c.want {
			t.Errorf("%+v: exit %d, want %d", c.l, got, c.want)
		}
	}
}

type getter map[string]error

func (g getter) Get(_ context.Context, _, kind, _, name string) (map[string]any, error) {
	if err, ok := g[name]; ok {
		return nil, err
	}
	return map[string]any{"kind": kind}, nil
}

// A misspelt -n is an error, not "no drift".
func TestCheckNamespace(t *testing.T) {
	gr := schema.GroupResource{Resource: "namespaces"}
	g := getter{
		"tenant-typo": apierrors.NewNotFound(gr, "tenant-typo"),
		"secret-ns":   apierrors.NewForbidden(gr, "secret-ns", errors.New("no")),
		"flaky":       errors.New("connection reset"),
	}
	ctx := context.Background()
	if err := CheckNamespace(ctx, g, Scope{Namespace: "tenant-a"}); err != nil {
		t.Errorf("existing namespace: %v", err)
	}
	var nn *NoNamespaceError
	if err := CheckNamespace(ctx, g, Scope{Namespace: "tenant-typo"}); !errors.As(err, &nn) || err.Error() != `namespace "tenant-typo" not found` {
		t.Errorf("missing namespace: %v", err)
	}
	if err := CheckNamespace(ctx, g, Scope{Namespace: "secret-ns"}); err != nil {
		t.Errorf("forbidden to read the namespace: %v", err)
	}
	if err := CheckNamespace(ctx, g, Scope{Namespace: "flaky"}); err == nil {
		t.Error("a failed read passed")
	}
	if err := CheckNamespace(ctx, g, Scope{AllNamespaces: true}); err != nil {
		t.Errorf("-A: %v", err)
	}
}

// Observed reverts are shown but are not drift: the reverted object
// matches its reconciler again, so the gate passes.
func TestRevertsAreShownNotDrift(t *testing.T) {
	l := &List{Namespace: "admin", Findings: []Row{{Kind: "Deployment", Namespace: "admin", Name: "ui", Policy: "observed_revert", Field: "spec.replicas", Owner: "metacontroller"}}}
	if c := l.ExitCode(); c != ExitNoDrift {
		t.Fatalf("exit %d for a list of observed reverts only, want %d", c, ExitNoDrift)
	}
	if s := Summary(l); !strings.Contains(s, "No drift in namespace admin") || !strings.Contains(s, "1 observed revert of hand edits in the last hour") {
		t.Fatalf("summary %q", s)
	}
	l.Findings = append(l.Findings, Row{Kind: "Deployment", Namespace: "admin", Name: "api", Policy: "owned_fields", Field: "spec.replicas", Owner: "terraform"})
	if c := l.ExitCode(); c != ExitDrift {
		t.Fatalf("exit %d with a drift finding, want %d", c, ExitDrift)
	}
	if s := Summary(l); !strings.HasPrefix(s, "1 drift finding on 1 object") {
		t.Fatalf("summary %q", s)
	}
}
